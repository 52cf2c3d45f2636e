/**
 * Versioned migrations, applied in order at start; each version once
 * (table `switchyard_migrations`). Never edit a released migration: add one.
 * Tables and columns are documented for analysts in analytics/README.md.
 */
import type { ClickHouseClient } from '@clickhouse/client';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly statements: ReadonlyArray<string>;
}

export const MIGRATIONS: ReadonlyArray<Migration> = [
  {
    version: 1,
    name: 'status events',
    statements: [
      `CREATE TABLE IF NOT EXISTS events (
        time DateTime64(3, 'UTC') COMMENT 'when the status changed',
        eid String COMMENT 'id of the entry in the Redis events stream: unique per event',
        message_id String,
        tenant LowCardinality(String),
        client_ref String COMMENT 'the ref the client gave with its submit',
        status LowCardinality(String) COMMENT 'sent, unreachable, delivered, undelivered, expired, rejected, unknown',
        error_code String COMMENT 'SMPP command_status (0x...) or the receipt err: field',
        error_text String COMMENT 'the operator''s text (receipt stat, or why Switchyard ended it)',
        smsc LowCardinality(String),
        destination String COMMENT 'E.164 digits without +',
        country LowCardinality(String),
        mcc LowCardinality(String),
        mnc LowCardinality(String),
        price Float64 COMMENT 'price per part in currency, as routed',
        currency LowCardinality(String),
        parts UInt8,
        accepted_at DateTime64(3, 'UTC')
      )
      ENGINE = ReplacingMergeTree
      PARTITION BY toDate(time)
      ORDER BY (tenant, smsc, toStartOfHour(time), eid)
      TTL toDateTime(time) + INTERVAL 400 DAY
      SETTINGS non_replicated_deduplication_window = 10000`,
    ],
  },
];

/** Applies the migrations not applied yet; returns the versions it applied. */
export async function migrate(ch: ClickHouseClient, migrations: ReadonlyArray<Migration> = MIGRATIONS): Promise<number[]> {
  await ch.command({ query: `CREATE TABLE IF NOT EXISTS switchyard_migrations (version UInt32, name String, applied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY version` });
  const rs = await ch.query({ query: 'SELECT version FROM switchyard_migrations', format: 'JSONEachRow' });
  const done = new Set(((await rs.json()) as Array<{ version: number }>).map((r) => Number(r.version)));
  const applied: number[] = [];
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (done.has(m.version)) continue;
    for (const q of m.statements) await ch.command({ query: q });
    await ch.insert({ table: 'switchyard_migrations', values: [{ version: m.version, name: m.name }], format: 'JSONEachRow' });
    applied.push(m.version);
  }
  return applied;
}
