/**
 * The questions analysts and customers ask, as ClickHouse queries: delivery
 * rate and latency by any slice, failure reasons, status breakdown, one
 * message's history, one number's history. Every query is scoped: a tenant
 * sees only its own rows (the scope is a bound parameter, never text), the
 * admin sees all. Values are always bound parameters (`{name:Type}`);
 * dimensions and buckets come from fixed lists, so no caller text ever
 * becomes SQL.
 *
 * Slices and time buckets read `events_minute` (per-minute aggregates kept by
 * a materialized view), so they cost the same over 10 million events as over
 * a thousand; histories read `events` through its bloom-filter indexes.
 * Time ranges are [from, to) in ms since the epoch; the aggregate queries
 * work at whole minutes.
 *
 * Each function takes `settings`: a SETTINGS clause (query-budget.ts
 * `budgetClause`) appended to every query it runs, so that a query a caller
 * asked for stops at the caller's budget.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { chTime } from './event-sink.js';
import { FINAL_STATUSES } from './schema.js';

/** Who asks: a tenant (only its own traffic) or the admin (everything). */
export type Scope = { readonly tenant: string } | { readonly admin: true };

export const DIMENSIONS = ['tenant', 'smsc', 'country', 'operator', 'mcc', 'mnc'] as const;
export type Dimension = (typeof DIMENSIONS)[number];
export const BUCKETS = ['minute', 'hour', 'day'] as const;
export type Bucket = (typeof BUCKETS)[number];

/** Outcomes a delivery rate counts: every final status but `stopped` (Switchyard chose not to send). */
export const OUTCOMES = FINAL_STATUSES.filter((s) => s !== 'stopped');
/** Failed outcomes (failure reasons). */
export const FAILURES = ['undelivered', 'expired', 'rejected', 'unknown'] as const;

export interface Filters {
  readonly tenant?: string | undefined;
  readonly smsc?: string | undefined;
  readonly country?: string | undefined;
  readonly operator?: string | undefined;
  readonly mcc?: string | undefined;
  readonly mnc?: string | undefined;
  readonly status?: string | undefined;
}

export interface SliceQuery {
  readonly fromMs: number;
  readonly toMs: number;
  readonly by: ReadonlyArray<Dimension>;
  readonly bucket?: Bucket | undefined;
  readonly filters: Filters;
  readonly limit: number;
}

export interface LatencyFigures {
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
  readonly avg: number | null;
  readonly max: number | null;
  /** Receipts the figures come from. */
  readonly count: number;
}

export interface DeliveryRow {
  readonly bucket?: string;
  readonly [dimension: string]: unknown;
  /** Messages handed to an SMSC (`sent`). */
  readonly submitted: number;
  /** Messages that reached an outcome (delivered, undelivered, expired, rejected, unknown). */
  readonly outcomes: number;
  readonly delivered: number;
  readonly undelivered: number;
  readonly expired: number;
  readonly rejected: number;
  readonly unknown: number;
  /** delivered / outcomes; null without outcomes. */
  readonly deliveryRate: number | null;
  /** sent → delivery receipt, over delivered messages (ms). */
  readonly latencyMs: LatencyFigures;
}

/** Bad input to a query: the caller answers 400 with this text. */
export class AnalyticsQueryError extends Error {
  constructor(
    readonly code: 'BAD_REQUEST' | 'NOT_FOUND' | 'THROTTLED' | 'QUERY_TOO_COSTLY',
    message: string,
  ) {
    super(message);
    this.name = 'AnalyticsQueryError';
  }
}

type Params = Record<string, unknown>;

/** WHERE terms for the scope and filters over a table with these columns. */
function whereOf(scope: Scope, f: Filters, params: Params, columns: ReadonlySet<string>): string[] {
  const terms: string[] = [];
  const tenant = 'tenant' in scope ? scope.tenant : f.tenant;
  if (tenant !== undefined) {
    terms.push('tenant = {tenant:String}');
    params.tenant = tenant;
  }
  for (const k of ['smsc', 'country', 'operator', 'mcc', 'mnc', 'status'] as const) {
    const v = f[k];
    if (v === undefined || !columns.has(k)) continue;
    terms.push(`${k} = {f_${k}:String}`);
    params[`f_${k}`] = v;
  }
  return terms;
}

