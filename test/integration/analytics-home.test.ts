/**
 * Analytics with several nodes (issue 14): embedded chdb serves one node; a
 * second analytics node is refused at start with what to do; nodes on one
 * ClickHouse server share it; migrations run once (a Redis lock).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { AnalyticsHome, analyticsBackend } from '../../engine/analytics/analytics-home.js';
import { withMigrationLock } from '../../engine/analytics/migration-lock.js';
import { Keys } from '../../engine/queue/keys.js';
import { waitFor } from '../helpers/wait-for.js';

const redis = new Redis(inject('redisUrl'));
afterAll(() => redis.disconnect());
const keysOf = () => new Keys(`anh:${randomBytes(3).toString('hex')}:`);
const never = (): void => {
  throw new Error('claim lost');
};

describe('analytics home', () => {
  it('a second node on embedded chdb is refused, naming the node that has it and what to do', async () => {
    const keys = keysOf();
    const a = new AnalyticsHome(redis, keys, analyticsBackend('node-a', '', undefined), never);
    await a.start();
    const b = new AnalyticsHome(redis, keys, analyticsBackend('node-b', '', undefined), never);
    await expect(b.start()).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/node "node-a" runs analytics on embedded chdb: .*CLICKHOUSE_URL/) });
    // A node on a server cannot join it either: the sinks would split the events between two stores.
    const c = new AnalyticsHome(redis, keys, analyticsBackend('node-c', '', 'http://127.0.0.1:8123'), never);
    await expect(c.start()).rejects.toThrow(/node "node-a" runs analytics on embedded chdb/);
    // The same node id (a restart within the TTL) takes its claim back.
    const again = new AnalyticsHome(redis, keys, analyticsBackend('node-a', '', undefined), never);
    await again.start();
    a.stop();
    again.stop();
  });

  it('a crashed embedded node frees the fleet once its claim has run out', async () => {
    const keys = keysOf();
    const a = new AnalyticsHome(redis, keys, analyticsBackend('node-a', '', undefined), never, 300);
    expect(await a.claim()).toBeUndefined(); // claimed, never renewed: a crash
    const b = new AnalyticsHome(redis, keys, analyticsBackend('node-b', '', undefined), never, 300);
    expect(await b.claim()).toMatch(/node-a/);
    await waitFor(async () => (await b.claim()) === undefined, 10_000, 'the claim of node-a to run out');
  });

  it('nodes on one ClickHouse server share it; another server or embedded chdb is refused', async () => {
    const keys = keysOf();
    const url = 'http://user@127.0.0.1:8123';
    const a = new AnalyticsHome(redis, keys, analyticsBackend('node-a', 'c1', url), never);
    const b = new AnalyticsHome(redis, keys, analyticsBackend('node-b', 'c1', url), never);
    await a.start();
    await b.start();
    const other = new AnalyticsHome(redis, keys, analyticsBackend('node-c', '', 'http://10.0.0.9:8123'), never);
    await expect(other.start()).rejects.toThrow(/another ClickHouse server/);
    const embedded = new AnalyticsHome(redis, keys, analyticsBackend('node-d', '', undefined), never);
    await expect(embedded.start()).rejects.toThrow(/embedded chdb would split the history/);
    // The URL (it may carry credentials) is stored only as a hash.
    expect(await redis.get(keys.control('an:server'))).toMatch(/^[0-9a-f]{16}$/);
    a.stop();
    b.stop();
  });

  it('a node paused past its claim, which another took meanwhile, is told so at its next renewal', async () => {
    const keys = keysOf();
    let lost = '';
    const a = new AnalyticsHome(redis, keys, analyticsBackend('node-a', '', undefined), (why) => (lost = why), 300);
    await a.start();
    // As if node-a had been stopped past its TTL and node-b started in between.
    await redis.set(keys.control('an:embedded'), 'node-b', 'PX', 5000);
    await waitFor(() => lost !== '', 10_000, 'node-a to find its claim taken');
    expect(lost).toMatch(/node "node-b" runs analytics/);
  });

  it('analytics.cluster without a ClickHouse server is refused', () => {
    expect(() => analyticsBackend('n', 'c1', undefined)).toThrow(/analytics.cluster "c1" needs a ClickHouse server/);
  });
});

describe('migration lock', () => {
  it('two nodes migrating at once run one after the other, never together', async () => {
    const key = keysOf().control('an:migrate');
    let running = 0;
    let most = 0;
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((ok) => (release = ok));
    const migrateAs = (node: string) => async () => {
      running++;
      most = Math.max(most, running);
      order.push(`${node}+`);
      if (node === 'a') await gate;
      running--;
      order.push(`${node}-`);
      return node;
    };
    const a = withMigrationLock(redis, key, migrateAs('a'), { pollMs: 10 });
    await waitFor(() => order.length > 0, 10_000, 'node a to take the lock');
    const b = withMigrationLock(redis, key, migrateAs('b'), { pollMs: 10 });
    // b waits while a holds the lock (a is parked on the gate; b polls meanwhile).
    await waitFor(async () => (await redis.pttl(key)) > 0, 10_000, 'the lock');
    expect(order).toEqual(['a+']);
    release();
    expect(await Promise.all([a, b])).toEqual(['a', 'b']);
    expect(order).toEqual(['a+', 'a-', 'b+', 'b-']);
    expect(most).toBe(1);
    expect(await redis.exists(key)).toBe(0);
  });
});
