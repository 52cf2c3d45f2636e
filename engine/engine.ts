/**
 * Wires one Switchyard engine node: Redis adapter, router, ingress, status
 * dispatcher and the supervisor of operator actors. `startEngine` resolves once
 * the ingress listens and every actor has been started.
 */
import { dirname, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import type uWS from 'uWebSockets.js';
import { resolveSecret, type Config } from '../config/index.js';
import type { ActorSmscConfig, ActorStats } from './actors/messages.js';
import { Supervisor } from './actors/supervisor.js';
import { systemClock, type Clock } from './flow/clock.js';
import { EnqueueBatcher } from './ingress/enqueue-batcher.js';
import { warmUpAcceptPath } from './ingress/warm-up.js';
import { IngressServer, type WsOp } from './ingress/ingress-server.js';
import { StatusDispatcher } from './push/status-dispatcher.js';
import { RedisStore } from './queue/redis-store.js';
import { Keys } from './queue/keys.js';
import { Shards } from './queue/shards.js';
import { checkShardLayout } from './queue/shard-layout.js';
import { ShardPicker } from './ingress/shard-picker.js';
import { connectRedis, type RedisTarget } from './redis/connect-redis.js';
import { EventsTrimmer, type EventGroup } from './queue/events-trimmer.js';
import { ensureGroups, eventsCapPerShard, eventStreamKeys } from './queue/event-streams.js';
import { onRedisError } from './redis/on-redis-error.js';
import { RoutingService } from './routing/routing-service.js';
import { log as defaultLog } from './log.js';
import { bearerOf, secretCheck, sendJson } from './http/http-kit.js';
import { EngineMetrics } from './metrics/engine-metrics.js';
import { AnalyticsHost, type AnalyticsState } from './analytics/analytics-host.js';
import { AnalyticsHome, analyticsBackend } from './analytics/analytics-home.js';
import { FlaggedNumbers } from './analytics/flagged-numbers.js';
import { registerAnalyticsRoutes } from './http/analytics-routes.js';
import { OptOutStore } from './optout/optout-store.js';
import { ParkingStore } from './parking/parking-store.js';
import { PauseControl } from './parking/pause-control.js';
import { Moderator } from './moderation/moderator.js';
import { inboundKey } from './mo/read-mo.js';
import { registerOptOutRoutes } from './http/optout-routes.js';
import { registerHeldRoutes } from './http/held-routes.js';
import { registerPauseRoutes } from './http/pause-routes.js';
import { registerMoRoutes } from './http/mo-routes.js';
import { registerReadyzRoute } from './http/readyz-route.js';
import { Lifecycle } from './lifecycle/lifecycle.js';
import { ANALYTICS_GROUP } from '../analytics/event-sink.js';
import { WEBHOOK_GROUP } from './webhooks/webhook-dispatcher.js';
import { registerWebhookRoutes } from './http/webhook-routes.js';
import { WebhookHost } from './webhooks/webhook-host.js';
import { NodeFigures } from './fleet/node-figures.js';
import { FleetTenantBucket, primeAll } from './fleet/tenant-rate.js';
import { Takeover } from './fleet/takeover.js';
import { Fleet } from './fleet/fleet.js';
import { resolveWebhookTenants } from './webhooks/webhook-tenants.js';
import { SmppIngress, SMPP_GROUP } from './smpp-server/index.js';

export interface EngineOptions {
  /** A single Redis (redis://…), unless `redis` names the target (a cluster). */
  readonly redisUrl?: string;
  /** The Redis to use: a single instance or a cluster's seed nodes (connect-redis.ts). */
  readonly redis?: RedisTarget;
  readonly clock?: Clock;
  readonly env?: NodeJS.ProcessEnv;
  /** Overrides config.server.port (tests use 0). */
  readonly port?: number;
  /** Overrides config.smppServer.port (tests use 0). */
  readonly smppPort?: number;
  readonly log?: (level: 'info' | 'warn' | 'error', msg: string) => void;
  /** The file the config came from: routing reloads re-read it (admin call or file change). */
  readonly configFile?: string;
}

export interface Engine {
  readonly port: number;
  readonly config: Config;
  readonly supervisor: Supervisor;
  readonly ingress: IngressServer;
  readonly store: RedisStore;
  readonly routing: RoutingService;
  readonly optOuts: OptOutStore;
  readonly pauses: PauseControl;
  readonly moderator: Moderator;
  /** The analytics sink's state (undefined when analytics is off). */
  readonly analytics: AnalyticsState | undefined;
  /** The analytics process (queries, live feed, bad numbers); undefined when analytics is off. */
  readonly analyticsHost: AnalyticsHost | undefined;
  /** Numbers the ingress refuses (bad-number detection). */
  readonly flagged: FlaggedNumbers;
  /** Scheduler, cancels, daily quotas, list index, message and usage routes (engine/lifecycle/). */
  readonly lifecycle: Lifecycle;
  /** The webhook dispatcher (undefined when no tenant has a webhook). */
  readonly webhooks: WebhookHost | undefined;
  /** This node in the fleet: heartbeat, bind and leader leases, published figures (engine/fleet/). */
  readonly fleet: Fleet;
  /** Takeover of dead nodes' work (counts for tests and /v1/status). */
  readonly takeover: Takeover;
  /** The SMPP server ingress (engine/smpp-server/; idle unless smppServer.enabled). */
  readonly smpp: SmppIngress;
  actorStats(): ActorStats[];
  stop(): Promise<void>;
}

const json = sendJson;

/**
 * A message's history from analytics, once Redis has let it go: its status is
 * that of its last event. The lookup's answer says where it came from.
 */
async function analyticsHistory(host: AnalyticsHost, tenant: string, id: string): Promise<Record<string, unknown> | undefined> {
  if (!/^[0-9A-Za-z_-]{1,64}$/.test(id)) return undefined;
  const res = await host.request(`/messages/${id}`, `tenant:${tenant}`);
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  if (res.statusCode === 404) return undefined;
  if (res.statusCode !== 200) throw new Error(`analytics answered ${res.statusCode}`);
  const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { events: Array<{ status: string; at: number; errorCode: string; errorText: string; to: string; parts: number; smsc: string; ref: string; acceptedAt: number; price: number; currency: string }> };
  const last = body.events[body.events.length - 1];
  if (last === undefined) return undefined;
  return {
    id, ref: last.ref, to: last.to, status: last.status, parts: last.parts, smsc: last.smsc, acceptedAt: last.acceptedAt,
    price: Math.round(last.price * last.parts * 1e6) / 1e6, currency: last.currency,
    ...(last.errorCode !== '' || last.errorText !== '' ? { error: { code: last.errorCode, text: last.errorText } } : {}),
    events: body.events.map((e) => ({ status: e.status, at: e.at, ...(e.errorCode !== '' || e.errorText !== '' ? { error: { code: e.errorCode, text: e.errorText } } : {}) })),
    source: 'analytics',
  };
}

export async function startEngine(config: Config, o: EngineOptions): Promise<Engine> {
  const env = o.env ?? process.env;
  const log = o.log ?? defaultLog;
  const clock = o.clock ?? systemClock;
  const tenants = config.tenants.map((t) => ({ id: t.id, apiKey: resolveSecret(t.apiKey, `tenants[${t.id}].apiKey`, env), tps: t.tps, window: t.window }));
  const smscs: ActorSmscConfig[] = config.smscs.map((s) => ({ ...s, password: resolveSecret(s.password, `smscs[${s.id}].password`, env) }));
  const webhookTenants = resolveWebhookTenants(config.tenants, env);
  const adminKey = env.SWITCHYARD_ADMIN_KEY;

  const target: RedisTarget = o.redis ?? { kind: 'single', url: o.redisUrl ?? 'redis://127.0.0.1:6379' };
  // Typed as the single-instance client for the modules that have not moved to the sharded layout yet
  // (issue 13): on a cluster the same calls are routed per key by ioredis.
  const redis = connectRedis(target, { connectionName: 'sy-ingress' }) as Redis;
  const blocking = connectRedis(target, { connectionName: 'sy-dispatch', blocking: true }) as Redis;
  // Enqueue scripts get a connection of their own: nothing else waits in front of an ack.
  const queueRedis = connectRedis(target, { connectionName: 'sy-enqueue' });
  onRedisError(queueRedis, 'enqueue', (m) => log('warn', m));
  onRedisError(redis, 'ingress', (m) => log('warn', m));
  onRedisError(blocking, 'dispatch', (m) => log('warn', m));
  await redis.ping();
  const keys = new Keys(config.redis.keyPrefix, new Shards(config.redis.shards));
  // The shard count names every key: a start with another count, or on the unsharded layout, is refused.
  await checkShardLayout(redis, keys);
  // This node in the fleet (engine/fleet/): registered before anything reads as it (a live duplicate
  // node id is refused here), ticking on a connection of its own so that no traffic delays a heartbeat.
  const fleetRedis = connectRedis(target, { connectionName: 'sy-fleet' });
  onRedisError(fleetRedis, 'fleet', (m) => log('warn', m));
  const fleet = new Fleet(fleetRedis, keys, {
    nodeId: config.engine.nodeId,
    addr: `${config.server.host}:${o.port ?? config.server.port}`,
    heartbeatTtlMs: config.fleet.heartbeatTtlMs,
    leaseTtlMs: config.fleet.leaseTtlMs,
    leaseMarginMs: config.fleet.leaseMarginMs,
    smscs: config.smscs.map((s) => ({ id: s.id, binds: s.binds })),
    log,
  });
  try {
    await fleet.register();
  } catch (err) {
    fleetRedis.disconnect();
    redis.disconnect();
    blocking.disconnect();
    queueRedis.disconnect();
    throw err;
  }
  // Embedded chdb serves one node; several analytics nodes share a ClickHouse server (analytics-home.ts).
  // The analytics process is stopped if the claim is lost (this node paused past it, another took it).
  const home = config.analytics.enabled
    ? new AnalyticsHome(redis, keys, analyticsBackend(config.engine.nodeId, config.analytics.cluster, env.CLICKHOUSE_URL), (why) => {
        log('error', `analytics stopped on this node: ${why}`);
        void analytics?.stop();
      })
    : undefined;
  try {
    await home?.start();
  } catch (err) {
    await fleet.stop();
    fleetRedis.disconnect();
    redis.disconnect();
    blocking.disconnect();
    queueRedis.disconnect();
    throw err;
  }
  // messages.statusRetention bounds the events streams together: each shard's stream is capped at its share.
  const eventsMaxLen = eventsCapPerShard(config.messages.statusRetention, config.redis.shards);
  const store = new RedisStore(queueRedis, keys, { eventsMaxLen, finalRetentionSec: config.messages.finalRetentionSec }, {
    waitReplicas: config.redis.waitReplicas,
    waitTimeoutMs: config.redis.waitTimeoutMs,
  });
  // What this node publishes with its fleet tick, and the others' figures (engine/fleet/node-figures.ts).
  const figures = new NodeFigures(fleet);
  const routing = new RoutingService({ config, configFile: o.configFile, redis, store, log, env, fleetHealth: figures, failoverLeader: () => fleet.isLeader('failover') });
  const lifecycle = new Lifecycle({ config, redis, keys: store.keys, clock, log });
  const batcher = new EnqueueBatcher(store);
  const shardPicker = new ShardPicker(config.redis.shards);
  const r = config.server.resume;
  const dispatcher = new StatusDispatcher(redis, blocking, store.keys, { resumeMaxAgeMs: r.maxAgeSec * 1000, maxCatchUps: r.maxCatchUps, maxCatchUpsPerTenant: r.maxCatchUpsPerTenant });

  // The consumer groups of every shard's events stream exist before any traffic: the trimmer keeps
  // what a group has not read (and leaves a stream alone while a group it expects is missing), so a
  // group created later (the analytics process still opening ClickHouse, the webhook thread
  // starting) would find the first events trimmed. Analytics reads from the start of the streams;
  // webhooks from now on (not the history of before they were configured).
  const eventGroups: EventGroup[] = [];
  if (config.analytics.enabled) eventGroups.push({ name: ANALYTICS_GROUP, from: '0' });
  if (webhookTenants.length > 0) eventGroups.push({ name: WEBHOOK_GROUP, from: '$' });
  if (config.smppServer.enabled) eventGroups.push({ name: SMPP_GROUP, from: '$' });
  for (const g of eventGroups) await ensureGroups(redis, eventStreamKeys(store.keys), g.name, g.from);
  const trimmer = new EventsTrimmer(redis, store.keys, { floorSec: config.messages.statusRetentionSec, cap: config.messages.statusRetention, groups: eventGroups }, log);
  for (const s of config.smscs) await store.ensureGroups(s.id);
  // Opt-out lists, held and paused messages, moderation (issue 6).
  const optOuts = new OptOutStore(redis, store.keys);
  const parking = new ParkingStore(redis, store.keys, { eventsMaxLen, finalRetentionSec: config.messages.finalRetentionSec });
  const pauses = new PauseControl(parking, config.tenants.map((t) => t.id), (level, m) => log(level, m));
  const moderator = new Moderator(config, clock, redis, store.keys);
  await moderator.start();
  const tenantIds = new Set(config.tenants.map((t) => t.id));

  const supervisor = new Supervisor({
    actors: smscs.length,
    redis: target,
    keyPrefix: config.redis.keyPrefix,
    shards: config.redis.shards,
    nodeId: config.engine.nodeId,
    reclaimIdleMs: config.fleet.reclaimAfterMs,
    leased: true,
    drainMs: config.fleet.drainMs,
    stateFlushMs: config.engine.stateFlushMs,
    metrics: config.engine.metrics,
    receiptGraceSec: config.messages.receiptGraceSec,
    eventsMaxLen,
    finalRetentionSec: config.messages.finalRetentionSec,
    restartBackoffMs: config.engine.restartBackoffMs,
    mo: {
      inbound: Object.fromEntries(config.tenants.flatMap((t) => t.inboundNumbers.map((n) => [inboundKey(n), t.id]))),
      defaultTenant: config.mo.defaultTenant,
      stopKeywords: config.mo.stopKeywords,
      startKeywords: config.mo.startKeywords,
      unattributedStop: config.mo.unattributedStop,
    },
    optOutHorizonSec: config.messages.maxValiditySec,
  });
  supervisor.on('log', (level: 'info' | 'warn' | 'error', smsc: string, msg: string) => log(level, `[${smsc}] ${msg}`));
  supervisor.on('stats', (s: ActorStats) => routing.onBindChange(s, supervisor.actorState(s.smsc)?.running ?? false));
  // This node's SMSC figures go out with every fleet tick: the other nodes' health feeds add them up.
  fleet.onTick(() => figures.setHealth(supervisor.stats()));
  // Every tenant's rate grant kept ready while other nodes are live (fleet/tenant-rate.ts).
  const tenantBuckets: FleetTenantBucket[] = [];
  fleet.onTick(() => primeAll(tenantBuckets, figures.liveNodes));
  // Bind leases: after each fleet tick every actor learns the slots this node holds; a drained one goes back.
  const passLeases = (): void => {
    for (const s of config.smscs) {
      const l = fleet.leases(s.id);
      if (l !== undefined) supervisor.setLeases(s.id, l);
    }
  };
  passLeases();
  fleet.onTick(passLeases);
  fleet.onSuperseded(passLeases);
  supervisor.on('released', (smsc: string, index: number) => fleet.release(smsc, index));
  supervisor.on('crash', (smsc: string, err: Error, delay: number) => log('error', `[${smsc}] actor crashed (${err.message}); restarting in ${delay} ms`));

  const metrics: EngineMetrics = new EngineMetrics({
    redis,
    keys: store.keys,
    smscs: config.smscs,
    health: () => routing.health,
    wsConnections: () => ingress.stats.connections,
    framesIn: () => ingress.stats.framesIn,
    statusPushes: () => dispatcher.pushed,
    failoverMoved: () => routing.failoverMoved,
    reloads: () => ({ ok: routing.reloads, refused: routing.reloadFailures }),
    actorParts: () => (webhooks === undefined ? supervisor.metricsParts() : [...supervisor.metricsParts(), ...webhooks.metricsParts()]),
    analytics: () => analytics?.state,
    eventsStream: () => trimmer.stats,
    lifecycle: () => ({ queued: lifecycle.scheduler.moved, expired: lifecycle.scheduler.expired, cancels: lifecycle.cancels.counts }),
  });
  // The analytics process: events sink into ClickHouse, queries, live feed, bad numbers (engine/analytics/).
  const an = config.analytics;
  const analytics = an.enabled
    ? new AnalyticsHost({
        redis: target,
        keyPrefix: config.redis.keyPrefix,
        shards: store.keys.shards.count,
        consumer: `sink-${config.engine.nodeId}`,
        batchMax: an.batchMax,
        flushMs: an.flushMs,
        cluster: an.cluster,
        clickhouse: { url: env.CLICKHOUSE_URL, user: env.CLICKHOUSE_USER, password: env.CLICKHOUSE_PASSWORD, dataDir: an.dataDir, maxMemoryBytes: an.maxMemoryMb * 2 ** 20, serverMemoryBytes: an.serverMemoryMb * 2 ** 20 },
        badNumbers: an.badNumbers.enabled ? an.badNumbers : undefined,
        reportPageRows: an.reportPageRows,
        limits: an.limits,
        routing: { numberingPlan: config.routing.numberingPlan, rangeFiles: config.routing.rangeFiles },
        baseDir: o.configFile === undefined ? process.cwd() : dirname(resolve(o.configFile)),
      }, log)
    : undefined;
  const flagged = new FlaggedNumbers(new Set(config.tenants.filter((t) => t.refuseFlaggedNumbers ?? an.badNumbers.refuse).map((t) => t.id)));
  analytics?.onFlagged((d) => flagged.apply(d));
  // Signed POSTs of status events and MO messages to tenants' receivers, in their own worker thread (engine/webhooks/).
  const webhooks = webhookTenants.length === 0 ? undefined : new WebhookHost({ redis: target, keyPrefix: config.redis.keyPrefix, shards: config.redis.shards, node: config.engine.nodeId, metrics: config.engine.metrics, tenants: webhookTenants }, log);
  // The leader's takeover of dead nodes' webhook lists, webhook and analytics pending entries (engine/fleet/takeover.ts).
  const takeover = new Takeover({ fleet, redis, keys: store.keys, webhookTenants: webhookTenants.map((t) => t.id), webhooks, analytics, log });
  fleet.onTick(() => void takeover.tick());
  if (config.engine.metrics) batcher.onLatency = (ms) => metrics.enqueue(ms);
  if (config.engine.metrics) moderator.onHold = (tenant, code) => metrics.held(tenant, code);
  supervisor.on('restart', (smsc: string) => metrics.actorRestarted(smsc));
  // Compared in constant time, like the admin key (hashed, timingSafeEqual): a plain !== leaked the key's prefix in timing.
  const metricsKey = env.SWITCHYARD_METRICS_KEY;
  const metricsKeyOk = secretCheck(metricsKey);

  const isAdmin = (req: uWS.HttpRequest): boolean => ingress.auth.isAdmin(req);

  const narrowAlphabets = new Map(config.smscs.filter((s) => s.alphabet === 'latin1' || s.alphabet === 'ia5').map((s) => [s.id, s.alphabet]));
  const ingress: IngressServer = new IngressServer({
    host: config.server.host,
    port: o.port ?? config.server.port,
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
    adminKey,
    accept: {
      router: () => routing.router,
      shard: () => shardPicker.next(),
      maxParts: config.messages.maxParts,
      defaultValiditySec: config.messages.defaultValiditySec,
      receiptGraceSec: config.messages.receiptGraceSec,
      flagged: (tenant, e164) => flagged.refuses(tenant, e164),
      // SMSCs whose alphabet lacks some of GSM-7 (texts with such characters go to them in UCS-2); none: no look-up per message.
      ...(narrowAlphabets.size > 0 ? { alphabets: narrowAlphabets } : {}),
      ...(moderator.active ? { moderate: (tenant: string, text: string) => moderator.moderate(tenant, text) } : {}),
    },
    batcher,
    dispatcher,
    clock,
    // A tenant's tps is the fleet's: alone the local bucket, with other live nodes grants from Redis (fleet/tenant-rate.ts).
    tenantBucket: (tenant, tps) => {
      const b = new FleetTenantBucket(tenant, tps, { redis, prefix: config.redis.keyPrefix, clock, liveNodes: () => figures.liveNodes, grantMs: config.fleet.tenantGrantMs, log });
      tenantBuckets.push(b);
      return b;
    },
    awaitNetwork: (to) => routing.awaitNetwork(to),
    ...(config.engine.metrics ? { observer: metrics } : {}),
    extraRoutes: (app): ReadonlyMap<string, WsOp> => {
      registerAnalyticsRoutes(app, { host: analytics, auth: ingress.auth, idleTimeoutSec: config.server.idleTimeoutSec });
      app.get('/healthz', (res) => json(res, '200 OK', { status: 'ok' }));
      // Prometheus exposition of every thread (engine/metrics/). Open on the engine's (loopback by default)
      // address; with SWITCHYARD_METRICS_KEY set, a bearer token is required.
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
        ping: () => redis.ping(),
        actors: () => config.smscs.map((s) => ({ smsc: s.id, ...supervisor.actorState(s.id) })),
        starting: () => routing.startingSmscs,
        routable: () => routing.anySmscUp,
        analytics: () => (analytics === undefined ? 'off' : analytics.state),
        isAdmin,
        metricsKey,
      });
      app.get('/v1/status', (res, req) => {
        if (!isAdmin(req)) return json(res, '401 Unauthorized', { op: 'error', code: 'UNAUTHORIZED', error: 'admin key required (SWITCHYARD_ADMIN_KEY)' });
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
            statusCatchUps: dispatcher.catchUps,
          },
          actors: supervisor.stats(),
          analytics: analytics?.state ?? 'off',
          webhooks: webhooks?.state ?? 'off',
          smpp: smpp.status(),
          routing: { prefixes: routing.planSize, mnpNumbers: routing.mnpSize, reloads: routing.reloads, reloadFailures: routing.reloadFailures, failoverMoved: routing.failoverMoved, smscs: routing.health.snapshot() },
        });
      });
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
      smpp.routes(app, isAdmin);
      registerWebhookRoutes(app, { auth: () => ingress.auth, redis, keys: store.keys, node: config.engine.nodeId, tenants: new Map(webhookTenants.map((t) => [t.id, { url: t.url }])), host: webhooks });
      app.post('/v1/admin/routing/reload', (res, req) => {
        if (!isAdmin(req)) return json(res, '401 Unauthorized', { op: 'error', code: 'UNAUTHORIZED', error: 'admin key required (SWITCHYARD_ADMIN_KEY)' });
        try {
          json(res, '200 OK', { ok: true, ...routing.reload() });
        } catch (err) {
          json(res, '400 Bad Request', { op: 'error', code: 'CONFIG_INVALID', error: (err as Error).message });
        }
      });
      lifecycle.routes(app, ingress.auth, (tenant, f, done) => ingress.onCancel(tenant, f, done), analytics === undefined ? undefined : (tenant, id) => analyticsHistory(analytics, tenant, id));
      registerHeldRoutes(app, { redis, keys: store.keys, parking, auth: ingress.auth, tenants: config.tenants.map((t) => t.id), maxBodyBytes: config.server.maxFrameBytes });
      registerPauseRoutes(app, { control: pauses, auth: ingress.auth, tenants: tenantIds });
      registerMoRoutes(app, { redis, keys: store.keys, auth: ingress.auth });
      return registerOptOutRoutes(app, { store: optOuts, auth: ingress.auth, tenants: tenantIds, maxBodyBytes: config.server.maxFrameBytes, confirm: (eid) => pauses.confirmed(0, eid) });
    },
  });
  // Customers binding as ESMEs (engine/smpp-server/): their submits take the WebSocket path above.
  const smpp: SmppIngress = new SmppIngress({
    config: config.smppServer,
    tenants: config.tenants.flatMap((t) => (t.smpp === undefined ? [] : [{ tenant: t.id, systemId: t.smpp.systemId, password: resolveSecret(t.smpp.password, `tenants[${t.id}].smpp.password`, env), maxBinds: t.smpp.maxBinds, dataCoding0: t.smpp.dataCoding0 }])),
    redis: target,
    keys: store.keys,
    node: config.engine.nodeId,
    submit: { submit: (tenant, f, done) => ingress.submitAs(tenant, f, done), queueFull: () => ingress.pendingEnqueue >= config.server.maxPendingEnqueue },
    minValiditySec: config.messages.minValiditySec,
    maxValiditySec: config.messages.maxValiditySec,
    ...(o.smppPort !== undefined ? { port: o.smppPort } : {}),
    registry: config.engine.metrics ? metrics.registry : undefined,
    log,
  });
  // Event-loop delay of the ingress thread (reported by /v1/status; metrics come with issue 5).
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  dispatcher.start();
  trimmer.start();
  pauses.start();
  await lifecycle.start();
  supervisor.start(smscs);
  analytics?.start();
  await webhooks?.start();
  await routing.start(() => supervisor.stats(), (smsc) => supervisor.actorState(smsc)?.running ?? false);
  // Messages whose validity ran out end expired when nothing of them can reach an SMSC any more;
  // past validity + grace the rest end expired (never sent) or unknown (no receipt). See queue/lua/sweep.lua.
  // 1,000 messages per shard and script call (each call holds Redis for a few ms), as many calls as
  // are due, up to 20 a second: an SMSC that sends no receipts at full rate ends 10,000 messages a
  // second of them, and a backlog of due messages drains at 20,000/s per shard without starving the rest.
  let sweeping = false;
  const sweepTimer = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    void (async () => {
      try {
        for (let calls = 0; calls < 20 && (await store.sweepExpired(Date.now(), 1000, config.messages.receiptGraceSec)) === 1000; calls++);
      } catch (err) {
        log('warn', `expiry sweep failed: ${(err as Error).message}`);
      } finally {
        sweeping = false;
      }
    })();
  }, 1000);
  const warmMs = warmUpAcceptPath(ingress.acceptContext, config.messages.maxValiditySec);
  let port: number;
  try {
    // Leases are taken from here on (the warm-up above blocks the thread: leases taken before it would run out).
    await fleet.start();
    port = await ingress.listen();
    await smpp.start();
  } catch (err) {
    await stop();
    throw err;
  }
  fleet.setAddress(`${config.server.host}:${port}`);
  log('info', `accept path warmed up in ${warmMs.toFixed(0)} ms`);
  log('info', `switchyard listening on http://${config.server.host}:${port} (ws /v1/ws), ${smscs.length} SMSC actor(s)`);

  return {
    port,
    config,
    supervisor,
    ingress,
    store,
    routing,
    optOuts,
    pauses,
    moderator,
    lifecycle,
    get analytics() {
      return analytics?.state;
    },
    analyticsHost: analytics,
    flagged,
    webhooks,
    fleet,
    takeover,
    smpp,
    actorStats: () => supervisor.stats(),
    stop,
  };

  async function stop(): Promise<void> {
    await smpp.stop();
    routing.stop();
    trimmer.stop();
    pauses.stop();
    await moderator.stop();
    await analytics?.stop();
    home?.stop();
    await lifecycle.stop();
    await webhooks?.stop();
    clearInterval(sweepTimer);
    loopDelay.disable();
    ingress.close();
    // Let accepted messages reach Redis before the connections go.
    for (let i = 0; i < 200 && batcher.pending > 0; i++) await new Promise((ok) => setTimeout(ok, 10));
    await supervisor.stop();
    await dispatcher.stop();
    // The leases go last: the binds are closed, so the node that takes a slot is not refused by the SMSC.
    await fleet.stop();
    fleetRedis.disconnect();
    redis.disconnect();
    blocking.disconnect();
    queueRedis.disconnect();
  }
}
