/**
 * Inbound (MO) messages no tenant could be attributed (the number they were
 * sent to is in no tenant's inboundNumbers and there is no mo.defaultTenant),
 * for the admin: GET /v1/admin/mo/unattributed?limit=N (newest first, at
 * most the last 10,000 kept, in the stream `{P}{c}:mou`).
 */
import type uWS from 'uWebSockets.js';
import type { RedisClient } from '../redis/connect-redis.js';
import type { Keys } from '../queue/keys.js';
import { z } from 'zod';
import { QueryInt, route, type RouteSpec } from '../api-spec/route-spec.js';
import { guard, sendError, sendJson, type ApiAuth, type AuthTenant } from './http-kit.js';

export function registerMoRoutes(app: uWS.TemplatedApp, d: { readonly redis: RedisClient; readonly keys: Keys; readonly auth: ApiAuth<AuthTenant> }): void {
  app.get('/v1/admin/mo/unattributed', (res, req) => {
    if (!d.auth.admin(res, req)) return;
    const limit = req.getQuery('limit') ? Number(req.getQuery('limit')) : 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return sendError(res, 'INVALID_FIELD', '"limit" must be a whole number from 1 to 1000');
    const g = guard(res);
    return d.redis.xrevrange(d.keys.control('mou'), '+', '-', 'COUNT', limit).then(
      (entries) => void (g.alive() && sendJson(res, '200 OK', `{"items":[${entries.map(([, f]) => f[f.indexOf('f') + 1] ?? 'null').join(',')}]}`)),
      (err: Error) => void (g.alive() && sendError(res, 'UNAVAILABLE', err.message)),
    );
  });
}

/** The contract of this route (engine/api-spec/). */
export const MO_ROUTES: readonly RouteSpec[] = [
  route({
    method: 'get',
    path: '/v1/admin/mo/unattributed',
    summary: 'MO messages to numbers no tenant owns, newest first',
    tags: ['admin'],
    auth: 'admin',
    query: z.object({ limit: QueryInt.optional().describe('1 to 1000, default 100') }),
    ok: { 200: z.object({ items: z.array(z.looseObject({ op: z.literal('mo') }).nullable()).describe('MO frames as the WebSocket pushes them') }) },
    errors: ['INVALID_FIELD', 'UNAVAILABLE'],
  }),
];
