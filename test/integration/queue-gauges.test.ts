/**
 * What the engine reads about queues and the events streams, summed over the
 * shards (4 shards, a single Redis and the Redis Cluster): the router's queue
 * lag of an SMSC (XLEN of its S queue streams), the /metrics queue gauges per
 * SMSC (depth, pending, lag), the scheduled count over the shards' schedules,
 * and the events streams' length and group lag from the trimmer's pass.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/index.js';
import { EngineMetrics } from '../../engine/metrics/engine-metrics.js';
import { EventsTrimmer } from '../../engine/queue/events-trimmer.js';
import { GROUP } from '../../engine/queue/keys.js';
import { HealthFeed } from '../../engine/routing/health-feed.js';
import { RouteHealth } from '../../router/index.js';
import { ShardWorld, modes } from '../helpers/event-shards.js';

const config = parseConfig({
  tenants: [{ id: 'acme', apiKey: { env: 'K' } }],
  smscs: [{ id: 'a', port: 1, systemId: 's', password: { env: 'P' } }, { id: 'b', port: 2, systemId: 's', password: { env: 'P' } }],
  routing: { plans: [{ id: 'p', routes: [{ network: '*', candidates: [{ smsc: 'a', price: 1 }] }] }] },
});

/** The value of a series in a Prometheus text exposition (undefined when absent). */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe.each(modes)('queue and events gauges over the shards (%s, 4 shards)', (mode) => {
  let w: ShardWorld;
  beforeAll(() => {
    w = new ShardWorld(mode);
  });
  afterAll(async () => {
    await w.close();
  });

  it('an SMSC\'s queue is its streams in every shard: lag for routing, depth, pending and lag for /metrics; events streams summed', async () => {
    const keys = w.keys(4);
    // SMSC a: 5 entries in shard 0, 7 in shard 2 (4 of them read by its actor), 3 in shard 3; SMSC b: none.
    for (const [shard, n] of [[0, 5], [2, 7], [3, 3]] as const) {
      for (let i = 0; i < n; i++) await w.redis.xadd(keys.queueOf('a', shard), '*', 'h', `m${i}`);
    }
    for (let k = 0; k < 4; k++) await w.redis.xgroup('CREATE', keys.queueOf('a', k), GROUP, '0', 'MKSTREAM');
    await w.redis.xreadgroup('GROUP', GROUP, 'actor', 'COUNT', 4, 'STREAMS', keys.queueOf('a', 2), '>');
    // 3 scheduled messages over two shards' schedules.
    await w.redis.zadd(keys.scheduleOf(1), 1, 'x', 2, 'y');
    await w.redis.zadd(keys.scheduleOf(3), 1, 'z');
    // Events: 6 entries in shard 1 and 4 in shard 2, a group that has read none of them.
    for (const [shard, n] of [[1, 6], [2, 4]] as const) for (let i = 0; i < n; i++) await w.redis.xadd(keys.eventsOf(shard), '*', 't', 'acme', 'f', '{}');
    for (let k = 0; k < 4; k++) await w.redis.xgroup('CREATE', keys.eventsOf(k), 'analytics', '0', 'MKSTREAM');

    const health = new RouteHealth(['a', 'b']);
    const redis = w.client('sy-test-gauges');
    const feed = new HealthFeed(health, config.routing, config.smscs, redis, keys);
    await feed.refreshQueues();
    expect([...health.queueLag]).toEqual([15, 0]);

    const trimmer = new EventsTrimmer(redis, keys, { floorSec: 300, cap: 1_000_000, groups: [{ name: 'analytics', from: '0' }] }, () => undefined);
    await trimmer.tick();
    const metrics = new EngineMetrics({
      redis, keys, smscs: config.smscs, health: () => health,
      wsConnections: () => 0, framesIn: () => 0, statusPushes: () => 0, failoverMoved: () => 0, reloads: () => ({ ok: 0, refused: 0 }),
      actorParts: () => [], analytics: () => undefined, eventsStream: () => trimmer.stats,
    });
    const text = await metrics.expose();
    expect(value(text, 'switchyard_queue_depth{smsc="a"}')).toBe(15);
    expect(value(text, 'switchyard_queue_pending{smsc="a"}')).toBe(4);
    expect(value(text, 'switchyard_queue_consumer_lag{smsc="a"}')).toBe(11);
    expect(value(text, 'switchyard_queue_depth{smsc="b"}')).toBe(0);
    expect(value(text, 'switchyard_scheduled_messages')).toBe(3);
    expect(value(text, 'switchyard_events_stream_entries')).toBe(10);
    expect(value(text, 'switchyard_events_group_lag{group="analytics"}')).toBe(10);
    expect(value(text, 'switchyard_events_streams_missing_group')).toBe(0);
    expect(text).not.toMatch(/switchyard_queue_depth\{[^}]*(partition|shard)=/);
  });
});
