/**
 * The opt-out and pause stores on shards, on a single Redis and on the local
 * Redis Cluster (4 shards): an opt-out change writes its list, then the
 * change stream in the control slot and the number into every shard's recent
 * opt-outs (scored after the list write, trimmed, capped); an add repeats the
 * second step for a number already listed (a call retried after a crash
 * between the steps still reaches the actors and the shards); a pause writes
 * the master copy and every shard's copy, copies only move forward, and a
 * crash between the steps is repaired; the actors' poll and the handshake
 * read the control slot.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GLOBAL, OOR_WINDOW_MS, OptOutStore } from '../../engine/optout/optout-store.js';
import { ParkingStore } from '../../engine/parking/parking-store.js';
import { Keys } from '../../engine/queue/keys.js';
import { Shards } from '../../engine/queue/shards.js';
import type { RedisClient } from '../../engine/redis/connect-redis.js';
import { connectTarget, dropPrefix, redisTargets } from '../helpers/redis-targets.js';

const S = 4;
const limits = { eventsMaxLen: 100_000, finalRetentionSec: 3600 };

describe.each(redisTargets())('opt-out and pause on shards ($name)', (t) => {
  let redis: RedisClient;
  let keys: Keys;
  const prefix = `t:${randomBytes(3).toString('hex')}:`;

  beforeAll(() => {
    redis = connectTarget(t);
    keys = new Keys(prefix, new Shards(S));
  });

  afterAll(async () => {
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  const ooev = async () => (await redis.xrange(keys.control('ooev'), '-', '+')).map(([, f]) => `${f[1]}:${f[3]}:${f[5]}`);
  const oor = async (k: number) => Object.fromEntries(((await redis.zrange(keys.recentOptOuts(k), 0, -1, 'WITHSCORES')) as string[]).flatMap((v, i, a) => (i % 2 === 0 ? [[v, Number(a[i + 1])]] : [])));

  it('an add writes the list, then the change stream and every shard\'s recent opt-outs scored after it; a removal announces and takes them out', async () => {
    let clock = 1_000_000;
    const store = new OptOutStore(redis, keys, { clock: () => clock });
    clock = Date.now();
    const before = clock;
    expect(await store.add('acme', ['4790000001', '4790000002'], 'api', 123)).toEqual({ changed: 2, eventId: expect.stringMatching(/^\d+-\d+$/) });
    expect(await redis.zrange(keys.optOut('acme'), 0, -1)).toEqual(['4790000001', '4790000002']);
    expect(await redis.hget(keys.optOutMeta('acme'), '4790000001')).toBe('123|api');
    expect(await ooev()).toEqual(['a:acme:4790000001', 'a:acme:4790000002']);
    for (let k = 0; k < S; k++) {
      expect(await oor(k)).toEqual({ 'acme|4790000001': before, 'acme|4790000002': before });
      const ttl = await redis.pttl(keys.recentOptOuts(k));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(OOR_WINDOW_MS);
    }
    // Added again: nothing changes on the list, but both are announced again, with the later time.
    clock += 500;
    expect((await store.add('acme', ['4790000001'], 'api')).changed).toBe(0);
    expect((await ooev()).slice(2)).toEqual(['a:acme:4790000001']);
    for (let k = 0; k < S; k++) expect(await oor(k)).toEqual({ 'acme|4790000001': before + 500, 'acme|4790000002': before });
    // A removal changes the list, tells the actors and takes the number out of the shards' recent opt-outs
    // (the scripts count those from a clock-skew margin before their pre-check: it would still stop it).
    clock += 500;
    expect(await store.remove('acme', ['4790000001', '4790000009'])).toBe(1);
    // Announced as asked, listed or not (a retried removal after a crash between the steps is announced too).
    expect((await ooev()).slice(3)).toEqual(['r:acme:4790000001', 'r:acme:4790000009']);
    expect(await oor(0)).toEqual({ 'acme|4790000002': before });
    expect(await store.check('acme', '4790000001')).toMatchObject({ optedOut: false });
  });

  it('a number already on the list after a crash between the steps is announced by the retried add', async () => {
    const store = new OptOutStore(redis, keys);
    // Step 1 of an earlier call went through, step 2 did not (the caller saw an error and retries).
    await redis.zadd(keys.optOut('crash'), 0, '4790000011');
    const events = (await ooev()).length;
    expect((await store.add('crash', ['4790000011'], 'mo')).changed).toBe(0);
    expect((await ooev()).slice(events)).toEqual(['a:crash:4790000011']);
    for (let k = 0; k < S; k++) expect(Object.keys(await oor(k))).toContain('crash|4790000011');
  });

  it('recent opt-outs older than the window are trimmed and at most the newest N kept', async () => {
    let clock = Date.now();
    const store = new OptOutStore(redis, keys, { clock: () => clock, oorMaxEntries: 3 });
    const k0 = keys.recentOptOuts(0);
    await redis.zadd(k0, clock - OOR_WINDOW_MS - 1, 'old');
    await store.add('trim', ['1', '2'], 'api');
    expect(Object.keys(await oor(0))).not.toContain('old');
    clock += 1;
    await store.add('trim', ['3', '4'], 'api');
    for (let k = 0; k < S; k++) expect(await redis.zcard(keys.recentOptOuts(k))).toBe(3);
    expect(Object.keys(await oor(1))).toEqual(expect.arrayContaining(['trim|3', 'trim|4']));
  });

  it('check, listed and list read the tenant\'s and the global list (two slots)', async () => {
    const store = new OptOutStore(redis, keys);
    await store.add('iso', ['4790000021'], 'api', 1);
    await store.add(GLOBAL, ['4790000022'], 'admin', 2);
    expect(await store.check('iso', '4790000021')).toEqual({ optedOut: true, scope: 'tenant', record: { number: '+4790000021', at: 1, source: 'api' } });
    expect(await store.check('iso', '4790000022')).toEqual({ optedOut: true, scope: 'global', record: { number: '+4790000022', at: 2, source: 'admin' } });
    expect(await store.check('other', '4790000021')).toMatchObject({ optedOut: false, scope: undefined });
    expect(await store.check(undefined, '4790000022')).toMatchObject({ optedOut: true, scope: 'global' });
    expect(await store.listed([{ tenant: 'iso', to: '4790000021' }, { tenant: 'other', to: '4790000021' }, { tenant: 'other', to: '4790000022' }, { tenant: 'iso', to: '4790000023' }])).toEqual([true, false, true, false]);
    expect(await store.list('iso', undefined, 10)).toEqual({ items: [{ number: '+4790000021', at: 1, source: 'api' }], next: undefined, total: 1 });
  });

  it('pause writes the master copy and every shard\'s copy; copies only move forward; a crash between the steps is repaired', async () => {
    const parking = new ParkingStore(redis, keys, limits);
    const copies = async () => Promise.all(keys.shards.all().map(async (k) => [(await redis.smembers(keys.pausedCopy(k))).sort().join(','), await redis.get(keys.pausedCopyVersion(k))]));
    const v1 = await parking.setPaused('p1', true);
    const v2 = await parking.setPaused('p2', true);
    expect(v2.version).toBe(v1.version + 1);
    expect(await parking.pausedTenants()).toEqual(expect.arrayContaining(['p1', 'p2']));
    expect(await copies()).toEqual(Array(S).fill(['p1,p2', String(v2.version)]));
    // A late writer of an older version (a repair that read the master before the pause) changes nothing.
    const s = parking as unknown as { s: { syCopyPaused(...a: Array<string | number>): Promise<number> } };
    expect(await s.s.syCopyPaused(keys.pausedCopy(0), keys.pausedCopyVersion(0), v1.version, 'p1')).toBe(0);
    expect((await copies())[0]).toEqual(['p1,p2', String(v2.version)]);
    // Step 1 only (the master copy), as if the node died before the copies: repaired.
    const m = parking as unknown as { s: { sySetPaused(...a: Array<string | number>): Promise<[number, number, string[]]> } };
    const [v3] = await m.s.sySetPaused(keys.control('pz'), keys.control('pz:ver'), 'p1', 0);
    expect((await copies())[S - 1]).toEqual(['p1,p2', String(v2.version)]);
    await parking.repairCopies();
    expect(await copies()).toEqual(Array(S).fill(['p2', String(v3)]));
    expect(await parking.isPaused('p2')).toBe(true);
    expect(await parking.isPaused('p1')).toBe(false);
    await parking.setPaused('p2', false);
    expect(await copies()).toEqual(Array(S).fill(['', String(v3 + 1)]));
  });

  it('the actors\' poll and the pause handshake use the control slot; parked parts are counted over every shard', async () => {
    const parking = new ParkingStore(redis, keys, limits);
    const { version } = await parking.setPaused('hs', true);
    const store = new OptOutStore(redis, keys);
    const { eventId } = await store.add('hs', ['4790000031'], 'api');
    expect((await parking.pauseCheck(version, eventId)).confirmed).not.toContain('node:a');
    const r = await parking.poll('node:a', '-1', '0-0', 1000);
    expect(r.version).toBe(String(version));
    expect(r.paused).toContain('hs');
    expect(r.optOuts.at(-1)).toEqual({ eid: eventId, add: true, tenant: 'hs', number: '4790000031' });
    // The poll after applying them confirms both.
    await parking.poll('node:a', r.version, eventId, 1000);
    expect(await parking.pauseCheck(version, eventId)).toEqual({ confirmed: ['node:a'], waiting: [] });
    await parking.setPaused('hs', false);
    await redis.xadd(keys.parkOf(1, 'hs'), '*', 'h', 'x');
    await redis.xadd(keys.parkOf(3, 'hs'), '*', 'h', 'y');
    await redis.xadd(keys.parkOf(3, 'hs'), '*', 'h', 'z');
    expect(await parking.parkedCount('hs')).toBe(3);
  });
});