const MINUTE_COLUMNS = new Set(['tenant', 'smsc', 'country', 'operator', 'mcc', 'mnc', 'status']);
const BUCKET_EXPR: Record<Bucket, string> = { minute: 'minute', hour: 'toStartOfHour(minute)', day: 'toStartOfDay(minute)' };

function latencyOf(q: number[] | undefined, count: number, sum: number, max: number): LatencyFigures {
  const ok = count > 0 && Array.isArray(q);
  const v = (x: number | undefined) => (ok && x !== undefined && Number.isFinite(x) ? Math.round(x) : null);
  return { p50: v(q?.[0]), p90: v(q?.[1]), p99: v(q?.[2]), avg: count > 0 ? Math.round(sum / count) : null, max: count > 0 ? max : null, count };
}

async function rows<T>(ch: ClickHouseClient, query: string, query_params: Params): Promise<T[]> {
  const rs = await ch.query({ query, query_params, format: 'JSONEachRow' });
  return (await rs.json()) as T[];
}

function rangeParams(q: { fromMs: number; toMs: number }, params: Params): void {
  params.from = chTime(q.fromMs);
  params.to = chTime(q.toMs);
}

/** Delivery rate and latency by the dimensions and time bucket asked for. */
export async function deliveryStats(ch: ClickHouseClient, scope: Scope, q: SliceQuery, settings = ''): Promise<DeliveryRow[]> {
  const params: Params = { limit: q.limit };
  rangeParams(q, params);
  const where = ['minute >= toStartOfMinute({from:DateTime64(3)})', 'minute < {to:DateTime64(3)}', ...whereOf(scope, { ...q.filters, status: undefined }, params, MINUTE_COLUMNS)];
  const keys = [...(q.bucket ? [`${BUCKET_EXPR[q.bucket]} AS bucket`] : []), ...q.by];
  const group = [...(q.bucket ? ['bucket'] : []), ...q.by];
  const outcomes = OUTCOMES.map((s) => `'${s}'`).join(', ');
  const sql = `SELECT ${keys.length > 0 ? keys.join(', ') + ',' : ''}
      sumIf(events, status = 'sent') AS submitted,
      sumIf(events, status IN (${outcomes})) AS outcomes,
      ${OUTCOMES.map((s) => `sumIf(events, status = '${s}') AS ${s}`).join(',\n      ')},
      sumIf(latency_count, status = 'delivered') AS lat_count,
      sumIf(latency_sum, status = 'delivered') AS lat_sum,
      maxIf(latency_max, status = 'delivered') AS lat_max,
      quantilesTDigestMergeIf(0.5, 0.9, 0.99)(latency_quantiles, status = 'delivered') AS lat_q
    FROM events_minute
    WHERE ${where.join(' AND ')}
    ${group.length > 0 ? `GROUP BY ${group.join(', ')} ORDER BY ${q.bucket ? 'bucket, ' : ''}outcomes DESC, submitted DESC` : ''}
    LIMIT {limit:UInt32}${settings}`;
  type Raw = Record<string, unknown> & { submitted: number | string; outcomes: number | string; lat_count: number | string; lat_sum: number | string; lat_max: number; lat_q: number[] };
  const out = await rows<Raw>(ch, sql, params);
  return out
    .filter((r) => group.length > 0 || Number(r.submitted) + Number(r.outcomes) > 0)
    .map((r) => {
      const dims: Record<string, unknown> = {};
      if (q.bucket) dims.bucket = r.bucket;
      for (const d of q.by) dims[d] = r[d];
      const n = (k: string) => Number(r[k] ?? 0);
      const outcomesN = n('outcomes');
      return {
        ...dims,
        submitted: n('submitted'),
        outcomes: outcomesN,
        delivered: n('delivered'),
        undelivered: n('undelivered'),
        expired: n('expired'),
        rejected: n('rejected'),
        unknown: n('unknown'),
        deliveryRate: outcomesN > 0 ? n('delivered') / outcomesN : null,
        latencyMs: latencyOf(r.lat_q, n('lat_count'), n('lat_sum'), n('lat_max')),
      } as DeliveryRow;
    });
}

