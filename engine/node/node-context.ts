/**
 * What every feature module of a node gets (engine/node/node-module.ts): the
 * validated config, the Redis connections, the key layout, the clock, the log,
 * this node in the fleet, the enqueue store and the metrics.
 *
 * `openNode` runs before any module: it connects, checks the shard layout and
 * registers the node id (a live duplicate is refused here, before any worker
 * thread is spawned). `close` runs after every module stopped: the leases go
 * last (the binds are closed by then, so the node taking a slot is not refused
 * by the SMSC), then the connections.
 */
import type { Redis } from 'ioredis';
import type { Config } from '../../config/index.js';
import { RouteHealth } from '../../router/index.js';
import { systemClock, type Clock } from '../flow/clock.js';
import { Fleet } from '../fleet/fleet.js';
import { NodeFigures } from '../fleet/node-figures.js';
import { log as defaultLog, type LogFn } from '../log.js';
import { EngineMetrics, type EngineMetricSources } from '../metrics/engine-metrics.js';
import type { MetricsJson } from '../metrics/registry.js';
import { eventsCapPerShard } from '../queue/event-streams.js';
import { Keys } from '../queue/keys.js';
import { RedisStore } from '../queue/redis-store.js';
import { checkShardLayout } from '../queue/shard-layout.js';
import { Shards } from '../queue/shards.js';
import { connectRedis, type RedisClient, type RedisTarget } from '../redis/connect-redis.js';
import { onRedisError } from '../redis/on-redis-error.js';

export interface EngineOptions {
  /** A single Redis (redis://…), unless `redis` names the target (a cluster). */
  readonly redisUrl?: string;
  /** The Redis to use: a single instance or a cluster's seed nodes (connect-redis.ts). */
  readonly redis?: RedisTarget;
  readonly clock?: Clock;
  readonly env?: NodeJS.ProcessEnv;
  /** Overrides config.server.port (tests use 0). */
  readonly port?: number;
  readonly log?: LogFn;
  /** The file the config came from: routing reloads re-read it (admin call or file change). */
  readonly configFile?: string;
}

/**
 * Where modules plug their figures into /metrics (engine/metrics/engine-metrics.ts
 * reads them at scrape time); a figure no module set reads as zero.
 */
export interface MetricFeeds {
  health: () => RouteHealth;
  wsConnections: () => number;
  framesIn: () => number;
  statusPushes: () => number;
  failoverMoved: () => number;
  reloads: () => { ok: number; refused: number };
  analytics: EngineMetricSources['analytics'];
  eventsStream: NonNullable<EngineMetricSources['eventsStream']>;
  lifecycle: NonNullable<EngineMetricSources['lifecycle']>;
  /** Other threads' metric snapshots (actors, the webhook worker). */
  readonly threads: Array<() => MetricsJson[]>;
}

export interface NodeContext {
  readonly config: Config;
  readonly options: EngineOptions;
  readonly env: NodeJS.ProcessEnv;
  readonly log: LogFn;
  readonly clock: Clock;
  /** The Redis target, for worker threads that open their own connections. */
  readonly target: RedisTarget;
  /**
   * Commands of the main thread. Typed as the single-instance client for the modules that
   * have not moved to the sharded layout yet (issue 13): on a cluster ioredis routes per key.
   */
  readonly redis: Redis;
  /** Blocking reads (status pushes): a connection of its own. */
  readonly blocking: Redis;
  readonly keys: Keys;
  /** The enqueue scripts, on a connection of their own: nothing else waits in front of an ack. */
  readonly store: RedisStore;
  /** Each shard's events stream cap (messages.statusRetention shared over the shards). */
  readonly eventsMaxLen: number;
  /** This node: heartbeat, bind and leader leases (engine/fleet/fleet.ts). */
  readonly fleet: Fleet;
  /** What this node publishes with its tick, and the other nodes' figures. */
  readonly figures: NodeFigures;
  readonly metrics: EngineMetrics;
  readonly metricFeeds: MetricFeeds;
  /** Leaves the fleet (gives the leases back) and closes the connections; after every module stopped. */
  close(): Promise<void>;
}

