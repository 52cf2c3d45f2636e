/**
 * Routing (engine/routing/routing-service.ts): the route tables, MNP, the
 * fleet-wide SMSC health view and failover (moved only by the `failover`
 * leader), with the admin routes that explain a route and reload the tables.
 */
import { sendJson as json } from '../http/http-kit.js';
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
        if (!isAdmin(req)) return json(res, '401 Unauthorized', { op: 'error', code: 'UNAUTHORIZED', error: 'admin key required (SWITCHYARD_ADMIN_KEY)' });
        const q = new URLSearchParams(req.getQuery() ?? '');
        // An unencoded "+" in a query string reads as a space ("?to=+4791234567"); numbers allow no leading space.
        const to = (q.get('to') ?? '').replace(/^ (?=[0-9])/, '+');
        const tenant = q.get('tenant') ?? config.tenants[0]?.id ?? '';
        if (to === '') return json(res, '400 Bad Request', { op: 'error', code: 'BAD_REQUEST', error: 'give the number as ?to=+4791234567 (and &tenant=ID)' });
        const x = routing.explain(to, tenant);
        json(res, 'error' in x ? '400 Bad Request' : '200 OK', 'error' in x ? { op: 'error', code: 'INVALID_NUMBER', error: x.error } : x);
      });
      app.post('/v1/admin/routing/reload', (res, req) => {
        if (!isAdmin(req)) return json(res, '401 Unauthorized', { op: 'error', code: 'UNAUTHORIZED', error: 'admin key required (SWITCHYARD_ADMIN_KEY)' });
        try {
          json(res, '200 OK', { ok: true, ...routing.reload() });
        } catch (err) {
          json(res, '400 Bad Request', { op: 'error', code: 'CONFIG_INVALID', error: (err as Error).message });
        }
      });
    },
  };
}
