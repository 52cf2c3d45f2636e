/**
 * Moderation, for the admin (admin key): the messages held as
 * `pending_approval`, and the decision on them.
 *
 *   GET  /v1/admin/held?tenant=ID&after=CURSOR&limit=N   a page of held messages (text, reason), oldest first
 *   POST /v1/admin/held/approve  {"ids":[…]}  or {"tenant":"acme","all":true}
 *        → each goes to its SMSC queue (`queued`), waits for its sendAt (`scheduled`), or `paused` if its tenant is, or `stopped` if the number opted out meanwhile
 *   POST /v1/admin/held/reject   {"ids":[…], "reason":"…"}  or {"tenant":"acme","all":true,"reason":"…"}
 *        → `stopped`, error MODERATION_REJECTED with the reason
 *
 * A page merges the tenant's held messages of every shard, oldest first; its
 * cursor names the last message looked at ("1732290000000-0.5": its first
 * part's stream id and its shard, moderation/held-messages.ts). Without
 * ?tenant the list walks every tenant in config order; its cursor then names
 * the tenant too ("acme:1732290000000-0.5").
 */
import type uWS from 'uWebSockets.js';
import type { RedisClient } from '../redis/connect-redis.js';
import type { Keys } from '../queue/keys.js';
import { encodeHeldCursor, listHeld, parseHeldCursor, type HeldCursor, type HeldMessage } from '../moderation/held-messages.js';
import { ApproveResult, type ParkingStore } from '../parking/parking-store.js';
import { z } from 'zod';
import { checkAgainst, MessageId, QueryInt, route, TenantId, type RouteSpec } from '../api-spec/route-spec.js';
import { guard, readJsonBody, sendError, sendJson, type ApiAuth, type AuthTenant } from './http-kit.js';

const MAX_IDS = 1000;
const MAX_PAGE = 500;

export interface HeldRouteDeps {
  readonly redis: RedisClient;
  readonly keys: Keys;
  readonly parking: ParkingStore;
  readonly auth: ApiAuth<AuthTenant>;
  readonly tenants: ReadonlyArray<string>;
  readonly maxBodyBytes: number;
}

const cursorOf = (s: string): HeldCursor | undefined => (s === '' ? undefined : parseHeldCursor(s));

async function page(d: HeldRouteDeps, tenant: string | undefined, after: string, limit: number): Promise<{ items: HeldMessage[]; next: string | null }> {
  if (tenant !== undefined) {
    const r = await listHeld(d.redis, d.keys, tenant, cursorOf(after), limit);
    return { items: r.items, next: r.next === undefined ? null : encodeHeldCursor(r.next) };
  }
  // Across tenants: "tenant:cursor" cursors.
  const colon = after.indexOf(':');
  let ti = colon > 0 ? d.tenants.indexOf(after.slice(0, colon)) : 0;
  let cursor: HeldCursor | undefined = colon > 0 ? cursorOf(after.slice(colon + 1)) : undefined;
  if (ti < 0) ti = 0;
  const items: HeldMessage[] = [];
  for (; ti < d.tenants.length; ti++, cursor = undefined) {
    const t = d.tenants[ti] as string;
    const r = await listHeld(d.redis, d.keys, t, cursor, limit - items.length);
    items.push(...r.items);
    if (items.length >= limit) {
      const next = r.next !== undefined ? `${t}:${encodeHeldCursor(r.next)}` : ti + 1 < d.tenants.length ? `${d.tenants[ti + 1]}:` : null;
      return { items, next };
    }
  }
  return { items, next: null };
}

/** A page cursor this API gave out: "1732290000000-0.5", or across tenants "tenant:" / "tenant:1732290000000-0.5". */
function validAfter(after: string, tenants: ReadonlyArray<string> | undefined): boolean {
  if (after === '') return true;
  if (tenants === undefined) return parseHeldCursor(after) !== undefined;
  const colon = after.indexOf(':');
  if (colon <= 0 || !tenants.includes(after.slice(0, colon))) return false;
  const c = after.slice(colon + 1);
  return c === '' || parseHeldCursor(c) !== undefined;
}

/** Every held message id of a tenant (for "all": true), oldest first. */
async function allIds(d: HeldRouteDeps, tenant: string): Promise<string[]> {
  const ids: string[] = [];
  let after: HeldCursor | undefined;
  for (let i = 0; i < 1000; i++) {
    const r = await listHeld(d.redis, d.keys, tenant, after, MAX_PAGE);
    for (const m of r.items) ids.push(m.id);
    if (r.next === undefined) break;
    after = r.next;
  }
  return ids;
}

/** The body of approve and reject: `ids`, or `tenant` with `all: true`; `reason` (required to reject). */
const HeldBody = z
  .object({
    ids: z.array(MessageId).min(1).max(MAX_IDS).optional().describe('message ids (or give tenant and all)'),
    tenant: TenantId.optional(),
    all: z.literal(true).optional().describe('every held message of `tenant`'),
    reason: z.string().max(500).optional().describe('why they are rejected (reject: required)'),
  })
  .strict();

