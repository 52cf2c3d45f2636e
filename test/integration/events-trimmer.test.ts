/**
 * Each shard's events stream is trimmed below what every consumer group on it
 * has read and acknowledged and below the floor window, never further; a
 * stream lacking a group the engine reads with is not trimmed at all; lag and
 * length are summed over the shards (4 shards, a single Redis and the Redis
 * Cluster).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventsTrimmer } from '../../engine/queue/events-trimmer.js';
import type { Keys } from '../../engine/queue/keys.js';
import { ShardWorld, modes } from '../helpers/event-shards.js';

describe.each(modes)('events trimmer (%s, 4 shards)', (mode) => {
  let w: ShardWorld;
  const warnings: string[] = [];
  beforeAll(() => {
    w = new ShardWorld(mode);
  });
  afterAll(async () => {
    await w.close();
  });

  /** n entries in a shard with explicit ids at ms `t0 + i` (so their age is known). */
  async function fill(keys: Keys, shard: number, t0: number, n: number): Promise<void> {
    await w.add(keys, Array.from({ length: n }, (_, i) => ({ shard, id: `${t0 + i}-0`, fields: ['t', 'acme', 'f', `{"i":${i}}`] })));
  }

  async function readIds(keys: Keys, shard: number, group: string, count: number): Promise<string[]> {
    const read = (await w.redis.xreadgroup('GROUP', group, 'c', 'COUNT', count, 'STREAMS', keys.eventsOf(shard), '>')) as Array<[string, Array<[string, string[]]>]>;
    return (read[0] as [string, Array<[string, string[]]>])[1].map(([id]) => id);
  }

  it('keeps what a group has not acknowledged in each shard and what is younger than the floor; trims the rest', async () => {
    const keys = w.keys(4);
    const now = 1_800_000_000_000;
    const t0 = now - 100_000; // shard 1: 2,000 entries, 100 s to 98 s old
    await fill(keys, 1, t0, 2000);
    await fill(keys, 2, now - 5_000, 100); // shard 2: 100 entries, 5 s old
    for (const k of [1, 2]) await w.redis.xgroup('CREATE', keys.eventsOf(k), 'sink', '0');
    // in shard 1 the group has read 1,500 and acknowledged the first 1,000: entry 1,000 onwards is still needed
    const ids = await readIds(keys, 1, 'sink', 1500);
    await w.redis.xack(keys.eventsOf(1), 'sink', ...ids.slice(0, 1000));
    const trimmer = new EventsTrimmer(w.client('sy-test-trim'), keys, { floorSec: 10, cap: 4_000_000, groups: [{ name: 'sink', from: '0' }] }, (_l, m) => warnings.push(m), () => now);
    await trimmer.tick();
    const left = await w.redis.xrange(keys.eventsOf(1), '-', '+');
    const firstLeft = Number((left[0] as [string, string[]])[0].split('-')[0]) - t0;
    // nothing the group still needs is gone
    expect(firstLeft).toBeLessThanOrEqual(1000);
    expect(left.length).toBeGreaterThanOrEqual(1000);
    // and (approximate trimming works in whole stream nodes of up to 100 entries) most of the rest went
    expect(left.length).toBeLessThanOrEqual(1100);
    // shard 2 is young (inside the floor) and unread: all kept
    expect(await w.redis.xlen(keys.eventsOf(2))).toBe(100);
    // summed over the shards: 2,100 entries; the group is 1,000 behind in shard 1 (500 unread, 500 pending) and 100 in shard 2
    expect(trimmer.stats).toMatchObject({ length: 2100, groups: [{ name: 'sink', pending: 500, lag: 1100 }], missingGroups: 0 });
    expect(warnings).toEqual([]);

    // The group acknowledges everything in shard 1; the floor (10 s) still keeps the young entries.
    await w.redis.xack(keys.eventsOf(1), 'sink', ...ids.slice(1000));
    const rest = await readIds(keys, 1, 'sink', 1000);
    await w.redis.xack(keys.eventsOf(1), 'sink', ...rest);
    await fill(keys, 1, now - 5_000, 50); // 5 s old: inside the floor
    await trimmer.tick();
    const young = await w.redis.xrange(keys.eventsOf(1), `${now - 5_000}-0`, '+');
    expect(young.length).toBe(50);
    expect(await w.redis.xlen(keys.eventsOf(1))).toBeLessThanOrEqual(150);
  });

  it('a stream written before its groups exist was trimmed below what they will need: a stream lacking an expected group is left whole', async () => {
    const keys = w.keys(4);
    const now = 1_800_000_000_000;
    await fill(keys, 0, now - 100_000, 500); // old entries in shard 0 and shard 3
    await fill(keys, 3, now - 100_000, 500);
    // Shard 3 has both groups the engine reads with, all read and acknowledged; shard 0 only one of them.
    for (const g of ['analytics', 'webhooks']) {
      await w.redis.xgroup('CREATE', keys.eventsOf(3), g, '0');
      await w.redis.xack(keys.eventsOf(3), g, ...(await readIds(keys, 3, g, 500)));
    }
    await w.redis.xgroup('CREATE', keys.eventsOf(0), 'webhooks', '$');
    const logged: string[] = [];
    const trimmer = new EventsTrimmer(w.client('sy-test-trim'), keys, { floorSec: 10, cap: 1_000_000, groups: [{ name: 'analytics', from: '0' }, { name: 'webhooks', from: '$' }] }, (_l, m) => logged.push(m), () => now);
    await trimmer.tick();
    expect(await w.redis.xlen(keys.eventsOf(0))).toBe(500);
    expect(await w.redis.xlen(keys.eventsOf(3))).toBeLessThanOrEqual(100); // whole stream nodes of up to 100
    expect(trimmer.stats.missingGroups).toBe(1);
    expect(logged.some((m) => m.includes('lack a consumer group'))).toBe(true);
  });

  it('warns when a group lags towards its shard\'s share of the cap', async () => {
    const keys = w.keys(4);
    const now = 1_800_000_000_000;
    await fill(keys, 2, now - 1000, 900);
    await w.redis.xgroup('CREATE', keys.eventsOf(2), 'slow', '0');
    // cap 4,000 over 4 shards: 1,000 a shard
    const trimmer = new EventsTrimmer(w.client('sy-test-trim'), keys, { floorSec: 0, cap: 4000 }, (_l, m) => warnings.push(m), () => now);
    await trimmer.tick();
    expect(warnings.some((m) => m.includes('group slow is 900 entries behind'))).toBe(true);
    // an unread group holds the whole stream
    expect(await w.redis.xlen(keys.eventsOf(2))).toBe(900);
  });
});
