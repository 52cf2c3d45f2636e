/**
 * Routing (engine/routing/routing-service.ts): the route tables, MNP, the
 * fleet-wide SMSC health view and failover (moved only by the `failover`
 * leader), with the admin routes that explain a route and reload the tables.
 */
import { z } from 'zod';
import type { Config } from '../../config/index.js';
import { route, TenantId, type RouteSpec } from '../api-spec/route-spec.js';
import { guard, sendError, sendJson as json } from '../http/http-kit.js';
import type { ReloadOutcome } from '../tenants/tenants-module.js';
import { RoutingService } from '../routing/routing-service.js';
import type { Supervisor } from '../actors/supervisor.js';
import type { NodeContext } from './node-context.js';
import type { NodeModule } from './node-module.js';

export interface RoutingModule extends NodeModule {
  readonly routing: RoutingService;
}

export function routingModule(ctx: NodeContext, d: { readonly supervisor: Supervisor; readonly reloaded?: (next: Config) => Promise<ReloadOutcome> }): RoutingModule {
  const { config, fleet } = ctx;
  // What the last reload did beyond routing (the tenant directory: engine/tenants/); the reload's answer awaits it.
  let lastReload: Promise<ReloadOutcome> | undefined;
  const reloaded = d.reloaded;
  const onReloaded = reloaded === undefined ? undefined : (next: Config): void => {
    lastReload = reloaded(next);
    void lastReload.then((r) => r.ok || ctx.log('warn', `config reload: ${r.error ?? ''}`));
  };
  const routing = new RoutingService({ config, ...(onReloaded === undefined ? {} : { onReloaded }), configFile: ctx.options.configFile, redis: ctx.redis, store: ctx.store, log: ctx.log, env: ctx.env, fleetHealth: ctx.figures, failoverLeader: () => fleet.isLeader('failover') });
  const f = ctx.metricFeeds;
  f.health = () => routing.health;
  f.failoverMoved = () => routing.failoverMoved;
  f.reloads = () => ({ ok: routing.reloads, refused: routing.reloadFailures });
  const { supervisor } = d;
  return {
    name: 'routing',
    routing,
    start: () => routing.start(() => supervisor.stats(), (smsc) => supervisor.actorState(smsc)?.running ?? false),
    stop: () => routing.stop(),
    routes(app, { isAdmin }) {
      // Why a number goes where it goes: network, every candidate with its price and eligibility, the choice.
      app.get('/v1/routes/explain', (res, req) => {
        if (!isAdmin(req)) return sendError(res, 'UNAUTHORIZED', 'admin key required (SWITCHYARD_ADMIN_KEY)');
        const q = new URLSearchParams(req.getQuery() ?? '');
        // An unencoded "+" in a query string reads as a space ("?to=+4791234567"); numbers allow no leading space.
        const to = (q.get('to') ?? '').replace(/^ (?=[0-9])/, '+');
        const tenant = q.get('tenant') ?? config.tenants[0]?.id ?? '';
        if (to === '') return sendError(res, 'BAD_REQUEST', 'give the number as ?to=+4791234567 (and &tenant=ID)');
        const x = routing.explain(to, tenant);
        if ('error' in x) return sendError(res, 'INVALID_NUMBER', x.error);
        json(res, '200 OK', x);
      });
      app.post('/v1/admin/routing/reload', (res, req) => {
        if (!isAdmin(req)) return sendError(res, 'UNAUTHORIZED', 'admin key required (SWITCHYARD_ADMIN_KEY)');
        let r: ReturnType<RoutingService['reload']>;
        try {
          lastReload = undefined;
          r = routing.reload();
        } catch (err) {
          return sendError(res, 'CONFIG_INVALID', (err as Error).message);
        }
        // Honest: ok:true only once everything the file changed is applied; else 409 RELOAD_INCOMPLETE names what is not.
        // Set by onReloaded inside reload() (TypeScript cannot see that assignment through the call).
        const pending = lastReload as Promise<ReloadOutcome> | undefined;
        if (pending === undefined) return json(res, '200 OK', { ok: true, ...r });
        const g = guard(res);
        return pending.then((o) => {
          if (!g.alive()) return;
          if (o.ok) json(res, '200 OK', { ok: true, ...r, ...o.detail });
          else sendError(res, 'RELOAD_INCOMPLETE', o.error ?? 'not everything was applied', { details: { ok: false, ...r, ...o.detail } });
        });
      });
    },
  };
}

/** The contracts of these routes (engine/api-spec/). */
export const ROUTING_ROUTES: readonly RouteSpec[] = [
  route({
    method: 'get',
    path: '/v1/routes/explain',
    summary: "Why a number goes where it goes: network, every candidate with its price and eligibility, the choice",
    tags: ['routing'],
    auth: 'admin',
    query: z.object({ to: z.string().describe('the number, e.g. +4791234567 (an unencoded + reads as a space and is taken as +)'), tenant: TenantId.optional().describe('default the first tenant') }),
    ok: { 200: z.looseObject({}) },
    errors: ['INVALID_NUMBER'],
  }),
  route({ method: 'post', path: '/v1/admin/routing/reload', summary: 'Re-read the config and plan files and swap the routing in whole', tags: ['routing'], auth: 'admin', ok: { 200: z.looseObject({ ok: z.literal(true) }) }, errors: ['CONFIG_INVALID', 'RELOAD_INCOMPLETE'] }),
];