export function registerHeldRoutes(app: uWS.TemplatedApp, d: HeldRouteDeps): void {
  app.get('/v1/admin/held', (res, req) => {
    if (!d.auth.admin(res, req)) return;
    const tenant = req.getQuery('tenant') || undefined;
    const after = req.getQuery('after') ?? '';
    const limit = req.getQuery('limit') ? Number(req.getQuery('limit')) : 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) return sendError(res, 'INVALID_FIELD', `"limit" must be a whole number from 1 to ${MAX_PAGE}`);
    if (tenant !== undefined && !d.tenants.includes(tenant)) return sendError(res, 'NOT_FOUND', `no tenant "${tenant}"`);
    // The cursor becomes a Redis stream id: checked here, so a bad one is a 400, not Redis's error as a 503.
    if (!validAfter(after, tenant === undefined ? d.tenants : undefined))
      return sendError(res, 'BAD_REQUEST', `"after" must be the "next" value of the previous page (${tenant === undefined ? '"tenant:" or "tenant:1732290000000-0.5"' : 'such as "1732290000000-0.5"'}), got ${JSON.stringify(after.slice(0, 60))}`);
    const g = guard(res);
    return page(d, tenant, after, limit).then(
      (p) => void (g.alive() && sendJson(res, '200 OK', p)),
      (err: Error) => void (g.alive() && sendError(res, 'UNAVAILABLE', err.message)),
    );
  });
  for (const action of ['approve', 'reject'] as const) {
    app.post(`/v1/admin/held/${action}`, (res, req) => {
      if (!d.auth.admin(res, req)) return;
      return readJsonBody(res, d.maxBodyBytes, (body, alive) => {
        // The schema the OpenAPI document shows (HELD_ROUTES) checks the shape; the checks below what it cannot know.
        const checked = checkAgainst(HeldBody, body);
        if (!checked.ok) return void (alive() && sendError(res, 'INVALID_FIELD', checked.message, { details: checked.details }));
        const b = checked.value;
        const reason = b.reason;
        if (action === 'reject' && (typeof reason !== 'string' || reason.trim() === '' || reason.length > 500))
          return void (alive() && sendError(res, 'INVALID_FIELD', '"reason" is required: why the messages are rejected (at most 500 characters)'));
        let ids: Promise<string[]>;
        if (b.all === true) {
          if (typeof b.tenant !== 'string' || !d.tenants.includes(b.tenant)) return void (alive() && sendError(res, 'INVALID_FIELD', '"all": true needs "tenant": a configured tenant id'));
          ids = allIds(d, b.tenant);
        } else {
          if (!Array.isArray(b.ids) || b.ids.length === 0 || b.ids.length > MAX_IDS || !b.ids.every((x) => typeof x === 'string' && /^[0-9a-z]{1,40}$/.test(x)))
            return void (alive() && sendError(res, 'INVALID_FIELD', `"ids" must be 1 to ${MAX_IDS} message ids (or give "tenant" and "all": true)`));
          ids = Promise.resolve(b.ids as string[]);
        }
        return ids
          .then(async (list) => {
            const out = { approved: 0, queued: 0, scheduled: 0, paused: 0, stopped: 0, rejected: 0, notHeld: [] as string[] };
            for (let i = 0; i < list.length; i += MAX_IDS) {
              const chunk = list.slice(i, i + MAX_IDS);
              if (action === 'approve') {
                const r = await d.parking.approve(chunk);
                r.forEach((x, k) => {
                  if (x === ApproveResult.NotHeld) out.notHeld.push(chunk[k] as string);
                  else {
                    out.approved++;
                    if (x === ApproveResult.Queued) out.queued++;
                    else if (x === ApproveResult.Scheduled) out.scheduled++;
                    else if (x === ApproveResult.Paused) out.paused++;
                    else out.stopped++;
                  }
                });
              } else {
                const r = await d.parking.reject(chunk, (reason as string).trim());
                r.forEach((x, k) => (x ? out.rejected++ : out.notHeld.push(chunk[k] as string)));
              }
            }
            if (!alive()) return;
            sendJson(res, '200 OK', action === 'approve' ? { approved: out.approved, queued: out.queued, scheduled: out.scheduled, paused: out.paused, stopped: out.stopped, notHeld: out.notHeld } : { rejected: out.rejected, notHeld: out.notHeld });
          })
          .catch((err: Error) => void (alive() && sendError(res, 'UNAVAILABLE', err.message)));
      });
    });
  }
}


/** The contracts of these routes (engine/api-spec/). */
export const HELD_ROUTES: readonly RouteSpec[] = [
  route({
    method: 'get',
    path: '/v1/admin/held',
    summary: 'Messages held for moderation, oldest first',
    tags: ['moderation'],
    auth: 'admin',
    query: z.object({ tenant: TenantId.optional(), after: z.string().optional().describe('"next" of the previous page'), limit: QueryInt.optional().describe(`1 to ${MAX_PAGE}, default 100`) }),
    ok: {
      200: z.object({
        items: z.array(z.object({ id: MessageId, tenant: TenantId, ref: z.string(), to: z.string(), from: z.string(), text: z.string(), parts: z.number().int(), acceptedAt: z.number(), reason: z.object({ code: z.string(), text: z.string() }) })),
        next: z.string().nullable(),
      }),
    },
    errors: ['INVALID_FIELD', 'NOT_FOUND', 'UNAVAILABLE'],
  }),
  route({
    method: 'post',
    path: '/v1/admin/held/approve',
    summary: 'Approve held messages: each goes on to its SMSC queue (or its schedule, or the pause stream)',
    tags: ['moderation'],
    auth: 'admin',
    body: HeldBody,
    ok: { 200: z.object({ approved: z.number().int(), queued: z.number().int(), scheduled: z.number().int(), paused: z.number().int(), stopped: z.number().int(), notHeld: z.array(MessageId) }) },
    errors: ['INVALID_FIELD', 'UNAVAILABLE'],
  }),
  route({
    method: 'post',
    path: '/v1/admin/held/reject',
    summary: 'Reject held messages (stopped, MODERATION_REJECTED with the reason); "reason" is required',
    tags: ['moderation'],
    auth: 'admin',
    body: HeldBody,
    ok: { 200: z.object({ rejected: z.number().int(), notHeld: z.array(MessageId) }) },
    errors: ['INVALID_FIELD', 'UNAVAILABLE'],
  }),
];
