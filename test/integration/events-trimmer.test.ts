/**
 * The events stream is trimmed below what every consumer group has read and
 * acknowledged and below the floor window, never further (real Redis).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { EventsTrimmer } from '../../engine/queue/events-trimmer.js';
import { Keys } from '../../engine/queue/keys.js';

let redis: Redis;
const keys = new Keys(`t:${randomBytes(3).toString('hex')}:`);
const warnings: string[] = [];

beforeAll(() => {
  redis = new Redis(inject('redisUrl'));
});
afterAll(async () => {
  await redis.del(keys.events());
  redis.disconnect();
});

/** n entries with explicit ids at ms `t0 + i` (so their age is known). */
async function fill(t0: number, n: number): Promise<void> {
  const p = redis.pipeline();
  for (let i = 0; i < n; i++) p.xadd(keys.events(), `${t0 + i}-0`, 't', 'acme', 'f', `{"i":${i}}`);
  await p.exec();
}

describe('events trimmer', () => {
  it('keeps what a group has not acknowledged and what is younger than the floor; trims the rest', async () => {
    const now = 1_800_000_000_000;
    const t0 = now - 100_000; // 2,000 entries, 100 s to 98 s old
    await fill(t0, 2000);
    await redis.xgroup('CREATE', keys.events(), 'sink', '0');
    // the group has read 1,500 and acknowledged the first 1,000: entry 1,000 onwards is still needed
    const read = (await redis.xreadgroup('GROUP', 'sink', 'c', 'COUNT', 1500, 'STREAMS', keys.events(), '>')) as Array<[string, Array<[string, string[]]>]>;
    const ids = (read[0] as [string, Array<[string, string[]]>])[1].map(([id]) => id);
    await redis.xack(keys.events(), 'sink', ...ids.slice(0, 1000));
    const trimmer = new EventsTrimmer(redis, keys, { floorSec: 10, cap: 1_000_000 }, (_l, m) => warnings.push(m), () => now);
    await trimmer.tick();
    const left = await redis.xrange(keys.events(), '-', '+');
    const firstLeft = Number((left[0] as [string, string[]])[0].split('-')[0]) - t0;
    // nothing the group still needs is gone
    expect(firstLeft).toBeLessThanOrEqual(1000);
    expect(left.length).toBeGreaterThanOrEqual(1000);
    // and (approximate trimming works in whole stream nodes of up to 100 entries) most of the rest went
    expect(left.length).toBeLessThanOrEqual(1100);
    expect(trimmer.stats).toMatchObject({ length: 2000, groups: [{ name: 'sink', pending: 500, lag: 1000 }] });
    expect(warnings).toEqual([]);

    // The group acknowledges everything; the floor (10 s) still keeps the young entries.
    await redis.xack(keys.events(), 'sink', ...ids.slice(1000));
    await redis.xreadgroup('GROUP', 'sink', 'c', 'COUNT', 1000, 'STREAMS', keys.events(), '>').then((r) => {
      const rest = ((r as Array<[string, Array<[string, string[]]>]>)[0] as [string, Array<[string, string[]]>])[1].map(([id]) => id);
      return redis.xack(keys.events(), 'sink', ...rest);
    });
    await fill(now - 5_000, 50); // 5 s old: inside the floor
    await trimmer.tick();
    const young = await redis.xrange(keys.events(), `${now - 5_000}-0`, '+');
    expect(young.length).toBe(50);
    expect(await redis.xlen(keys.events())).toBeLessThanOrEqual(150);
  });

  it('warns when a group lags towards the cap', async () => {
    await redis.del(keys.events());
    const now = 1_800_000_000_000;
    await fill(now - 1000, 900);
    await redis.xgroup('CREATE', keys.events(), 'slow', '0');
    const trimmer = new EventsTrimmer(redis, keys, { floorSec: 0, cap: 1000 }, (_l, m) => warnings.push(m), () => now);
    await trimmer.tick();
    expect(warnings.some((w) => w.includes('group slow is 900 entries behind'))).toBe(true);
    // an unread group holds the whole stream
    expect(await redis.xlen(keys.events())).toBe(900);
  });
});
