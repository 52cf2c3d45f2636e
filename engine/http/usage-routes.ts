/**
 * GET /v1/usage?from=YYYY-MM-DD&to=YYYY-MM-DD — a tenant's usage by UTC day
 * (messages, segments, cost per currency; lifecycle/usage.ts). With a tenant
 * key: its own; with the admin key: any tenant's, named by `tenant=ID`.
 * Both days default to today; a range is at most 366 days.
 */
import type { RedisClient } from '../redis/connect-redis.js';
import type uWS from 'uWebSockets.js';
import type { Clock } from '../flow/clock.js';
import { dayOf, MAX_USAGE_DAYS, parseDay, readUsage } from '../lifecycle/usage.js';
import type { Keys } from '../queue/keys.js';
import { z } from 'zod';
import { route, TenantId, type RouteSpec } from '../api-spec/route-spec.js';
import { ApiAuth, guard, sendError, sendJson, type AuthTenant } from './http-kit.js';

export interface UsageRoutesOptions {
  readonly auth: ApiAuth<AuthTenant>;
  readonly redis: RedisClient;
  readonly keys: Keys;
  readonly clock: Clock;
  /** Every tenant's id → its billOn. */
  readonly tenants: ReadonlyMap<string, 'sent' | 'delivered'>;
}

export function registerUsageRoutes(app: uWS.TemplatedApp, o: UsageRoutesOptions): void {
  app.get('/v1/usage', (res, req) => {
    const q = new URLSearchParams(req.getQuery() ?? '');
    let tenant: string;
    if (o.auth.tenantOfKey(ApiAuth.keyOf(req)) !== undefined) tenant = (o.auth.tenantOfKey(ApiAuth.keyOf(req)) as AuthTenant).id;
    else if (o.auth.isAdmin(req)) {
      const t = q.get('tenant');
      if (t === null || !o.tenants.has(t)) return sendError(res, 'BAD_REQUEST', t === null ? 'with the admin key, name the tenant: ?tenant=ID' : `no tenant "${t}"`);
      tenant = t;
    } else {
      // Answers 401 with the usual text.
      o.auth.tenant(res, req);
      return;
    }
    const today = dayOf(o.clock.now());
    const from = q.get('from') ? parseDay(q.get('from') as string) : today;
    const to = q.get('to') ? parseDay(q.get('to') as string) : today;
    if (from === undefined || to === undefined) return sendError(res, 'BAD_REQUEST', '"from" and "to" must be days as YYYY-MM-DD (UTC)');
    if (to < from) return sendError(res, 'BAD_REQUEST', '"to" is before "from"');
    if (to - from + 1 > MAX_USAGE_DAYS) return sendError(res, 'BAD_REQUEST', `at most ${MAX_USAGE_DAYS} days per request`);
    const g = guard(res);
    return readUsage(o.redis, o.keys, tenant, from, to, o.tenants.get(tenant) ?? 'sent').then(
      (r) => void (g.alive() && sendJson(res, '200 OK', r)),
      (err: Error) => void (g.alive() && sendError(res, 'UNAVAILABLE', `usage lookup failed: ${err.message}`)),
    );
  });
}

const Day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/).describe('a UTC day, YYYY-MM-DD');
const Totals = z.object({ messages: z.number().int(), segments: z.number().int(), cost: z.record(z.string(), z.number()).describe('by currency') });

/** The contracts of these routes (engine/api-spec/). */
export const USAGE_ROUTES: readonly RouteSpec[] = [
  route({
    method: 'get',
    path: '/v1/usage',
    summary: "A tenant's usage by UTC day: messages, segments, cost per currency",
    tags: ['usage'],
    auth: 'tenant-or-admin',
    query: z.object({ from: Day.optional().describe('default today'), to: Day.optional().describe('default today'), tenant: TenantId.optional().describe('with the admin key: whose usage') }),
    ok: { 200: z.object({ tenant: TenantId, from: Day, to: Day, billOn: z.enum(['sent', 'delivered']), days: z.array(Totals.extend({ day: Day })), total: Totals }) },
    errors: ['UNAVAILABLE'],
  }),
];