export interface FailureRow {
  readonly [dimension: string]: unknown;
  readonly status: string;
  readonly errorCode: string;
  readonly errorText: string;
  readonly count: number;
  /** Share of all failures in the range and scope. */
  readonly share: number;
}

/** Failure reasons ranked: status, the operator's error code and text, how often. */
export async function failureReasons(ch: ClickHouseClient, scope: Scope, q: SliceQuery, settings = ''): Promise<FailureRow[]> {
  const params: Params = { limit: q.limit, failures: [...FAILURES] };
  rangeParams(q, params);
  const where = ['minute >= toStartOfMinute({from:DateTime64(3)})', 'minute < {to:DateTime64(3)}', 'status IN {failures:Array(String)}', ...whereOf(scope, q.filters, params, MINUTE_COLUMNS)];
  const dims = q.by.filter((d) => d !== ('status' as string));
  const sql = `SELECT ${dims.map((d) => d + ', ').join('')}status, error_code, anyLast(error_text) AS error_text, sum(events) AS n, sum(sum(events)) OVER () AS total
    FROM events_minute WHERE ${where.join(' AND ')}
    GROUP BY ${[...dims, 'status', 'error_code'].join(', ')}
    ORDER BY n DESC, status, error_code LIMIT {limit:UInt32}${settings}`;
  const out = await rows<Record<string, unknown>>(ch, sql, params);
  return out.map((r) => {
    const row: Record<string, unknown> = {};
    for (const d of dims) row[d] = r[d];
    return { ...row, status: String(r.status), errorCode: String(r.error_code), errorText: String(r.error_text), count: Number(r.n), share: Number(r.n) / Math.max(1, Number(r.total)) } as FailureRow;
  });
}

export interface StatusRow {
  readonly [dimension: string]: unknown;
  readonly status: string;
  readonly count: number;
  readonly share: number;
}

/** How many messages reached each status (any status string), by the dimensions asked for. */
export async function statusBreakdown(ch: ClickHouseClient, scope: Scope, q: SliceQuery, settings = ''): Promise<StatusRow[]> {
  const params: Params = { limit: q.limit };
  rangeParams(q, params);
  const where = ['minute >= toStartOfMinute({from:DateTime64(3)})', 'minute < {to:DateTime64(3)}', ...whereOf(scope, q.filters, params, MINUTE_COLUMNS)];
  const sql = `SELECT ${q.by.map((d) => d + ', ').join('')}status, sum(events) AS n, sum(sum(events)) OVER (${q.by.length > 0 ? `PARTITION BY ${q.by.join(', ')}` : ''}) AS total
    FROM events_minute WHERE ${where.join(' AND ')}
    GROUP BY ${[...q.by, 'status'].join(', ')}
    ORDER BY ${q.by.map((d) => d + ', ').join('')}n DESC LIMIT {limit:UInt32}${settings}`;
  const out = await rows<Record<string, unknown>>(ch, sql, params);
  return out.map((r) => {
    const row: Record<string, unknown> = {};
    for (const d of q.by) row[d] = r[d];
    return { ...row, status: String(r.status), count: Number(r.n), share: Number(r.n) / Math.max(1, Number(r.total)) } as StatusRow;
  });
}

