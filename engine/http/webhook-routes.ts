/**
 * Admin endpoints of the webhooks (admin key, SWITCHYARD_ADMIN_KEY):
 *
 *   GET    /v1/admin/webhooks                                   every tenant's webhook: mode, queued, dead letters, failures, last error
 *   GET    /v1/admin/webhooks/:tenant/dead-letters?offset&limit  dead letters, oldest first (limit ≤ 1000)
 *   POST   /v1/admin/webhooks/:tenant/dead-letters/replay?limit  moves the oldest `limit` (default all) back to the tenant's queue
 *   DELETE /v1/admin/webhooks/:tenant/dead-letters               discards them
 *   POST   /v1/admin/webhooks/:tenant/retry                      ends a backoff now (the receiver is known to be back)
 *
 * A replay moves events in script calls of REPLAY_STEP (each a few ms of
 * Redis time, so message traffic is not held up) to the tail of the queue of
 * this engine node's dispatcher (lane 0), which is then told to drain it.
 * A tenant's dead letters and queues share its hash tag (whd:{T}, whq:{T}:…),
 * so each script call, MULTI and command stays in one Redis Cluster slot;
 * the listing reads every tenant's keys as one command each.
 */
import type { RedisClient } from '../redis/connect-redis.js';
import type uWS from 'uWebSockets.js';
import type { Keys } from '../queue/keys.js';
import { loadLuaScript, luaPath } from '../redis/lua-loader.js';
import { runCommands, type RedisCommand } from '../redis/run-commands.js';
import { MAX_LANES } from '../webhooks/webhook-dispatcher.js';
import type { WebhookHost } from '../webhooks/webhook-host.js';
import { z } from 'zod';
import { QueryInt, route, TenantId, type RouteSpec } from '../api-spec/route-spec.js';
import { guard, sendError, sendJson, type ApiAuth, type AuthTenant } from './http-kit.js';

/** Takes the oldest ARGV[1] dead letters, appends their events to the queue, returns {moved, left}. */
export const REPLAY = loadLuaScript(luaPath(import.meta.url, '../webhooks/lua/replay-dead-letters.lua'));

const REPLAY_STEP = 2000;

/**
 * Moves up to `limit` of the tenant's oldest dead letters back to its queue on
 * `node` (lane 0), REPLAY_STEP per script call; returns how many moved and how
 * many are left. Both keys carry the tenant's hash tag: one slot.
 */
export async function replayDeadLetters(redis: RedisClient, keys: Keys, tenant: string, node: string, limit: number): Promise<{ replayed: number; remaining: number }> {
  const k = [keys.webhookDeadLetters(tenant), keys.webhookQueue(tenant, node)];
  let replayed = 0;
  let remaining = 0;
  while (replayed < limit) {
    const [moved, rest] = (await redis.eval(REPLAY.lua, REPLAY.numberOfKeys, ...k, Math.min(REPLAY_STEP, limit - replayed))) as [number, number];
    replayed += moved;
    remaining = rest;
    if (moved === 0 || rest === 0) break;
  }
  return { replayed, remaining };
}

export interface WebhookRoutesDeps {
  readonly auth: () => ApiAuth<AuthTenant>;
  readonly redis: RedisClient;
  readonly keys: Keys;
  readonly node: string;
  /** Tenants with a webhook, and their URLs. */
  readonly tenants: ReadonlyMap<string, { readonly url: string }>;
  readonly host: WebhookHost | undefined;
}

function intParam(req: uWS.HttpRequest, name: string, dflt: number, max: number): number | string {
  const v = req.getQuery(name);
  if (v === undefined || v === '') return dflt;
  if (!/^\d+$/.test(v)) return `${name} must be a non-negative integer`;
  return Math.min(max, Number(v));
}

