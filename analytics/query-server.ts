/**
 * The analytics query service: a small HTTP server on a Unix socket inside
 * the analytics process — the one process that holds ClickHouse open (chdb
 * locks its data directory). The engine authenticates each `/v1/analytics/...`
 * request and forwards it here with its scope in `x-switchyard-scope`
 * (`admin` or `tenant:ID`); the socket lives in a directory only this user
 * can enter, so the scope header is trusted. Answers stream back through the
 * engine with backpressure (CSV reports page by page, report-export.ts).
 *
 * Why a socket and HTTP rather than the engine's IPC channel: replies of any
 * size stream with flow control for free, requests run concurrently, and the
 * IPC channel stays free for the sink's stats and the live feed.
 *
 *   GET /delivery      delivery rate + latency p50/p90/p99 by ?by=smsc,country,... &bucket=minute|hour|day
 *   GET /failures      failure reasons ranked (status, error code, text, count, share)
 *   GET /statuses      messages per status
 *   GET /messages/ID   one message's status events
 *   GET /numbers/E164  one destination's events across messages
 *   GET /bad-numbers   flagged numbers with their evidence
 *   GET /reports/events.csv, /reports/messages.csv   streamed CSV
 * Common parameters: from, to (ms since the epoch or ISO 8601; default the
 * last 24 h), smsc, country, operator, mcc, mnc, status, tenant (admin only),
 * limit.
 *
 * Cost (analytics.limits, query-budget.ts): a from..to longer than
 * maxSliceDays (slices) or maxEventDays (reports, a number's history) is
 * refused QUERY_TOO_COSTLY before any query runs; every query runs under
 * ClickHouse's max_execution_time and max_rows_to_read (QUERY_TOO_COSTLY when
 * it hits one; a report that hits one after its first page ends with a cut
 * connection, since its status line went out with the first page); at most
 * `reportsPerKey` CSV reports per key at once (THROTTLED), within the 4 queries a key may run.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ClickHouseClient } from '@clickhouse/client';
import {
  AnalyticsQueryError, BUCKETS, DIMENSIONS, deliveryStats, failureReasons, messageHistory, numberHistory, statusBreakdown,
  type Bucket, type Dimension, type Filters, type Scope, type SliceQuery,
} from './analytics-queries.js';
import { DEFAULTS } from '../config/index.js';
import type { BadNumberDetector } from './bad-numbers.js';
import { budgetClause, costlyError, type QueryBudget } from './query-budget.js';
import { exportReport, type ReportKind } from './report-export.js';

/** analytics.limits (config/schema.ts). */
export interface AnalyticsLimits {
  readonly maxSliceDays: number;
  readonly maxEventDays: number;
  readonly queryTimeoutSec: number;
  readonly maxRowsToRead: number;
  readonly reportsPerKey: number;
}

export interface QueryServerOptions {
  readonly ch: ClickHouseClient;
  readonly detector: BadNumberDetector | undefined;
  readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void;
  /** Rows per CSV page. */
  readonly reportPageRows?: number;
  /** What one request may cost; default the config's defaults. */
  readonly limits?: AnalyticsLimits;
}

const DAY = 86_400_000;
const MAX_LIMIT = 100_000;

/** Analytics queries (reports included) one key may run at once. */
const MAX_CONCURRENT_PER_SCOPE = 4;

function fail(msg: string): never {
  throw new AnalyticsQueryError('BAD_REQUEST', msg);
}

/** ms since the epoch, or an ISO 8601 date; undefined when absent. */
export function parseTime(v: string | null, name: string): number | undefined {
  if (v === null || v === '') return undefined;
  const t = /^[0-9]{1,15}$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(t)) fail(`${name} must be ms since the epoch or an ISO 8601 date, got "${v}"`);
  // Within what the tables' DateTime64 columns hold (a 15-digit time is year 30,000-something).
  if (t < 0 || t >= 10_413_792_000_000) fail(`${name} must be between 1970 and 2299, got "${v}"`);
  return t;
}

/** from..to (default the last 24 h); longer than `maxDays` is refused QUERY_TOO_COSTLY, naming the limit `limitKey`. */
function parseRange(q: URLSearchParams, now: number, maxDays: number, limitKey: string, what: string): { fromMs: number; toMs: number } {
  const toMs = parseTime(q.get('to'), 'to') ?? now;
  const fromMs = parseTime(q.get('from'), 'from') ?? toMs - DAY;
  if (fromMs >= toMs) fail('from must be before to');
  if (toMs - fromMs > maxDays * DAY) {
    const days = Math.ceil((toMs - fromMs) / DAY);
    throw new AnalyticsQueryError(
      'QUERY_TOO_COSTLY',
      `from..to spans ${days.toLocaleString('en')} days; ${what} covers at most ${maxDays} days per request (analytics.limits.${limitKey}): narrow from/to, or split the range into requests of at most ${maxDays} days`,
    );
  }
  return { fromMs, toMs };
}

