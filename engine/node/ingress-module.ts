/**
 * The ingress (engine/ingress/): WebSocket and HTTP submits, their accept path
 * (route, encode, pick a shard), the enqueue batcher and the tenants' rate
 * limits (a tenant's tps is the fleet's: engine/fleet/tenant-rate.ts). It hosts
 * every module's HTTP routes and WebSocket ops (`routes`, given by the engine).
 *
 * It starts last: it warms up the accept path (which blocks the thread), then
 * the node joins the fleet (takes its leases: taken before the warm-up they
 * would run out during it), then it listens. It stops first: no new submits,
 * and accepted ones reach Redis before the connections go.
 */
import type uWS from 'uWebSockets.js';
import { resolveSecret } from '../../config/index.js';
import { FleetTenantBucket, primeAll } from '../fleet/tenant-rate.js';
import { EnqueueBatcher } from '../ingress/enqueue-batcher.js';
import { IngressServer, type WsOp } from '../ingress/ingress-server.js';
import { ShardPicker } from '../ingress/shard-picker.js';
import { warmUpAcceptPath } from '../ingress/warm-up.js';
import type { AnalyticsModule } from './analytics-module.js';
import type { LifecycleModule } from './lifecycle-module.js';
import type { NodeContext } from './node-context.js';
import type { HttpScope, NodeModule } from './node-module.js';
import type { PolicyModule } from './policy-module.js';
import type { PushModule } from './push-module.js';
import type { RoutingModule } from './routing-module.js';

export interface IngressModule extends NodeModule {
  readonly ingress: IngressServer;
  readonly batcher: EnqueueBatcher;
  /** The port it listens on (after start). */
  readonly port: number;
}

export interface IngressDeps {
  readonly push: PushModule;
  readonly policy: PolicyModule;
  readonly lifecycle: LifecycleModule;
  readonly analytics: AnalyticsModule;
  readonly routing: RoutingModule;
  /** Every module's routes and WebSocket ops (NodeModules.routes). */
  readonly routes: (app: uWS.TemplatedApp, http: HttpScope) => ReadonlyMap<string, WsOp>;
}

export function ingressModule(ctx: NodeContext, d: IngressDeps): IngressModule {
  const { config, clock, fleet, log } = ctx;
  const tenants = config.tenants.map((t) => ({ id: t.id, apiKey: resolveSecret(t.apiKey, `tenants[${t.id}].apiKey`, ctx.env), tps: t.tps, window: t.window }));
  const lifecycle = d.lifecycle.lifecycle;
  const routing = d.routing.routing;
  const { moderator } = d.policy;
  const batcher = new EnqueueBatcher(ctx.store);
  const shardPicker = new ShardPicker(config.redis.shards);
  // Every tenant's rate grant kept ready while other nodes are live (fleet/tenant-rate.ts).
  const tenantBuckets: FleetTenantBucket[] = [];
  fleet.onTick(() => primeAll(tenantBuckets, ctx.figures.liveNodes));
  if (config.engine.metrics) batcher.onLatency = (ms) => ctx.metrics.enqueue(ms);
  const narrowAlphabets = new Map(config.smscs.filter((s) => s.alphabet === 'latin1' || s.alphabet === 'ia5').map((s) => [s.id, s.alphabet]));
  const ingress: IngressServer = new IngressServer({
    host: config.server.host,
    port: ctx.options.port ?? config.server.port,
    maxFrameBytes: config.server.maxFrameBytes,
    idleTimeoutSec: config.server.idleTimeoutSec,
    maxBackpressureBytes: config.server.maxBackpressureBytes,
    maxBufferedBytes: config.server.maxBufferedBytes,
    slowConsumerCloseSec: config.server.slowConsumerCloseSec,
    maxConnectionsPerTenant: config.server.maxConnectionsPerTenant,
    maxConnectionsPerIp: config.server.maxConnectionsPerIp,
    ingressCpuMsPerSec: config.server.ingressCpuMsPerSec,
    log,
    maxPendingEnqueue: config.server.maxPendingEnqueue,
    maxBatchItems: config.messages.maxBatchItems,
    maxValiditySec: config.messages.maxValiditySec,
    ...lifecycle.ingressOptions(),
    tenants: tenants.map((t) => ({ ...t, ...lifecycle.tenant(t.id) })),
    adminKey: ctx.env.SWITCHYARD_ADMIN_KEY,
    accept: {
      router: () => routing.router,
      shard: () => shardPicker.next(),
      maxParts: config.messages.maxParts,
      defaultValiditySec: config.messages.defaultValiditySec,
      receiptGraceSec: config.messages.receiptGraceSec,
      flagged: (tenant, e164) => d.analytics.flagged.refuses(tenant, e164),
      // SMSCs whose alphabet lacks some of GSM-7 (texts with such characters go to them in UCS-2); none: no look-up per message.
      ...(narrowAlphabets.size > 0 ? { alphabets: narrowAlphabets } : {}),
      ...(moderator.active ? { moderate: (tenant: string, text: string) => moderator.moderate(tenant, text) } : {}),
    },
    batcher,
    dispatcher: d.push.dispatcher,
    clock,
    // A tenant's tps is the fleet's: alone the local bucket, with other live nodes grants from Redis (fleet/tenant-rate.ts).
    tenantBucket: (tenant, tps) => {
      const b = new FleetTenantBucket(tenant, tps, { redis: ctx.redis, prefix: config.redis.keyPrefix, clock, liveNodes: () => ctx.figures.liveNodes, grantMs: config.fleet.tenantGrantMs, log });
      tenantBuckets.push(b);
      return b;
    },
    awaitNetwork: (to) => routing.awaitNetwork(to),
    ...(config.engine.metrics ? { observer: ctx.metrics } : {}),
    extraRoutes: (app) => d.routes(app, { auth: ingress.auth, isAdmin: (req) => ingress.auth.isAdmin(req) }),
  });
  ctx.metricFeeds.wsConnections = () => ingress.stats.connections;
  ctx.metricFeeds.framesIn = () => ingress.stats.framesIn;
  let port = 0;
  return {
    name: 'ingress',
    ingress,
    batcher,
    get port() {
      return port;
    },
    async start() {
      const warmMs = warmUpAcceptPath(ingress.acceptContext, config.messages.maxValiditySec);
      // Leases are taken from here on (the warm-up above blocks the thread: leases taken before it would run out).
      await fleet.start();
      port = await ingress.listen();
      fleet.setAddress(`${config.server.host}:${port}`);
      log('info', `accept path warmed up in ${warmMs.toFixed(0)} ms`);
      log('info', `switchyard listening on http://${config.server.host}:${port} (ws /v1/ws), ${config.smscs.length} SMSC actor(s)`);
    },
    async stop() {
      ingress.close();
      // Let accepted messages reach Redis before the connections go.
      for (let i = 0; i < 200 && batcher.pending > 0; i++) await new Promise((ok) => setTimeout(ok, 10));
    },
  };
}