export function registerWebhookRoutes(app: uWS.TemplatedApp, d: WebhookRoutesDeps): void {
  const fail = (res: uWS.HttpResponse, alive: () => boolean) => (err: Error) => void (alive() && sendError(res, 'UNAVAILABLE', `redis: ${err.message}`));
  /** The tenant of the path if the caller is admin and it has a webhook; otherwise answers and returns undefined. */
  const tenantOf = (res: uWS.HttpResponse, req: uWS.HttpRequest): string | undefined => {
    if (!d.auth().admin(res, req)) return undefined;
    const t = req.getParameter(0) ?? '';
    if (!d.tenants.has(t)) {
      sendError(res, 'NOT_FOUND', `no tenant "${t}" with a webhook`);
      return undefined;
    }
    return t;
  };

  app.get('/v1/admin/webhooks', (res, req) => {
    if (!d.auth().admin(res, req)) return;
    const g = guard(res);
    const ids = [...d.tenants.keys()];
    // Tenants' keys are in their own slots: one command each (run-commands.ts), not one pipeline.
    const cmds: RedisCommand[] = [];
    for (const t of ids) {
      cmds.push(['LLEN', d.keys.webhookDeadLetters(t)]);
      for (let lane = 0; lane < MAX_LANES; lane++) cmds.push(['LLEN', d.keys.webhookQueue(t, d.node, lane)]);
    }
    return runCommands(d.redis, cmds).then((r) => {
      if (!g.alive()) return;
      const live = new Map((d.host?.state.tenants ?? []).map((s) => [s.tenant, s]));
      const n = (k: number) => Number(r[k] ?? 0);
      const tenants = ids.map((t, i) => {
        const at = i * (MAX_LANES + 1);
        let queued = 0;
        for (let lane = 0; lane < MAX_LANES; lane++) queued += n(at + 1 + lane);
        return { ...live.get(t), tenant: t, url: d.tenants.get(t)?.url, queued, deadLetters: n(at) };
      });
      sendJson(res, '200 OK', { running: d.host?.state.running ?? false, restarts: d.host?.state.restarts ?? 0, lagMs: d.host?.state.lagMs ?? 0, tenants });
    }, fail(res, g.alive));
  });

  app.get('/v1/admin/webhooks/:tenant/dead-letters', (res, req) => {
    const t = tenantOf(res, req);
    if (t === undefined) return;
    const offset = intParam(req, 'offset', 0, Number.MAX_SAFE_INTEGER);
    const limit = intParam(req, 'limit', 100, 1000);
    if (typeof offset === 'string' || typeof limit === 'string') return sendError(res, 'BAD_REQUEST', String(typeof offset === 'string' ? offset : limit));
    const g = guard(res);
    const key = d.keys.webhookDeadLetters(t);
    return d.redis
      .multi()
      .llen(key)
      .lrange(key, offset, offset + limit - 1)
      .exec()
      .then((r) => {
        if (!g.alive()) return;
        const items = (r?.[1]?.[1] as string[] | undefined) ?? [];
        // Each item is JSON written by the dispatcher (webhook-batch.ts deadLetter): sent as is.
        sendJson(res, '200 OK', `{"tenant":${JSON.stringify(t)},"total":${Number(r?.[0]?.[1] ?? 0)},"offset":${offset},"items":[${items.join(',')}]}`);
      }, fail(res, g.alive));
  });

  app.post('/v1/admin/webhooks/:tenant/dead-letters/replay', (res, req) => {
    const t = tenantOf(res, req);
    if (t === undefined) return;
    const limit = intParam(req, 'limit', Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    if (typeof limit === 'string') return sendError(res, 'BAD_REQUEST', limit);
    const g = guard(res);
    return (async () => {
      const r = await replayDeadLetters(d.redis, d.keys, t, d.node, limit);
      d.host?.kick(t, true);
      if (g.alive()) sendJson(res, '200 OK', { tenant: t, replayed: r.replayed, remaining: r.remaining });
    })().catch(fail(res, g.alive));
  });

  app.del('/v1/admin/webhooks/:tenant/dead-letters', (res, req) => {
    const t = tenantOf(res, req);
    if (t === undefined) return;
    const g = guard(res);
    const key = d.keys.webhookDeadLetters(t);
    return d.redis
      .multi()
      .llen(key)
      .del(key)
      .exec()
      .then((r) => void (g.alive() && sendJson(res, '200 OK', { tenant: t, deleted: Number(r?.[0]?.[1] ?? 0) })), fail(res, g.alive));
  });

  app.post('/v1/admin/webhooks/:tenant/retry', (res, req) => {
    const t = tenantOf(res, req);
    if (t === undefined) return;
    d.host?.kick(t, true);
    sendJson(res, '200 OK', { tenant: t, ok: true });
  });
}

const WebhookTenant = z.object({ tenant: TenantId });

/** The contracts of these routes (engine/api-spec/). */
export const WEBHOOK_ROUTES: readonly RouteSpec[] = [
  route({
    method: 'get',
    path: '/v1/admin/webhooks',
    summary: "Every tenant's webhook: queued events, dead letters, failures, last error",
    tags: ['webhooks'],
    auth: 'admin',
    ok: {
      200: z.object({
        running: z.boolean(),
        restarts: z.number().int(),
        lagMs: z.number(),
        tenants: z.array(z.looseObject({ tenant: TenantId, url: z.string().optional(), queued: z.number().int(), deadLetters: z.number().int() })),
      }),
    },
    errors: ['UNAVAILABLE'],
  }),
  route({
    method: 'get',
    path: '/v1/admin/webhooks/:tenant/dead-letters',
    summary: "A page of a tenant's dead letters, oldest first",
    tags: ['webhooks'],
    auth: 'admin',
    params: WebhookTenant,
    query: z.object({ offset: QueryInt.optional().describe('default 0'), limit: QueryInt.optional().describe('default 100, at most 1000') }),
    ok: { 200: z.object({ tenant: TenantId, total: z.number().int(), offset: z.number().int(), items: z.array(z.looseObject({})).describe('dead letters as the dispatcher wrote them') }) },
    errors: ['NOT_FOUND', 'UNAVAILABLE'],
  }),
  route({
    method: 'post',
    path: '/v1/admin/webhooks/:tenant/dead-letters/replay',
    summary: "Moves a tenant's oldest dead letters back to its webhook queue",
    tags: ['webhooks'],
    auth: 'admin',
    params: WebhookTenant,
    query: z.object({ limit: QueryInt.optional().describe('default all') }),
    ok: { 200: z.object({ tenant: TenantId, replayed: z.number().int(), remaining: z.number().int() }) },
    errors: ['NOT_FOUND', 'UNAVAILABLE'],
  }),
  route({
    method: 'delete',
    path: '/v1/admin/webhooks/:tenant/dead-letters',
    summary: "Discards a tenant's dead letters",
    tags: ['webhooks'],
    auth: 'admin',
    params: WebhookTenant,
    ok: { 200: z.object({ tenant: TenantId, deleted: z.number().int() }) },
    errors: ['NOT_FOUND', 'UNAVAILABLE'],
  }),
  route({
    method: 'post',
    path: '/v1/admin/webhooks/:tenant/retry',
    summary: "Ends a tenant's webhook backoff now",
    tags: ['webhooks'],
    auth: 'admin',
    params: WebhookTenant,
    ok: { 200: z.object({ tenant: TenantId, ok: z.literal(true) }) },
    errors: ['NOT_FOUND'],
  }),
];
