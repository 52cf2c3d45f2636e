/**
 * `/v1/analytics/...` on the engine's port: authenticates (a tenant key sees
 * only its tenant's traffic, the admin key everything), forwards queries to
 * the analytics process (the one that holds ClickHouse, engine/analytics/),
 * and streams its answers back with backpressure: when the client reads
 * slowly, the reply from the analytics process is paused, and with it the
 * report's next page. The ingress thread only copies bytes; queries run in
 * the analytics process. A forwarded path must be printable ASCII of at most
 * 4096 characters (400 otherwise), and only the query server's own statuses
 * are passed on: its error answers become the engine's HTTP error body, with
 * the status of their code (its HTTP parser's, e.g. 431, become 503 UNAVAILABLE).
 *
 *   GET /v1/analytics/dashboard   the live dashboard page (no data in it; it asks for a key)
 *   WS  /v1/analytics/ws          per-second rollups per SMSC and country (analytics/live-rollup.ts)
 *   GET /v1/analytics/*           queries and CSV reports (analytics/query-server.ts)
 */
import type { IncomingMessage } from 'node:http';
import type uWS from 'uWebSockets.js';
import type { AnalyticsHost, AnalyticsScope } from '../analytics/analytics-host.js';
import { DASHBOARD_CSP, DASHBOARD_HTML } from '../analytics/dashboard-page.js';
import { z } from 'zod';
import { route, type RouteSpec } from '../api-spec/route-spec.js';
import type { ErrorCode } from '../errors.js';
import { ApiAuth, sendError, type AuthTenant } from './http-kit.js';
import { wsProtocolReply } from '../ingress/ws-subprotocol.js';

export interface AnalyticsRoutesOptions {
  /** undefined: analytics is off; every endpoint answers UNAVAILABLE. */
  readonly host: AnalyticsHost | undefined;
  readonly auth: ApiAuth<AuthTenant>;
  readonly idleTimeoutSec: number;
}

interface FeedData {
  readonly scope: AnalyticsScope;
}

/** Codes the query server answers with (analytics/query-server.ts, which does not import engine/). */
const UPSTREAM_CODES: ReadonlySet<string> = new Set<ErrorCode>(['BAD_REQUEST', 'NOT_FOUND', 'THROTTLED', 'QUERY_TOO_COSTLY', 'UNAVAILABLE', 'INVALID_FIELD']);
/** Longest error body read from the query server (they are a line of JSON). */
const MAX_UPSTREAM_ERROR = 16 * 1024;

/** The caller's scope from its key (admin key first), or undefined after answering 401. */
function scopeOf(auth: ApiAuth<AuthTenant>, res: uWS.HttpResponse, req: uWS.HttpRequest): AnalyticsScope | undefined {
  if (auth.isAdmin(req)) return 'admin';
  const t = auth.tenant(res, req);
  return t === undefined ? undefined : `tenant:${t.id}`;
}

/** Longest path + query forwarded to the analytics process (its HTTP parser refuses long ones with 431). */
const MAX_FORWARD = 4096;

/**
 * An error answer of the query server ({"op":"error","code","error"}), read
 * whole (bounded) and answered as the engine's HTTP error body, its status
 * from the code (errors.ts HTTP_STATUS, with Retry-After on 429/503). A body
 * that is not such an answer becomes 503 UNAVAILABLE.
 */
function relayError(res: uWS.HttpResponse, up: IncomingMessage, alive: () => boolean): void {
  const chunks: Buffer[] = [];
  let size = 0;
  up.on('data', (chunk: Buffer) => {
    size += chunk.byteLength;
    if (size <= MAX_UPSTREAM_ERROR) chunks.push(chunk);
  });
  up.on('error', () => alive() && res.close());
  up.on('end', () => {
    if (!alive()) return;
    let e: { code?: unknown; error?: unknown } = {};
    try {
      e = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof e;
    } catch {
      // not JSON: answered UNAVAILABLE below
    }
    if (typeof e.code === 'string' && UPSTREAM_CODES.has(e.code) && typeof e.error === 'string') sendError(res, e.code as ErrorCode, e.error);
    else sendError(res, 'UNAVAILABLE', `analytics could not answer (status ${up.statusCode})`);
  });
}

