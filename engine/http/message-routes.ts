/**
 * HTTP API for a tenant's messages (submitting is POST /v1/messages on the
 * ingress, which shares the WebSocket's checks):
 *
 *   GET  /v1/messages/:id          one message: status, parts, price, event history
 *   GET  /v1/messages?…            list with filters (status, to, ref, since, until) and a cursor
 *   POST /v1/messages/:id/cancel   cancel a scheduled or not yet sending message
 *
 * Tenant API key as for the WebSocket; another tenant's message is 404, never
 * 403 (its existence is not revealed).
 */
import type { RedisClient } from '../redis/connect-redis.js';
import type uWS from 'uWebSockets.js';
import type { CancelReply } from '../lifecycle/cancel-batcher.js';
import { decodeCursor, listMessages, lookupMessage, type ListQuery } from '../lifecycle/message-query.js';
import type { Keys } from '../queue/keys.js';
import { z } from 'zod';
import { MessageId, QueryInt, route, type RouteSpec } from '../api-spec/route-spec.js';
import { guard, sendError, sendJson, type ApiAuth, type AuthTenant } from './http-kit.js';

export interface MessageRoutesOptions {
  readonly auth: ApiAuth<AuthTenant>;
  readonly redis: RedisClient;
  readonly keys: Keys;
  /** The ingress's cancel (IngressServer.onCancel). */
  readonly cancel: (tenant: string, f: Record<string, unknown>, done: (r: CancelReply) => void) => void;
  /**
   * A message no longer in Redis (final for longer than messages.finalRetentionSec):
   * its history from analytics, or undefined (analytics off, or no events of it).
   */
  readonly history?: (tenant: string, id: string) => Promise<Record<string, unknown> | undefined>;
}

const MAX_LIMIT = 500;

/** A time in a query: ISO 8601 or ms since 1970. */
function readTime(v: string | null, name: string): number | string | undefined {
  if (v === null || v === '') return undefined;
  if (/^\d{12,16}$/.test(v)) return Number(v);
  const ms = Date.parse(v);
  return Number.isNaN(ms) || !/(Z|[+-]\d{2}:?\d{2})$/.test(v) ? `"${name}" must be an ISO 8601 time with a zone or milliseconds since 1970` : ms;
}

/** The list query from the URL, or the text of what is wrong with it. */
export function parseListQuery(qs: string): ListQuery | string {
  const q = new URLSearchParams(qs);
  for (const k of q.keys()) if (!['status', 'to', 'ref', 'since', 'until', 'limit', 'cursor', 'key'].includes(k)) return `unknown query parameter "${k}"`;
  const out: { -readonly [K in keyof ListQuery]: ListQuery[K] } = { limit: 50 };
  const status = q.get('status');
  if (status !== null && status !== '') {
    const list = status.split(',');
    if (!list.every((s) => /^[a-z_]{1,32}$/.test(s))) return '"status" must be a comma-separated list of statuses, e.g. "delivered,undelivered"';
    out.statuses = new Set(list);
  }
  const to = q.get('to');
  if (to !== null && to !== '') {
    const digits = to.replace(/^\+|^00/, '').replace(/[\s().-]/g, '');
    if (!/^[0-9]{3,15}$/.test(digits)) return '"to" must be a phone number, e.g. +4791234567';
    out.to = digits;
  }
  const ref = q.get('ref');
  if (ref !== null && ref !== '') {
    if (ref.length > 64) return '"ref" is at most 64 characters';
    out.ref = ref;
  }
  const since = readTime(q.get('since'), 'since');
  if (typeof since === 'string') return since;
  if (since !== undefined) out.since = since;
  const until = readTime(q.get('until'), 'until');
  if (typeof until === 'string') return until;
  if (until !== undefined) out.until = until;
  const limit = q.get('limit');
  if (limit !== null && limit !== '') {
    const n = Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) return `"limit" must be 1 to ${MAX_LIMIT}`;
    out.limit = n;
  }
  const cursor = q.get('cursor');
  if (cursor !== null && cursor !== '') {
    const c = decodeCursor(cursor);
    if (c === undefined) return '"cursor" is not a cursor this API gave out (use "next" from the previous page)';
    out.cursor = c;
  }
  return out;
}

