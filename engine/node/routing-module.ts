/**
 * Routing (engine/routing/routing-service.ts): the route tables, MNP, the
 * fleet-wide SMSC health view and failover (moved only by the `failover`
 * leader), with the admin routes that explain a route and reload the tables.
 */
import { z } from 'zod';
import { route, TenantId, type RouteSpec } from '../api-spec/route-spec.js';
import { sendError, sendJson as json } from '../http/http-kit.js';
import { RoutingService } from '../routing/routing-service.js';
import type { Supervisor } from '../actors/supervisor.js';
import type { NodeContext } from './node-context.js';
import type { NodeModule } from './node-module.js';

export interface RoutingModule extends NodeModule {
  readonly routing: RoutingService;
}

export function routingModule(ctx: NodeContext, d: { readonly supervisor: Supervisor }): RoutingModule {
  const { config, fleet } = ctx;
  const routing = new RoutingService({ config, configFile: ctx.options.configFile, redis: ctx.redis, store: ctx.store, log: ctx.log, env: ctx.env, fleetHealth: ctx.figures, failoverLeader: () => fleet.isLeader('failover') });
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
        try {
          json(res, '200 OK', { ok: true, ...routing.reload() });
        } catch (err) {
          sendError(res, 'CONFIG_INVALID', (err as Error).message);
        }
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
  route({ method: 'post', path: '/v1/admin/routing/reload', summary: 'Re-read the config and plan files and swap the routing in whole', tags: ['routing'], auth: 'admin', ok: { 200: z.looseObject({ ok: z.literal(true) }) }, errors: ['CONFIG_INVALID'] }),
];