/** Pipes the analytics process's reply to the client; pauses it while uWS holds unsent bytes. */
function pipeReply(res: uWS.HttpResponse, up: IncomingMessage, alive: () => boolean): void {
  if (up.statusCode !== 200) return relayError(res, up, alive);
  const status = '200 OK';
  res.cork(() => {
    res.writeStatus(status).writeHeader('x-content-type-options', 'nosniff');
    for (const h of ['content-type', 'content-disposition'] as const) {
      const v = up.headers[h];
      if (typeof v === 'string') res.writeHeader(h, v);
    }
  });
  up.on('data', (chunk: Buffer) => {
    if (!alive()) {
      up.destroy();
      return;
    }
    let ok = true;
    res.cork(() => (ok = res.write(chunk)));
    if (!ok) {
      // uWS keeps the chunk; resume once it has gone out.
      up.pause();
      res.onWritable(() => {
        up.resume();
        return true;
      });
    }
  });
  up.on('end', () => alive() && res.cork(() => res.end()));
  // The analytics process broke off mid-stream: close the connection so the client sees a cut reply.
  up.on('error', () => alive() && res.close());
  up.on('aborted', () => alive() && res.close());
}

export function registerAnalyticsRoutes(app: uWS.TemplatedApp, o: AnalyticsRoutesOptions): void {
  app.get('/v1/analytics/dashboard', (res) => {
    // The page's one script and one style block are allowed by their hashes; nothing else runs or loads.
    res.cork(() =>
      res
        .writeStatus('200 OK')
        .writeHeader('content-type', 'text/html; charset=utf-8')
        .writeHeader('cache-control', 'no-store')
        .writeHeader('content-security-policy', DASHBOARD_CSP)
        .writeHeader('x-content-type-options', 'nosniff')
        .writeHeader('referrer-policy', 'no-referrer')
        .end(DASHBOARD_HTML),
    );
  });

  app.ws<FeedData>('/v1/analytics/ws', {
    idleTimeout: o.idleTimeoutSec,
    maxPayloadLength: 4096,
    // A dashboard that cannot keep up loses frames rather than growing the engine's memory.
    maxBackpressure: 1024 * 1024,
    upgrade: (res, req, context) => {
      const scope = scopeOf(o.auth, res, req);
      if (scope === undefined) return;
      if (o.host === undefined) return sendError(res, 'UNAVAILABLE', 'analytics is off (analytics.enabled)');
      // Answers "switchyard.v1", never the switchyard.key.KEY subprotocol the key came in (engine/ingress/ws-subprotocol.ts).
      const proto = wsProtocolReply(req.getHeader('sec-websocket-protocol'));
      if ('error' in proto) return sendError(res, 'BAD_REQUEST', proto.error);
      res.upgrade<FeedData>({ scope }, req.getHeader('sec-websocket-key'), proto.reply, req.getHeader('sec-websocket-extensions'), context);
    },
    open: (ws) => {
      const { scope } = ws.getUserData();
      // Topics in separate namespaces: a tenant named "tick" or "all" must not read another's feed.
      ws.subscribe(scope === 'admin' ? 'an:all' : `an:t:${scope.slice(7)}`);
      ws.subscribe('an:tick');
      ws.send(JSON.stringify({ op: 'hello', v: 1, scope: scope === 'admin' ? '*' : scope.slice(7), interval: 1000 }));
    },
    message: (ws, msg) => {
      // Only pings are understood; the feed itself is pushed.
      const text = Buffer.from(msg).toString('utf8');
      if (text.includes('"ping"')) ws.send('{"op":"pong"}');
    },
  });
  if (o.host !== undefined) {
    o.host.onRollup((scope, frame) => app.publish(scope === '*' ? 'an:all' : `an:t:${scope}`, JSON.stringify(frame)));
    // Every second a tick, so dashboards move on through quiet seconds.
    setInterval(() => app.publish('an:tick', `{"op":"tick","t":${Date.now()}}`), 1000).unref();
  }

  app.get('/v1/analytics/*', (res, req) => {
    const scope = scopeOf(o.auth, res, req);
    if (scope === undefined) return;
    const host = o.host;
    if (host === undefined) return sendError(res, 'UNAVAILABLE', 'analytics is off (analytics.enabled)');
    const q = new URLSearchParams(req.getQuery() ?? '');
    q.delete('key');
    const path = req.getUrl().slice('/v1/analytics'.length) + (q.size > 0 ? `?${q}` : '');
    // Raw bytes outside printable ASCII cannot go into the forwarded request line (Node refuses them).
    if (!/^[\x21-\x7e]*$/.test(path)) return sendError(res, 'BAD_REQUEST', 'the analytics path must be printable ASCII: percent-encode anything else');
    if (path.length > MAX_FORWARD) return sendError(res, 'BAD_REQUEST', `the analytics request is longer than ${MAX_FORWARD} characters: narrow it`);
    const abort = new AbortController();
    let aborted = false;
    const alive = () => !aborted;
    res.onAborted(() => {
      aborted = true;
      abort.abort();
    });
    return host.request(path, scope, abort.signal).then(
      (up) => void (alive() ? pipeReply(res, up, alive) : up.destroy()),
      (err: Error) => void (alive() && sendError(res, 'UNAVAILABLE', `analytics is not available: ${err.message}`)),
    );
  });
}

