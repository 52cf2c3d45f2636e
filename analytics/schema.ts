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

/** Statuses after which a message changes no more (DESIGN.md §6). */
export const FINAL_STATUSES = ['delivered', 'undelivered', 'expired', 'rejected', 'unknown', 'stopped'] as const;
const FINAL_LIST = FINAL_STATUSES.map((s) => `'${s}'`).join(', ');

// Migration 2's views (and their backfill of rows inserted before them).
const MINUTE_SELECT = `SELECT toStartOfMinute(time) AS minute, tenant, smsc, country, mcc, mnc, operator, status, error_code,
    anyLast(error_text) AS error_text, count() AS events, sum(parts) AS parts,
    countIf(latency_ms IS NOT NULL) AS latency_count, sumIf(assumeNotNull(latency_ms), latency_ms IS NOT NULL) AS latency_sum,
    maxIf(assumeNotNull(latency_ms), latency_ms IS NOT NULL) AS latency_max,
    quantilesTDigestStateIf(0.5, 0.9, 0.99)(assumeNotNull(latency_ms), latency_ms IS NOT NULL) AS latency_quantiles
  FROM events GROUP BY minute, tenant, smsc, country, mcc, mnc, operator, status, error_code`;
const MESSAGE_SELECT = `SELECT message_id, tenant, client_ref, destination, country, mcc, mnc, operator, smsc, parts, price, currency, accepted_at,
    status, time AS status_time, error_code, error_text, smpp_stat, latency_ms,
    toUInt64(toUnixTimestamp64Milli(time)) * 2 + (status IN (${FINAL_LIST})) AS version
  FROM events`;

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
  {
    version: 2,
    name: 'operator, SMPP stat, raw reply, latency; per-minute aggregates; latest state per message',
    statements: [
      `ALTER TABLE events
        ADD COLUMN IF NOT EXISTS operator LowCardinality(String) DEFAULT '' COMMENT 'the destination network''s operator (numbering plan, by MCC/MNC)' AFTER mnc,
        ADD COLUMN IF NOT EXISTS smpp_stat LowCardinality(String) DEFAULT '' COMMENT 'receipt stat (DELIVRD, UNDELIV, ...) or the command_status name of a refused submit' AFTER error_text,
        ADD COLUMN IF NOT EXISTS raw_reply String DEFAULT '' COMMENT 'the operator''s receipt text, as received (failures)' AFTER smpp_stat,
        ADD COLUMN IF NOT EXISTS latency_ms Nullable(UInt32) COMMENT 'sent -> the receipt that caused this event (ms); NULL when no receipt caused it' AFTER accepted_at`,
      `ALTER TABLE events ADD INDEX IF NOT EXISTS idx_time time TYPE minmax GRANULARITY 1`,
      `ALTER TABLE events ADD INDEX IF NOT EXISTS idx_destination destination TYPE bloom_filter(0.01) GRANULARITY 4`,
      `ALTER TABLE events ADD INDEX IF NOT EXISTS idx_message message_id TYPE bloom_filter(0.01) GRANULARITY 4`,
      `CREATE TABLE IF NOT EXISTS events_minute (
        minute DateTime('UTC'),
        tenant LowCardinality(String),
        smsc LowCardinality(String),
        country LowCardinality(String),
        mcc LowCardinality(String),
        mnc LowCardinality(String),
        operator LowCardinality(String),
        status LowCardinality(String),
        error_code LowCardinality(String),
        error_text SimpleAggregateFunction(anyLast, String),
        events SimpleAggregateFunction(sum, UInt64) COMMENT 'status changes (= messages reaching this status)',
        parts SimpleAggregateFunction(sum, UInt64),
        latency_count SimpleAggregateFunction(sum, UInt64),
        latency_sum SimpleAggregateFunction(sum, UInt64),
        latency_max SimpleAggregateFunction(max, UInt32),
        latency_quantiles AggregateFunction(quantilesTDigest(0.5, 0.9, 0.99), UInt32)
      )
      ENGINE = AggregatingMergeTree
      PARTITION BY toYYYYMM(minute)
      ORDER BY (tenant, minute, smsc, country, mcc, mnc, operator, status, error_code)
      TTL minute + INTERVAL 800 DAY
      SETTINGS non_replicated_deduplication_window = 10000`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS events_minute_mv TO events_minute AS ${MINUTE_SELECT}`,
      // The backfill runs only into an empty table: a migration interrupted after it (before its
      // version row) runs again at the next start and must not count the old events twice.
      `INSERT INTO events_minute ${MINUTE_SELECT.replace('FROM events GROUP BY', 'FROM events WHERE (SELECT count() FROM events_minute) = 0 GROUP BY')}`,
      `CREATE TABLE IF NOT EXISTS messages (
        message_id String,
        tenant LowCardinality(String),
        client_ref String,
        destination String,
        country LowCardinality(String),
        mcc LowCardinality(String),
        mnc LowCardinality(String),
        operator LowCardinality(String),
        smsc LowCardinality(String),
        parts UInt8,
        price Float64,
        currency LowCardinality(String),
        accepted_at DateTime64(3, 'UTC'),
        status LowCardinality(String) COMMENT 'the latest status',
        status_time DateTime64(3, 'UTC'),
        error_code String,
        error_text String,
        smpp_stat LowCardinality(String),
        latency_ms Nullable(UInt32),
        version UInt64 COMMENT 'ms of the status change x 2, + 1 for a final status: the latest (final) row wins'
      )
      ENGINE = ReplacingMergeTree(version)
      PARTITION BY toYYYYMM(accepted_at)
      ORDER BY (tenant, message_id)
      TTL toDateTime(accepted_at) + INTERVAL 400 DAY
      SETTINGS non_replicated_deduplication_window = 10000`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS messages_mv TO messages AS ${MESSAGE_SELECT}`,
      `INSERT INTO messages ${MESSAGE_SELECT}`,
    ],
  },
];

/** The table of applied versions (cluster-schema.ts has the cluster's). */
export const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS switchyard_migrations (version UInt32, name String, applied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY version`;

/** Applies the migrations not applied yet; returns the versions it applied. */
export async function migrate(ch: ClickHouseClient, migrations: ReadonlyArray<Migration> = MIGRATIONS, versionsTable = MIGRATIONS_TABLE): Promise<number[]> {
  await ch.command({ query: versionsTable });
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