function parseFilters(q: URLSearchParams, scope: Scope): Filters {
  const get = (k: string) => {
    const v = q.get(k);
    if (v === null || v === '') return undefined;
    if (v.length > 64) fail(`${k} is longer than 64 characters`);
    return v;
  };
  const tenant = get('tenant');
  if (tenant !== undefined && 'tenant' in scope && tenant !== scope.tenant) fail('tenant: a tenant key sees only its own traffic');
  return { tenant, smsc: get('smsc'), country: get('country')?.toUpperCase(), operator: get('operator'), mcc: get('mcc'), mnc: get('mnc'), status: get('status') };
}

function parseSlice(q: URLSearchParams, scope: Scope, now: number, limits: AnalyticsLimits): SliceQuery {
  const by = (q.get('by') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const d of by) if (!(DIMENSIONS as ReadonlyArray<string>).includes(d)) fail(`by: "${d}" is not one of ${DIMENSIONS.join(', ')}`);
  const bucket = q.get('bucket') ?? undefined;
  if (bucket !== undefined && !(BUCKETS as ReadonlyArray<string>).includes(bucket)) fail(`bucket must be one of ${BUCKETS.join(', ')}`);
  return { ...parseRange(q, now, limits.maxSliceDays, 'maxSliceDays', 'a slice (delivery, failures, statuses)'), by: [...new Set(by)] as Dimension[], bucket: bucket as Bucket | undefined, filters: parseFilters(q, scope), limit: parseLimit(q, 1000) };
}

function parseLimit(q: URLSearchParams, def: number): number {
  const v = q.get('limit');
  if (v === null || v === '') return def;
  if (!/^[0-9]{1,9}$/.test(v) || Number(v) < 1 || Number(v) > MAX_LIMIT) fail(`limit must be 1 to ${MAX_LIMIT}`);
  return Number(v);
}