const Time = z.string().describe('ms since 1970 or ISO 8601; default: the last 24 h');
const Filters = {
  from: Time.optional(),
  to: Time.optional(),
  smsc: z.string().max(64).optional(),
  country: z.string().max(64).optional().describe('ISO 3166 alpha-2'),
  operator: z.string().max(64).optional(),
  mcc: z.string().max(64).optional(),
  mnc: z.string().max(64).optional(),
  status: z.string().max(64).optional(),
  tenant: z.string().max(64).optional().describe('admin key only'),
  limit: z.string().regex(/^[0-9]{1,9}$/).optional().describe('1 to 100,000'),
};
const Slice = z.object({ ...Filters, by: z.string().optional().describe('comma-separated dimensions: smsc, country, operator, tenant, mcc, mnc, bucket'), bucket: z.enum(['minute', 'hour', 'day']).optional() });
const Rows = z.object({ rows: z.array(z.looseObject({})) });
const QUERY_ERRORS: ErrorCode[] = ['NOT_FOUND', 'THROTTLED', 'QUERY_TOO_COSTLY', 'UNAVAILABLE'];
const Csv = { contentType: 'text/csv', schema: z.string(), description: 'streamed CSV (a header row, then one row per event or message)' };

/** The contracts of these routes (engine/api-spec/): the query server's endpoints (analytics/query-server.ts) under /v1/analytics/*. */
export const ANALYTICS_ROUTES: readonly RouteSpec[] = [
  route({ method: 'get', path: '/v1/analytics/dashboard', summary: 'The live dashboard page (it asks for a key: open with #key=KEY)', tags: ['analytics'], auth: 'none', ok: { 200: { contentType: 'text/html', schema: z.string() } } }),
  route({ method: 'get', path: '/v1/analytics/ws', summary: 'Live per-second rollups per SMSC and country (WebSocket: /v1/asyncapi.json)', tags: ['analytics'], auth: 'tenant-or-admin', upgrade: true, ok: { 101: z.unknown() }, errors: ['UNAVAILABLE'] }),
  ...(['delivery', 'latency'] as const).map((p) =>
    route({ method: 'get', path: `/v1/analytics/${p}`, summary: 'Delivery rate, outcome counts and latency p50/p90/p99 by the `by` dimensions', tags: ['analytics'], auth: 'tenant-or-admin', query: Slice, ok: { 200: Rows }, errors: QUERY_ERRORS }),
  ),
  route({ method: 'get', path: '/v1/analytics/failures', summary: 'Failure reasons ranked: status, error code and text, count, share', tags: ['analytics'], auth: 'tenant-or-admin', query: Slice, ok: { 200: Rows }, errors: QUERY_ERRORS }),
  route({ method: 'get', path: '/v1/analytics/statuses', summary: 'Messages per status', tags: ['analytics'], auth: 'tenant-or-admin', query: Slice, ok: { 200: Rows }, errors: QUERY_ERRORS }),
  route({
    method: 'get',
    path: '/v1/analytics/messages/:id',
    summary: "Every status event of a message",
    tags: ['analytics'],
    auth: 'tenant-or-admin',
    params: z.object({ id: z.string().regex(/^[0-9A-Za-z_-]{1,64}$/) }),
    ok: { 200: z.object({ id: z.string(), events: z.array(z.looseObject({})) }) },
    errors: QUERY_ERRORS,
  }),
  route({
    method: 'get',
    path: '/v1/analytics/numbers/:number',
    summary: "A destination's history across messages",
    tags: ['analytics'],
    auth: 'tenant-or-admin',
    params: z.object({ number: z.string().describe('E.164, + percent-encoded or left out') }),
    query: z.object({ from: Time.optional(), to: Time.optional(), limit: Filters.limit }),
    ok: { 200: z.looseObject({ to: z.string(), messages: z.unknown(), statuses: z.unknown(), events: z.array(z.looseObject({})) }) },
    errors: QUERY_ERRORS,
  }),
  route({ method: 'get', path: '/v1/analytics/bad-numbers', summary: 'Flagged numbers with their evidence', tags: ['analytics'], auth: 'tenant-or-admin', query: z.object({ tenant: Filters.tenant, limit: Filters.limit }), ok: { 200: z.object({ count: z.number().int(), rows: z.array(z.looseObject({})) }) }, errors: QUERY_ERRORS }),
  ...(['events', 'messages'] as const).map((k) =>
    route({ method: 'get', path: `/v1/analytics/reports/${k}.csv`, summary: `Streamed CSV of ${k}`, tags: ['analytics'], auth: 'tenant-or-admin', query: z.object(Filters), ok: { 200: Csv }, errors: QUERY_ERRORS }),
  ),
];