/** Connects, checks the layout, registers the node id; the context every module gets. */
export async function openNode(config: Config, o: EngineOptions): Promise<NodeContext> {
  const env = o.env ?? process.env;
  const log = o.log ?? defaultLog;
  const target: RedisTarget = o.redis ?? { kind: 'single', url: o.redisUrl ?? 'redis://127.0.0.1:6379' };
  const redis = connectRedis(target, { connectionName: 'sy-ingress' }) as Redis;
  const blocking = connectRedis(target, { connectionName: 'sy-dispatch', blocking: true }) as Redis;
  const queueRedis = connectRedis(target, { connectionName: 'sy-enqueue' });
  // The fleet ticks on a connection of its own, so that no traffic delays a heartbeat.
  const fleetRedis = connectRedis(target, { connectionName: 'sy-fleet' });
  onRedisError(queueRedis, 'enqueue', (m) => log('warn', m));
  onRedisError(redis, 'ingress', (m) => log('warn', m));
  onRedisError(blocking, 'dispatch', (m) => log('warn', m));
  onRedisError(fleetRedis, 'fleet', (m) => log('warn', m));
  const connections: RedisClient[] = [fleetRedis, redis, blocking, queueRedis];
  const disconnect = (): void => connections.forEach((c) => c.disconnect());
  const keys = new Keys(config.redis.keyPrefix, new Shards(config.redis.shards));
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
    await redis.ping();
    // The shard count names every key: a start with another count, or on the unsharded layout, is refused.
    await checkShardLayout(redis, keys);
    // Registered before anything reads as this node: a live duplicate node id is refused here.
    await fleet.register();
  } catch (err) {
    disconnect();
    throw err;
  }
  const eventsMaxLen = eventsCapPerShard(config.messages.statusRetention, config.redis.shards);
  const store = new RedisStore(queueRedis, keys, { eventsMaxLen, finalRetentionSec: config.messages.finalRetentionSec }, {
    waitReplicas: config.redis.waitReplicas,
    waitTimeoutMs: config.redis.waitTimeoutMs,
  });
  const noHealth = new RouteHealth([]);
  const feeds: MetricFeeds = {
    health: () => noHealth,
    wsConnections: () => 0,
    framesIn: () => 0,
    statusPushes: () => 0,
    failoverMoved: () => 0,
    reloads: () => ({ ok: 0, refused: 0 }),
    analytics: () => undefined,
    eventsStream: () => ({ length: 0, groups: [], trims: 0, missingGroups: 0 }),
    lifecycle: () => ({ queued: 0, expired: 0, cancels: {} }),
    threads: [],
  };
  const metrics = new EngineMetrics({
    redis,
    keys,
    smscs: config.smscs,
    health: () => feeds.health(),
    wsConnections: () => feeds.wsConnections(),
    framesIn: () => feeds.framesIn(),
    statusPushes: () => feeds.statusPushes(),
    failoverMoved: () => feeds.failoverMoved(),
    reloads: () => feeds.reloads(),
    actorParts: () => feeds.threads.flatMap((t) => t()),
    analytics: () => feeds.analytics(),
    eventsStream: () => feeds.eventsStream(),
    lifecycle: () => feeds.lifecycle(),
  });
  return {
    config,
    options: o,
    env,
    log,
    clock: o.clock ?? systemClock,
    target,
    redis,
    blocking,
    keys,
    store,
    eventsMaxLen,
    fleet,
    // What this node publishes with its fleet tick, and the others' figures (engine/fleet/node-figures.ts).
    figures: new NodeFigures(fleet),
    metrics,
    metricFeeds: feeds,
    async close() {
      await fleet.stop();
      disconnect();
    },
  };
}
