/**
 * The cluster variant of the schema (issue 14; `analytics.cluster`): the same
 * migrations (schema.ts), rewritten for a ClickHouse cluster.
 *
 *   events           Distributed over events_local, sharded by sipHash64(message_id): every event of a
 *   events_local     message on one shard (ReplicatedReplacingMergeTree), so `messages` (latest state per
 *                    message, ReplacingMergeTree) and the per-minute aggregates are built shard-locally
 *   events_minute    Distributed over events_minute_local (filled by events_minute_mv on each shard;
 *                    queries re-aggregate across shards, as they do across parts)
 *   messages         Distributed over messages_local (filled by messages_mv on each shard)
 *
 * Every statement runs ON CLUSTER (once, from one node: migrations take a
 * Redis lock, engine/analytics/migration-lock.ts). Local tables are
 * Replicated*MergeTree with the usual macros ({shard}, {replica}); the sink
 * inserts into and queries read from the Distributed tables, under the names
 * of the single-server schema, so neither changes.
 *
 * Backfills (INSERT … SELECT of migration 2) are left out: the cluster
 * variant is for a new deployment (its tables are empty when the views are
 * created). Moving an existing single-server database onto a cluster is a
 * ClickHouse data move (INSERT INTO the Distributed tables FROM remote()).
 *
 * No ClickHouse cluster runs here: the statements are checked by parsing them
 * with chdb (test/unit/cluster-schema.test.ts), not by running them. A
 * statement of a shape this rewrite does not know is an error, so a new
 * migration cannot slip through un-clustered.
 */
import { MIGRATIONS, type Migration } from './schema.js';

/** Tables written through a Distributed table, with their sharding key. */
const SHARD_KEY: Readonly<Record<string, string>> = {
  events: 'sipHash64(message_id)',
  messages: 'sipHash64(message_id)',
  // Filled shard-locally by its view; the Distributed table is read, never inserted into.
  events_minute: 'rand()',
};

export function checkClusterName(cluster: string): string {
  if (!/^[A-Za-z0-9_.{}-]{1,100}$/.test(cluster)) throw new Error(`analytics.cluster "${cluster}": a ClickHouse cluster name (letters, digits, _ . - and {macros})`);
  return cluster;
}

/** FROM/JOIN of one of our tables → its local table (views read the shard's own rows). */
function localReads(sql: string): string {
  return sql.replace(/\b(FROM|JOIN)\s+(\w+)\b/g, (m: string, kw: string, t: string) => (t in SHARD_KEY ? `${kw} ${t}_local` : m));
}

function rewrite(stmt: string, on: string, cluster: string): string[] {
  const create = /^CREATE TABLE IF NOT EXISTS (\w+) \(([\s\S]*)\)\s*ENGINE = (\w+)(?:\(([^)]*)\))?([\s\S]*)$/.exec(stmt);
  if (create !== null) {
    const [, name = '', columns = '', engine = '', args, rest = ''] = create;
    const key = SHARD_KEY[name];
    if (key === undefined) throw new Error(`cluster schema: table ${name} has no sharding key (analytics/cluster-schema.ts SHARD_KEY)`);
    const zk = `'/clickhouse/tables/{shard}/{database}/${name}_local', '{replica}'${args === undefined || args === '' ? '' : `, ${args}`}`;
    const settings = rest.replace('non_replicated_deduplication_window', 'replicated_deduplication_window');
    return [
      `CREATE TABLE IF NOT EXISTS ${name}_local ${on} (${columns})\n      ENGINE = Replicated${engine}(${zk})${settings}`,
      `CREATE TABLE IF NOT EXISTS ${name} ${on} AS ${name}_local ENGINE = Distributed('${cluster}', currentDatabase(), ${name}_local, ${key})`,
    ];
  }
  const alter = /^ALTER TABLE (\w+)\s+([\s\S]*)$/.exec(stmt);
  if (alter !== null) {
    const [, name = '', body = ''] = alter;
    if (!(name in SHARD_KEY)) throw new Error(`cluster schema: ALTER of unknown table ${name}`);
    const out = [`ALTER TABLE ${name}_local ${on} ${body}`];
    // Columns also go on the Distributed table (its structure must match); indexes stay local.
    if (/^\s*ADD COLUMN/.test(body)) out.push(`ALTER TABLE ${name} ${on} ${body}`);
    else if (!/^\s*ADD INDEX/.test(body)) throw new Error(`cluster schema: ALTER TABLE ${name} ${body.slice(0, 30)}…: unknown shape`);
    return out;
  }
  const view = /^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+) TO (\w+) AS ([\s\S]*)$/.exec(stmt);
  if (view !== null) {
    const [, name = '', to = '', select = ''] = view;
    if (!(to in SHARD_KEY)) throw new Error(`cluster schema: view ${name} into unknown table ${to}`);
    return [`CREATE MATERIALIZED VIEW IF NOT EXISTS ${name} ${on} TO ${to}_local AS ${localReads(select)}`];
  }
  // A backfill: nothing to fill on a new cluster (see the header).
  if (/^INSERT INTO \w+ /.test(stmt)) return [];
  throw new Error(`cluster schema: statement of unknown shape: ${stmt.slice(0, 60)}…`);
}

/** The migrations rewritten for `cluster` (its name as in ClickHouse's remote_servers, or a {macro}). */
export function clusterMigrations(cluster: string, migrations: ReadonlyArray<Migration> = MIGRATIONS): Migration[] {
  const on = `ON CLUSTER '${checkClusterName(cluster)}'`;
  return migrations.map((m) => ({ ...m, statements: m.statements.flatMap((s) => rewrite(s.trim(), on, cluster)) }));
}

/** The table of applied versions on a cluster: replicated to every node, one copy per cluster (no shard). */
export function clusterMigrationsTable(cluster: string): string {
  return `CREATE TABLE IF NOT EXISTS switchyard_migrations ON CLUSTER '${checkClusterName(cluster)}' (version UInt32, name String, applied_at DateTime DEFAULT now())
    ENGINE = ReplicatedMergeTree('/clickhouse/tables/{database}/switchyard_migrations', '{replica}') ORDER BY version`;
}
