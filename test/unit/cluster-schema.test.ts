// The cluster variant of the analytics schema (analytics/cluster-schema.ts): no ClickHouse cluster runs
// here, so every statement is parsed by chdb (EXPLAIN AST: the parser only, nothing is created) and its
// shape is checked: ON CLUSTER everywhere, replicated local tables, Distributed tables by message id.
import { query } from 'chdb';
import { describe, expect, it } from 'vitest';
import { clusterMigrations, clusterMigrationsTable } from '../../analytics/cluster-schema.js';
import { MIGRATIONS } from '../../analytics/schema.js';

function parses(sql: string): string {
  return query(`EXPLAIN AST ${sql}`, 'TabSeparated');
}

describe('cluster schema', () => {
  const ms = clusterMigrations('{cluster}');
  const all = [clusterMigrationsTable('{cluster}'), ...ms.flatMap((m) => m.statements)];

  it('every statement parses and runs ON CLUSTER', () => {
    expect(ms.map((m) => m.version)).toEqual(MIGRATIONS.map((m) => m.version));
    for (const s of all) {
      expect(s).toContain("ON CLUSTER '{cluster}'");
      expect(parses(s)).toMatch(/^(CreateQuery|AlterQuery)/);
    }
  });

  it('local tables are replicated, the tables the engine uses are Distributed by message id', () => {
    const creates = all.filter((s) => s.startsWith('CREATE TABLE'));
    const local = creates.filter((s) => /^CREATE TABLE IF NOT EXISTS \w+_local /.test(s));
    expect(local.map((s) => /EXISTS (\w+)/.exec(s)?.[1])).toEqual(['events_local', 'events_minute_local', 'messages_local']);
    for (const s of local) expect(s).toMatch(/ENGINE = Replicated(Replacing|Aggregating)?MergeTree\('\/clickhouse\/tables\/\{shard\}\/\{database\}\/\w+_local', '\{replica\}'/);
    expect(all.find((s) => s.startsWith('CREATE TABLE IF NOT EXISTS events ON'))).toContain("Distributed('{cluster}', currentDatabase(), events_local, sipHash64(message_id))");
    expect(all.find((s) => s.startsWith('CREATE TABLE IF NOT EXISTS messages ON'))).toContain('messages_local, sipHash64(message_id))');
    // ReplacingMergeTree(version) keeps its version column after the replication arguments.
    expect(all.find((s) => s.includes('messages_local ON'))).toContain("'{replica}', version)");
    expect(all.some((s) => s.includes('non_replicated_deduplication_window'))).toBe(false);
  });

  it('views read and write the shard-local tables; backfills are left out', () => {
    const views = all.filter((s) => s.startsWith('CREATE MATERIALIZED VIEW'));
    expect(views).toHaveLength(2);
    for (const v of views) {
      expect(v).toMatch(/ TO \w+_local AS /);
      expect(v).toMatch(/FROM events_local/);
      expect(v).not.toMatch(/FROM events\b(?!_)/);
    }
    expect(all.some((s) => s.startsWith('INSERT'))).toBe(false);
    // New columns reach the Distributed table too; indexes only the local one.
    expect(all.filter((s) => s.startsWith('ALTER TABLE events ON') && s.includes('ADD COLUMN'))).toHaveLength(1);
    expect(all.filter((s) => s.startsWith('ALTER TABLE events ON') && s.includes('ADD INDEX'))).toHaveLength(0);
  });

  it('a statement of a shape it does not know is refused, as is a bad cluster name', () => {
    expect(() => clusterMigrations('c', [{ version: 9, name: 'x', statements: ['DROP TABLE events'] }])).toThrow(/unknown shape/);
    expect(() => clusterMigrations('c', [{ version: 9, name: 'x', statements: ['CREATE TABLE IF NOT EXISTS other (a String) ENGINE = MergeTree ORDER BY a'] }])).toThrow(/no sharding key/);
    expect(() => clusterMigrations("c' OR 1")).toThrow(/analytics.cluster/);
  });
});
