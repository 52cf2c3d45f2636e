/**
 * The opt-out, hold and pause scripts against a real Redis and the local
 * Redis Cluster, with the state in 4 shards, without SMPP: where the enqueue
 * script puts each message, the re-checks of the actors' divert script (a
 * stale view parks or stops nothing; an opt-out written after the caller's
 * pre-check still stops, found in the shard's recent opt-outs), approval of
 * a message whose number opted out or whose tenant is paused meanwhile or
 * whose sendAt is ahead, a park that races with a resume, a pre-check too old
 * for the recent opt-outs refused, and the reaper dropping entries of
 * messages that ended while held.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { newShardedMessageId } from '../../engine/ingress/message-id.js';
import { OptOutStore, GLOBAL } from '../../engine/optout/optout-store.js';
import { PreCheckResult } from '../../engine/optout/pre-check.js';
import { ApproveResult, DivertResult, ParkingStore } from '../../engine/parking/parking-store.js';
import { GROUP, Keys } from '../../engine/queue/keys.js';
import { LifecycleStore } from '../../engine/queue/lifecycle-store.js';
import { OPT_OUT_SKEW_MS, PRE_CHECK_MAX_AGE_MS, RedisStore, type NewMessage, type QueueEntry } from '../../engine/queue/redis-store.js';
import { runSections, Section } from '../../engine/queue/sections.js';
import { Shards } from '../../engine/queue/shards.js';
import type { RedisClient, RedisTarget } from '../../engine/redis/connect-redis.js';
import { connectRedis } from '../../engine/redis/connect-redis.js';
import { clusterTarget } from '../helpers/redis-cluster.js';
import { dropPrefix } from '../helpers/redis-targets.js';

const SHARDS = 4;
const limits = { eventsMaxLen: 100_000, finalRetentionSec: 3600 };
const targets: Array<[string, () => RedisTarget]> = [
  ['a single Redis', () => ({ kind: 'single', url: inject('redisUrl') })],
  ['the Redis Cluster', clusterTarget],
];

describe.each(targets)('opt-out, hold and pause scripts on %s', (_name, target) => {
  let redis: RedisClient;
  let store: RedisStore;
  let parking: ParkingStore;
  let optOuts: OptOutStore;
  const prefix = `t:${randomBytes(3).toString('hex')}:`;
  const keys = new Keys(prefix, new Shards(SHARDS));
  const ids = new Map<string, string>();
  let next = 0;
  /** A message id per test name, each in the next shard (or the one given). */
  const id = (name: string, shard?: number): string => {
    let v = ids.get(name);
    if (v === undefined) ids.set(name, (v = newShardedMessageId(shard ?? next++ % SHARDS)));
    return v;
  };
  const shardOf = (name: string) => keys.shardOf(id(name)) as number;

  function message(name: string, to: string, o: { tenant?: string; hold?: boolean; parts?: number; validMs?: number; dueAt?: number } = {}): NewMessage {
    const now = Date.now();
    const parts = o.parts ?? 1;
    return {
      id: id(name), tenant: o.tenant ?? 'acme', ref: 'ref-' + name, to, from: 'Acme', smsc: 'a', dataCoding: 0, esmClass: parts > 1 ? 0x40 : 0,
      parts: Array.from({ length: parts }, (_, i) => ({ shortMessage: Buffer.from(`part ${i + 1}`) })),
      acceptedAt: now, validUntil: now + (o.validMs ?? 3600_000), ttlSec: 7200, pushStatus: true, route: 'NO|242|01|0.031|EUR',
      ...(o.dueAt === undefined ? {} : { dueAt: o.dueAt }),
      hold: o.hold ? { code: 'URL_NOT_ALLOWED', text: 'link to x.xyz' } : undefined,
    };
  }

  async function events(name: string): Promise<Array<{ status: string; error?: { code: string; text: string } }>> {
    const all = await redis.xrange(keys.eventsOf(shardOf(name)), '-', '+');
    return all.map(([, f]) => JSON.parse(f[f.indexOf('f') + 1] as string)).filter((f) => f.id === id(name));
  }

  async function read(n: number): Promise<QueueEntry[]> {
    const out: QueueEntry[] = [];
    for (let i = 0; i < 10 && out.length < n; i++) {
      const r = await store.read('test:c1', keys.queuesOf('a'), n - out.length, '>');
      out.push(...r.entries);
      if (r.entries.length === 0) break;
    }
    return out;
  }
  const names = (es: QueueEntry[]) => es.map((e) => [...ids].find(([, v]) => v === e.id)?.[0] ?? e.id).sort();
  const streamLen = async (kind: 'hold' | 'park', tenant: string) => {
    let n = 0;
    for (const k of keys.shards.all()) n += await redis.xlen(kind === 'hold' ? keys.holdOf(k, tenant) : keys.parkOf(k, tenant));
    return n;
  };

  beforeAll(async () => {
    redis = connectRedis(target(), { connectionName: 'sy-test' });
    store = new RedisStore(redis, keys, limits);
    parking = new ParkingStore(redis, keys, limits);
    optOuts = new OptOutStore(redis, keys);
    await store.ensureGroups('a');
  });

  afterAll(async () => {
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it('enqueue: stopped (tenant or global list), held, paused, queued; entries carry the tenant', async () => {
    await optOuts.add('acme', ['4790000001'], 'api');
    await optOuts.add(GLOBAL, ['4790000002'], 'admin');
    await parking.setPaused('paused-co', true);
    const d = await store.enqueue([
      message('s1', '4790000001'), message('s2', '4790000002', { tenant: 'other' }), message('h1', '4790000003', { hold: true, parts: 2 }),
      message('p1', '4790000004', { tenant: 'paused-co' }), message('q1', '4790000005'), message('q2', '4790000001', { tenant: 'other' }),
    ]);
    expect(d).toEqual(['stopped', 'stopped', 'pending_approval', 'paused', 'queued', 'queued']);
    expect(await events('s1')).toEqual([expect.objectContaining({ status: 'stopped', error: expect.objectContaining({ code: 'OPTED_OUT' }) })]);
    expect(await redis.hget(keys.msg(id('s1')), 's')).toBe('stopped');
    expect(await events('h1')).toEqual([expect.objectContaining({ status: 'pending_approval', error: { code: 'URL_NOT_ALLOWED', text: 'link to x.xyz' } })]);
    expect(await events('p1')).toEqual([expect.objectContaining({ status: 'paused' })]);
    expect(await events('q1')).toEqual([]);
    expect(await redis.xlen(keys.holdOf(shardOf('h1'), 'acme'))).toBe(2);
    expect(await redis.xlen(keys.parkOf(shardOf('p1'), 'paused-co'))).toBe(1);
    const entries = await read(10);
    expect(entries.map((e) => `${names([e])[0]}:${e.tenant}`).sort()).toEqual(['q1:acme', 'q2:other']);
    await parking.setPaused('paused-co', false);
  });

  it('another tenant\'s opt-out of the same number moments ago no longer stops a message (recent opt-outs held bare numbers)', async () => {
    await optOuts.add('x-a', ['4790000061'], 'api');
    await optOuts.add(GLOBAL, ['4790000062'], 'admin');
    // Within the skew margin of x-a's opt-out: x-b's message to the number is not x-a's business; the global list is everyone's.
    expect(await store.enqueue([message('t1', '4790000061', { tenant: 'x-b' }), message('t2', '4790000061', { tenant: 'x-a' }), message('t3', '4790000062', { tenant: 'x-b' })])).toEqual(['queued', 'stopped', 'stopped']);
    expect(names(await read(10))).toEqual(['t1']);
  });

  it('a number removed from the list moments after its opt-out is sent again (the removal left it in the recent opt-outs)', async () => {
    await optOuts.add('acme', ['4790000071'], 'api');
    expect(await store.enqueue([message('v1', '4790000071')])).toEqual(['stopped']);
    await optOuts.remove('acme', ['4790000071']);
    // Within the clock-skew margin of the addition: the removal answered, so the message goes.
    expect(await store.enqueue([message('v2', '4790000071')])).toEqual(['queued']);
    expect(names(await read(10))).toEqual(['v2']);
  });

  it('divert decides again: a stale view sends; opted out stops; paused parks; unpark refuses while paused', async () => {
    await store.enqueue([message('d1', '4790000011'), message('d2', '4790000012'), message('d3', '4790000013')]);
    const es = await read(3);
    const [e1, e2, e3] = ['d1', 'd2', 'd3'].map((n) => es.find((e) => e.id === id(n)) as QueueEntry) as [QueueEntry, QueueEntry, QueueEntry];
    // Neither paused nor opted out: left for the actor to send.
    expect(await parking.divert([e1])).toEqual([DivertResult.Send]);
    await optOuts.add('acme', ['4790000012'], 'api');
    await parking.setPaused('acme', true);
    expect(await parking.divert([e2, e3])).toEqual([DivertResult.Stopped, DivertResult.Parked]);
    expect(await events('d2')).toEqual([expect.objectContaining({ status: 'stopped', error: expect.objectContaining({ code: 'OPTED_OUT' }) })]);
    expect(await events('d3')).toEqual([expect.objectContaining({ status: 'paused' })]);
    // Stopped and parked entries left their queue (acknowledged and deleted); d1 is still the actor's.
    expect(await redis.xlen(e2.queueKey)).toBe((await redis.xrange(e2.queueKey, '-', '+')).length);
    expect((await redis.xrange(e2.queueKey, e2.entryId, e2.entryId)).length).toBe(0);
    expect((await redis.xrange(e3.queueKey, e3.entryId, e3.entryId)).length).toBe(0);
    expect(await parking.unpark('acme', 100)).toBeUndefined();
    await parking.setPaused('acme', false);
    expect(await parking.unpark('acme', 100)).toEqual({ moved: 1, scanned: 1, more: false });
    expect((await events('d3')).map((e) => e.status)).toEqual(['paused', 'queued']);
    expect(names(await read(10))).toEqual(['d3']);
  });

  it('divert: an opt-out written after the caller read the lists is found in the shard\'s recent opt-outs; an older one there is not this message\'s', async () => {
    await store.enqueue([message('r1', '4790000041'), message('r2', '4790000042')]);
    const es = await read(2);
    const [r1, r2] = ['r1', 'r2'].map((n) => es.find((e) => e.id === id(n)) as QueueEntry) as [QueueEntry, QueueEntry];
    // As an opt-out between the pre-check and the script leaves it: in oor:{K} (scored after the
    // pre-check), while the list the pre-check read did not have it yet (here: never).
    await redis.zadd(keys.recentOptOuts(shardOf('r1')), Date.now() + 60_000, 'acme|4790000041');
    // Recorded long before any pre-check of now (less the skew): the list had it then, or it was removed since.
    await redis.zadd(keys.recentOptOuts(shardOf('r2')), Date.now() - OPT_OUT_SKEW_MS - 60_000, 'acme|4790000042');
    // Another tenant's opt-out of the same number, just now: not acme's.
    await redis.zadd(keys.recentOptOuts(shardOf('r2')), Date.now() + 60_000, 'other|4790000042');
    expect(await parking.divert([r1, r2])).toEqual([DivertResult.Stopped, DivertResult.Send]);
    expect((await events('r1')).at(-1)).toMatchObject({ status: 'stopped', error: { code: 'OPTED_OUT' } });
  });

  it('a pre-check older than the recent opt-outs reach back is refused: nothing moves', async () => {
    await store.enqueue([message('o1', '4790000051')]);
    const [e] = await read(1) as [QueueEntry];
    const k = shardOf('o1');
    const sec = new Section(k, [keys.eventsOf(k), keys.expiryOf(k), keys.pausedCopy(k), keys.recentOptOuts(k)]);
    sec.push(sec.key(e.queueKey), sec.key(keys.msg(e.id)), sec.key(keys.parkOf(k, 'acme')), e.entryId, e.id, e.part, 'acme', e.to, 1);
    const old = Date.now() - PRE_CHECK_MAX_AGE_MS - 60_000;
    expect(await runSections(redis, 'syDivert', [Date.now(), limits.eventsMaxLen, limits.finalRetentionSec, GROUP, old, PRE_CHECK_MAX_AGE_MS, OPT_OUT_SKEW_MS], [sec])).toEqual([PreCheckResult.Stale]);
    // Listed, but not stopped: the script refused the whole section.
    expect(await redis.hget(keys.msg(e.id), 'p1')).toBe('q');
    expect((await redis.xrange(e.queueKey, e.entryId, e.entryId)).length).toBe(1);
  });

  it('unpark: a number that opted out while parked is stopped; a message back in its queue is cancellable while unread', async () => {
    const life = new LifecycleStore(redis, keys, limits, ['a']);
    await parking.setPaused('acme', true);
    expect(await store.enqueue([message('u1', '4790000031'), message('u2', '4790000032')])).toEqual(['paused', 'paused']);
    await optOuts.add('acme', ['4790000031'], 'api');
    await parking.setPaused('acme', false);
    expect(await parking.unpark('acme', 100)).toEqual({ moved: 1, scanned: 2, more: false });
    expect((await events('u1')).at(-1)).toMatchObject({ status: 'stopped', error: { code: 'OPTED_OUT' } });
    const u2 = await redis.hgetall(keys.msg(id('u2')));
    expect(u2).toMatchObject({ s: 'queued', qe: expect.stringMatching(/^\d+-\d+$/) });
    expect(u2.pe).toBeUndefined();
    expect(await life.cancel([{ tenant: 'acme', id: id('u2') }], Date.now())).toEqual([{ code: 'stopped', status: 'stopped' }]);
    expect(await redis.hget(keys.msg(id('u2')), 'p1')).toBe('S');
    expect(await read(10)).toEqual([]);
  });

  it('approve: queued; stopped if the number opted out meanwhile; parked if the tenant is paused; scheduled if not due; reject stops with the reason', async () => {
    const due = Date.now() + 3_600_000;
    await store.enqueue([
      message('a1', '4790000021', { hold: true }), message('a2', '4790000022', { hold: true }), message('a3', '4790000023', { hold: true, parts: 3 }),
      message('a4', '4790000024', { hold: true }), message('a5', '4790000025', { hold: true, dueAt: due }),
    ]);
    await optOuts.add('acme', ['4790000022'], 'mo');
    expect(await parking.approve([id('a1'), id('a2'), 'nope', id('nope2')])).toEqual([ApproveResult.Queued, ApproveResult.Stopped, ApproveResult.NotHeld, ApproveResult.NotHeld]);
    await parking.setPaused('acme', true);
    expect(await parking.approve([id('a3')])).toEqual([ApproveResult.Paused]);
    expect(await redis.xlen(keys.parkOf(shardOf('a3'), 'acme'))).toBe(3);
    await parking.setPaused('acme', false);
    expect(await parking.approve([id('a5')])).toEqual([ApproveResult.Scheduled]);
    expect(await redis.zscore(keys.scheduleOf(shardOf('a5')), id('a5'))).toBe(String(due));
    expect(await redis.hget(keys.msg(id('a5')), 'b1')).toBe('part 1');
    expect(await parking.reject([id('a4'), id('a1')], 'spam')).toEqual([true, false]);
    expect((await events('a4')).at(-1)).toMatchObject({ status: 'stopped', error: { code: 'MODERATION_REJECTED', text: 'spam' } });
    expect((await events('a2')).at(-1)).toMatchObject({ status: 'stopped', error: { code: 'OPTED_OUT' } });
    expect(await streamLen('hold', 'acme')).toBe(2); // h1's two parts from the first test
    expect(names(await read(10))).toEqual(['a1']);
  });

  it('a held message that expires ends expired and the reaper drops its entries', async () => {
    await store.enqueue([message('x1', '4790000031', { hold: true, validMs: -1000, tenant: 'reap' })]);
    const k = shardOf('x1');
    expect(await redis.xlen(keys.holdOf(k, 'reap'))).toBe(1);
    expect(await store.sweepExpired(Date.now(), 100, 3600)).toBeGreaterThanOrEqual(1);
    expect(await redis.hget(keys.msg(id('x1')), 's')).toBe('expired');
    // An entry that names no message of this deployment is dropped too.
    await redis.xadd(keys.holdOf(k, 'reap'), '*', 'h', 'not-an-id|1|1|479|A|0|0|0', 'b', 'x', 't', 'reap', 'q', keys.queueOf('a', k));
    const streams = keys.shards.all().map((shard) => ({ shard, tenant: 'reap', kind: 'hold' as const, after: '0-0' }));
    expect((await parking.reap(streams, 100))[k]).toEqual({ last: '0-0', dropped: 2 });
    expect(await redis.xlen(keys.holdOf(k, 'reap'))).toBe(0);
    expect(await parking.approve([id('x1')])).toEqual([ApproveResult.NotHeld]);
  });
});
