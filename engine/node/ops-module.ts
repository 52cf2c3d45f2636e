/**
 * What operators and load balancers ask a node: /healthz, /readyz, /metrics
 * (Prometheus exposition of every thread, engine/metrics/) and /v1/status, and
 * the event-loop delay of the ingress thread that /v1/status reports.
 *
 * /metrics is open on the engine's (loopback by default) address; with
 * SWITCHYARD_METRICS_KEY set, a bearer token is required, compared in constant
 * time like the admin key (hashed, timingSafeEqual): a plain !== leaked the
 * key's prefix in timing.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { bearerOf, secretCheck, sendJson as json } from '../http/http-kit.js';
import { registerReadyzRoute } from '../http/readyz-route.js';
import type { ActorsModule } from './actors-module.js';
import type { AnalyticsModule } from './analytics-module.js';
import type { IngressModule } from './ingress-module.js';
import type { NodeContext } from './node-context.js';
import type { NodeModule } from './node-module.js';
import type { PushModule } from './push-module.js';
import type { RoutingModule } from './routing-module.js';
import type { WebhooksModule } from './webhooks-module.js';

export interface OpsDeps {
  readonly ingress: IngressModule;
  readonly push: PushModule;
  readonly actors: ActorsModule;
  readonly routing: RoutingModule;
  readonly analytics: AnalyticsModule;
  readonly webhooks: WebhooksModule;
}

export function opsModule(ctx: NodeContext, d: OpsDeps): NodeModule {
  const { config, metrics } = ctx;
  const metricsKey = ctx.env.SWITCHYARD_METRICS_KEY;
  const metricsKeyOk = secretCheck(metricsKey);
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  const { supervisor } = d.actors;
  const { routing } = d.routing;
  const analytics = d.analytics.host;
  return {
    name: 'ops',
    start: () => void loopDelay.enable(),
    stop: () => void loopDelay.disable(),
    routes(app, { isAdmin }) {
      app.get('/healthz', (res) => json(res, '200 OK', { status: 'ok' }));
      app.get('/metrics', (res, req) => {
        if (metricsKey !== undefined && metricsKey !== '' && !metricsKeyOk(bearerOf(req)))
          return json(res, '401 Unauthorized', { op: 'error', code: 'UNAUTHORIZED', error: 'metrics need the SWITCHYARD_METRICS_KEY bearer token' });
        let aborted = false;
        res.onAborted(() => (aborted = true));
        return metrics.expose().then(
          (text) => void (!aborted && res.cork(() => res.writeStatus('200 OK').writeHeader('content-type', 'text/plain; version=0.0.4; charset=utf-8').writeHeader('x-content-type-options', 'nosniff').end(text))),
          (err: Error) => void (!aborted && json(res, '500 Internal Server Error', { op: 'error', code: 'UNAVAILABLE', error: `metrics failed: ${err.message}` })),
        );
      });
      registerReadyzRoute(app, {
        ping: () => ctx.redis.ping(),
        actors: () => config.smscs.map((s) => ({ smsc: s.id, ...supervisor.actorState(s.id) })),
        starting: () => routing.startingSmscs,
        routable: () => routing.anySmscUp,
        analytics: () => (analytics === undefined ? 'off' : analytics.state),
        isAdmin,
        metricsKey,
      });
      app.get('/v1/status', (res, req) => {
        if (!isAdmin(req)) return json(res, '401 Unauthorized', { op: 'error', code: 'UNAUTHORIZED', error: 'admin key required (SWITCHYARD_ADMIN_KEY)' });
        const { ingress, batcher } = d.ingress;
        json(res, '200 OK', {
          ingress: {
            ...ingress.stats,
            enqueueBatches: batcher.batches,
            enqueueP50Ms: batcher.latency.quantile(0.5),
            enqueueP99Ms: batcher.latency.quantile(0.99),
            ackP50Ms: ingress.ackLatency.quantile(0.5),
            ackP99Ms: ingress.ackLatency.quantile(0.99),
            eventLoopDelayP99Ms: loopDelay.percentile(99) / 1e6,
            eventLoopDelayMaxMs: loopDelay.max / 1e6,
            statusCatchUps: d.push.dispatcher.catchUps,
          },
          actors: supervisor.stats(),
          analytics: analytics?.state ?? 'off',
          webhooks: d.webhooks.host?.state ?? 'off',
          routing: { prefixes: routing.planSize, mnpNumbers: routing.mnpSize, reloads: routing.reloads, reloadFailures: routing.reloadFailures, failoverMoved: routing.failoverMoved, smscs: routing.health.snapshot() },
        });
      });
    },
  };
}