export interface HistoryEvent {
  readonly at: number;
  readonly eid: string;
  readonly messageId: string;
  readonly tenant: string;
  readonly ref: string;
  readonly status: string;
  readonly smsc: string;
  readonly to: string;
  readonly country: string;
  readonly mcc: string;
  readonly mnc: string;
  readonly operator: string;
  readonly parts: number;
  readonly price: number;
  readonly currency: string;
  readonly errorCode: string;
  readonly errorText: string;
  readonly smppStat: string;
  /** The operator's receipt text, as received (failures). */
  readonly rawReply: string;
  readonly latencyMs: number | null;
  readonly acceptedAt: number;
}

const HISTORY_COLUMNS = `toUnixTimestamp64Milli(time) AS at, eid, message_id, tenant, client_ref, status, smsc, destination, country, mcc, mnc, operator, parts, price, currency,
  error_code, error_text, smpp_stat, raw_reply, latency_ms, toUnixTimestamp64Milli(accepted_at) AS accepted`;

function historyEvent(r: Record<string, unknown>): HistoryEvent {
  return {
    at: Number(r.at), eid: String(r.eid), messageId: String(r.message_id), tenant: String(r.tenant), ref: String(r.client_ref), status: String(r.status),
    smsc: String(r.smsc), to: '+' + String(r.destination), country: String(r.country), mcc: String(r.mcc), mnc: String(r.mnc), operator: String(r.operator),
    parts: Number(r.parts), price: Number(r.price), currency: String(r.currency), errorCode: String(r.error_code), errorText: String(r.error_text),
    smppStat: String(r.smpp_stat), rawReply: String(r.raw_reply), latencyMs: r.latency_ms === null || r.latency_ms === undefined ? null : Number(r.latency_ms), acceptedAt: Number(r.accepted),
  };
}

/** Every status event of one message, oldest first (unmerged repeats dropped: LIMIT 1 BY eid). */
export async function messageHistory(ch: ClickHouseClient, scope: Scope, messageId: string, settings = ''): Promise<HistoryEvent[]> {
  const params: Params = { id: messageId };
  const where = ['message_id = {id:String}', ...whereOf(scope, {}, params, MINUTE_COLUMNS)];
  const sql = `SELECT ${HISTORY_COLUMNS} FROM events WHERE ${where.join(' AND ')} ORDER BY time, eid LIMIT 1 BY eid LIMIT 10000${settings}`;
  return (await rows<Record<string, unknown>>(ch, sql, params)).map(historyEvent);
}

export interface NumberHistory {
  readonly to: string;
  readonly messages: number;
  readonly statuses: Record<string, number>;
  /** Newest first, at most `limit`. */
  readonly events: HistoryEvent[];
}

/** A destination's events across messages in the range, newest first, with how its messages ended. */
export async function numberHistory(ch: ClickHouseClient, scope: Scope, e164: string, q: { fromMs: number; toMs: number; limit: number }, settings = ''): Promise<NumberHistory> {
  const params: Params = { to_number: e164, limit: q.limit };
  rangeParams(q, params);
  const where = ['destination = {to_number:String}', 'time >= {from:DateTime64(3)}', 'time < {to:DateTime64(3)}', ...whereOf(scope, {}, params, MINUTE_COLUMNS)];
  const events = (await rows<Record<string, unknown>>(ch, `SELECT ${HISTORY_COLUMNS} FROM events WHERE ${where.join(' AND ')} ORDER BY time DESC, eid DESC LIMIT 1 BY eid LIMIT {limit:UInt32}${settings}`, params)).map(historyEvent);
  // Messages by their last status (a message's latest event in the range).
  const last = await rows<{ status: string; n: number | string }>(
    ch,
    `SELECT status, count() AS n FROM (SELECT message_id, argMax(status, (time, eid)) AS status FROM events WHERE ${where.join(' AND ')} GROUP BY message_id) GROUP BY status${settings}`,
    params,
  );
  const statuses: Record<string, number> = {};
  let messages = 0;
  for (const r of last) {
    statuses[r.status] = Number(r.n);
    messages += Number(r.n);
  }
  return { to: '+' + e164, messages, statuses, events };
}