function scopeOf(req: IncomingMessage): Scope {
  const h = String(req.headers['x-switchyard-scope'] ?? '');
  if (h === 'admin') return { admin: true };
  if (h.startsWith('tenant:') && h.length > 7) return { tenant: h.slice(7) };
  throw new AnalyticsQueryError('BAD_REQUEST', 'missing scope');
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Resolves when the response has drained or closed (and leaves no listener behind). */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((ok) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      ok();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

export class QueryServer {
  private server: Server | undefined;
  requests = 0;
  /** Report pages read from ClickHouse (a paused client stops them: tests see the backpressure). */
  reportPages = 0;
  /** Times a report waited for its client to drain the reply. */
  reportStalls = 0;

  private readonly limits: AnalyticsLimits;
  private readonly budget: QueryBudget;
  /** The SETTINGS clause of every query a request causes. */
  private readonly settings: string;
  /** CSV reports running per key (at most limits.reportsPerKey). */
  private readonly reports = new Map<string, number>();

  constructor(private readonly o: QueryServerOptions) {
    this.limits = o.limits ?? DEFAULTS.analytics.limits;
    this.budget = { timeoutSec: this.limits.queryTimeoutSec, maxRowsToRead: this.limits.maxRowsToRead };
    this.settings = budgetClause(this.budget);
  }

  async listen(socketPath: string): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    this.server = server;
    server.listen(socketPath);
    await once(server, 'listening');
  }

  async close(): Promise<void> {
    const s = this.server;
    if (s === undefined) return;
    s.closeAllConnections();
    await new Promise((ok) => s.close(ok));
  }

  /** Queries running per scope: one tenant's parallel reports must not crowd out the others or the sink's inserts. */
  private readonly running = new Map<string, number>();

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.requests++;
    const url = new URL(req.url ?? '/', 'http://analytics');
    const q = url.searchParams;
    const path = url.pathname;
    const now = Date.now();
    let scopeKey: string | undefined;
    try {
      if (req.method !== 'GET') throw new AnalyticsQueryError('NOT_FOUND', `no ${req.method} ${path}`);
      const scope = scopeOf(req);
      const key = 'admin' in scope ? '*' : scope.tenant;
      const n = this.running.get(key) ?? 0;
      if (n >= MAX_CONCURRENT_PER_SCOPE) throw new AnalyticsQueryError('THROTTLED', `${MAX_CONCURRENT_PER_SCOPE} analytics queries of this key are running already; retry when one has finished`);
      this.running.set(key, n + 1);
      scopeKey = key;
      const ch = this.o.ch;
      const lim = this.limits;
      const set = this.settings;
      if (path === '/delivery' || path === '/latency') return json(res, 200, { rows: await deliveryStats(ch, scope, parseSlice(q, scope, now, lim), set) });
      if (path === '/failures') return json(res, 200, { rows: await failureReasons(ch, scope, parseSlice(q, scope, now, lim), set) });
      if (path === '/statuses') return json(res, 200, { rows: await statusBreakdown(ch, scope, parseSlice(q, scope, now, lim), set) });
      let m = /^\/messages\/([0-9A-Za-z_-]{1,64})$/.exec(path);
      if (m !== null) {
        const id = m[1] as string;
        const events = await messageHistory(ch, scope, id, set);
        if (events.length === 0) throw new AnalyticsQueryError('NOT_FOUND', `no events of message ${id}`);
        return json(res, 200, { id, events });
      }
      m = /^\/numbers\/(?:\+|%2B)?([0-9]{6,15})$/i.exec(path);
      if (m !== null) return json(res, 200, await numberHistory(ch, scope, m[1] as string, { ...parseRange(q, now, lim.maxEventDays, 'maxEventDays', "a number's history"), limit: parseLimit(q, 1000) }, set));
      if (path.startsWith('/numbers/')) fail('the number must be E.164: + and 6 to 15 digits');
      if (path === '/bad-numbers') {
        const d = this.o.detector;
        if (d === undefined) fail('bad-number detection is off (analytics.badNumbers.enabled)');
        const tenant = 'tenant' in scope ? scope.tenant : (parseFilters(q, scope).tenant ?? undefined);
        const rows = d.list(tenant);
        return json(res, 200, { count: rows.length, rows: rows.slice(0, parseLimit(q, 1000)) });
      }
      m = /^\/reports\/(events|messages)\.csv$/.exec(path);
      if (m !== null) return await this.report(res, scope, key, m[1] as ReportKind, q, now);
      throw new AnalyticsQueryError('NOT_FOUND', `no analytics endpoint ${path}`);
    } catch (thrown) {
      // A query stopped at its budget: QUERY_TOO_COSTLY with what to do, not ClickHouse's text.
      const err = costlyError(thrown, this.budget, path.startsWith('/reports/') ? 'a page of the report' : 'the query') ?? thrown;
      if (res.headersSent) {
        this.o.log('warn', `analytics: ${path} failed while streaming: ${(err as Error).message}`);
        res.destroy(err as Error);
        return;
      }
      if (err instanceof AnalyticsQueryError) return json(res, err.code === 'NOT_FOUND' ? 404 : err.code === 'THROTTLED' ? 429 : 400, { op: 'error', code: err.code, error: err.message });
      this.o.log('warn', `analytics: ${path} failed: ${(err as Error).message}`);
      json(res, 503, { op: 'error', code: 'UNAVAILABLE', error: `analytics query failed: ${(err as Error).message}` });
    } finally {
      if (scopeKey !== undefined) {
        const n = (this.running.get(scopeKey) ?? 1) - 1;
        if (n <= 0) this.running.delete(scopeKey);
        else this.running.set(scopeKey, n);
      }
    }
  }

  private async report(res: ServerResponse, scope: Scope, key: string, kind: ReportKind, q: URLSearchParams, now: number): Promise<void> {
    const range = parseRange(q, now, this.limits.maxEventDays, 'maxEventDays', 'a CSV report');
    const filters = parseFilters(q, scope);
    const running = this.reports.get(key) ?? 0;
    if (running >= this.limits.reportsPerKey)
      throw new AnalyticsQueryError('THROTTLED', `${running} CSV report(s) of this key are running already, the most at once (analytics.limits.reportsPerKey = ${this.limits.reportsPerKey}); retry when it has finished`);
    this.reports.set(key, running + 1);
    try {
      await this.streamReport(res, scope, kind, range, filters);
    } finally {
      const n = (this.reports.get(key) ?? 1) - 1;
      if (n <= 0) this.reports.delete(key);
      else this.reports.set(key, n);
    }
  }

  private async streamReport(res: ServerResponse, scope: Scope, kind: ReportKind, range: { fromMs: number; toMs: number }, filters: Filters): Promise<void> {
    let gone = false;
    res.once('close', () => (gone = true));
    const pages = exportReport(this.o.ch, scope, { kind, ...range, filters, pageRows: this.o.reportPageRows, settings: this.settings }, () => !gone);
    // The first page before the headers: a failing query still gets a proper error reply.
    const first = await pages.next();
    res.writeHead(200, {
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': `attachment; filename="switchyard-${kind}-${new Date(range.fromMs).toISOString().slice(0, 19).replace(/:/g, '')}.csv"`,
    });
    this.reportPages++;
    if (!first.done) res.write(first.value);
    for await (const chunk of pages) {
      this.reportPages++;
      if (gone) break;
      if (!res.write(chunk)) {
        this.reportStalls++;
        await drained(res);
      }
    }
    res.end();
  }
}