export function registerMessageRoutes(app: uWS.TemplatedApp, o: MessageRoutesOptions): void {
  app.get('/v1/messages/:id', (res, req) => {
    const tenant = o.auth.tenant(res, req);
    if (tenant === undefined) return;
    const id = req.getParameter(0) ?? '';
    const g = guard(res);
    lookupMessage(o.redis, o.keys, tenant.id, id)
      .then(async (m) => {
        if (m !== undefined || o.history === undefined) return m;
        try {
          return await o.history(tenant.id, id);
        } catch (err) {
          // Not in Redis, and analytics cannot say: unknown, not absent.
          throw new Error(`message ${id} is not in Redis any more and analytics is unavailable (${(err as Error).message}); retry later`);
        }
      })
      .then(
        (m) => g.alive() && (m === undefined ? sendError(res, 'NOT_FOUND', `no message ${id}`) : sendJson(res, '200 OK', m)),
        (err: Error) => g.alive() && sendError(res, 'UNAVAILABLE', `message lookup failed: ${err.message}`),
      );
  });

  app.get('/v1/messages', (res, req) => {
    const tenant = o.auth.tenant(res, req);
    if (tenant === undefined) return;
    const q = parseListQuery(req.getQuery() ?? '');
    if (typeof q === 'string') return sendError(res, 'BAD_REQUEST', q);
    const g = guard(res);
    listMessages(o.redis, o.keys, tenant.id, q).then(
      (page) => g.alive() && sendJson(res, '200 OK', { messages: page.messages, next: page.next }),
      (err: Error) => g.alive() && sendError(res, 'UNAVAILABLE', `message list failed: ${err.message}`),
    );
  });

  app.post('/v1/messages/:id/cancel', (res, req) => {
    const tenant = o.auth.tenant(res, req);
    if (tenant === undefined) return;
    const id = req.getParameter(0) ?? '';
    const g = guard(res);
    // The body is not needed; uWS wants it read (or the request aborted) all the same.
    res.onData(() => undefined);
    o.cancel(tenant.id, { id }, (r) => {
      if (!g.alive()) return;
      // An ack: the frame without the WebSocket's op and ref; a nack: the HTTP error body of its code.
      const x = r.refused;
      if (x !== undefined) return sendError(res, x.code, x.error, { details: x.status === undefined ? { id } : { id, status: x.status } });
      sendJson(res, '200 OK', { id, status: 'stopped' });
    });
  });
}

const MessageError = z.object({ code: z.string(), text: z.string() });
const Price = z.object({ perPart: z.number(), total: z.number(), currency: z.string() });
/** One message as the list gives it (lifecycle/message-query.ts MessageSummary). */
export const MessageSummarySchema = z.looseObject({
  id: MessageId,
  ref: z.string(),
  to: z.string(),
  from: z.string(),
  status: z.string(),
  parts: z.number().int(),
  smsc: z.string(),
  acceptedAt: z.number(),
  sendAt: z.number().optional(),
  validUntil: z.number(),
  price: Price.optional(),
  route: z.looseObject({ country: z.string(), mcc: z.string(), mnc: z.string(), pricePerPart: z.number(), currency: z.string() }).optional(),
  error: MessageError.optional(),
});
/** One message with its parts and history (MessageDetail; from analytics `"source":"analytics"` and fewer fields). */
export const MessageDetailSchema = z.union([
  MessageSummarySchema.extend({
    partStates: z.array(z.looseObject({ part: z.number().int(), state: z.string(), smscMessageId: z.string().optional() })),
    events: z.array(z.looseObject({ status: z.string(), at: z.number(), error: MessageError.optional() })),
  }),
  z.looseObject({ id: z.string(), source: z.literal('analytics'), status: z.string(), events: z.array(z.looseObject({ status: z.string() })) }),
]);

const IdParam = z.object({ id: MessageId });

/** The contracts of these routes (engine/api-spec/). */
export const MESSAGE_ROUTES: readonly RouteSpec[] = [
  route({
    method: 'get',
    path: '/v1/messages/:id',
    summary: 'One message: status, parts, price and event history',
    tags: ['messages'],
    auth: 'tenant',
    params: IdParam,
    ok: { 200: MessageDetailSchema },
    errors: ['NOT_FOUND', 'UNAVAILABLE'],
  }),
  route({
    method: 'get',
    path: '/v1/messages',
    summary: "A page of the tenant's messages, newest first",
    tags: ['messages'],
    auth: 'tenant',
    query: z.object({
      status: z.string().optional().describe('comma-separated statuses, e.g. delivered,undelivered'),
      to: z.string().optional().describe('a phone number'),
      ref: z.string().max(64).optional(),
      since: z.string().optional().describe('ISO 8601 with a zone, or ms since 1970'),
      until: z.string().optional().describe('ISO 8601 with a zone, or ms since 1970'),
      limit: QueryInt.optional().describe(`1 to ${MAX_LIMIT}, default 50`),
      cursor: z.string().optional().describe('"next" of the previous page'),
    }),
    ok: { 200: z.object({ messages: z.array(MessageSummarySchema), next: z.string().nullable() }) },
    errors: ['UNAVAILABLE'],
  }),
  route({
    method: 'post',
    path: '/v1/messages/:id/cancel',
    summary: 'Cancel a scheduled, held, paused or not yet sending message',
    tags: ['messages'],
    auth: 'tenant',
    params: IdParam,
    ok: { 200: z.object({ id: MessageId, status: z.literal('stopped') }) },
    errors: ['NOT_CANCELLABLE', 'NOT_FOUND', 'INVALID_FIELD', 'THROTTLED', 'UNAVAILABLE'],
  }),
];
