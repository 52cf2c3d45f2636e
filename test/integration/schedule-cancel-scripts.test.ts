/**
 * The lifecycle scripts on shards, against a real Redis and the local Redis
 * Cluster: scheduling (enqueue, the move when due, two schedulers at once,
 * validity ending before the move, an opt-out recorded after the check),
 * cancel (scheduled, queued and unread, queued and read, sent, another
 * tenant's, an id that is not one of ours) and failover moves between SMSCs.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Scheduler } from '../../engine/lifecycle/scheduler.js';
import { newShardedMessageId } from '../../engine/ingress/message-id.js';
import { Keys } from '../../engine/queue/keys.js';
import { LifecycleStore } from '../../engine/queue/lifecycle-store.js';
import { RedisStore, type NewMessage, type QueueEntry } from '../../engine/queue/redis-store.js';
import { Shards } from '../../engine/queue/shards.js';
import { connectRedis, masterNodes, type RedisClient, type RedisTarget } from '../../engine/redis/connect-redis.js';
import { clusterTarget } from '../helpers/redis-cluster.js';

const CONSUMER = 'test:c1';
const LIMITS = { eventsMaxLen: 100_000, finalRetentionSec: 3600 };
const SHARDS = 4;

const targets: Array<[string, () => RedisTarget]> = [
  ['a single Redis', () => ({ kind: 'single', url: inject('redisUrl') })],
  ['the Redis Cluster', clusterTarget],
];

describe.each(targets)('lifecycle scripts on %s', (_name, target) => {
  let redis: RedisClient;
  let store: RedisStore;
  let life: LifecycleStore;
  const prefix = `tl:${randomBytes(3).toString('hex')}:`;
  const keys = new Keys(prefix, new Shards(SHARDS));
  const ids = new Map<string, string>();
  let next = 0;
  const id = (name: string): string => {
    let v = ids.get(name);
    if (v === undefined) ids.set(name, (v = newShardedMessageId(next++ % SHARDS)));
    return v;
  };
  const nameOf = (mid: string): string => [...ids].find(([, v]) => v === mid)?.[0] ?? mid;

  function message(name: string, o: { parts?: number; dueAt?: number; tenant?: string; validMs?: number; to?: string; smsc?: string } = {}): NewMessage {
    const now = Date.now();
    const parts = o.parts ?? 1;
    const start = o.dueAt ?? now;
    return {
      id: id(name), tenant: o.tenant ?? 'acme', ref: 'ref-' + name, to: o.to ?? '4791234567', from: 'Acme', smsc: o.smsc ?? 'a',
      dataCoding: 8, esmClass: parts > 1 ? 0x40 : 0,
      parts: Array.from({ length: parts }, (_, i) => ({ shortMessage: Buffer.from([0x05, 0x00, 0x03, 0x07, parts, i + 1, 0x04, 0x1f, 0xff, 0x00]) })),
      acceptedAt: now, validUntil: start + (o.validMs ?? 3600_000), ttlSec: 7200, pushStatus: true, route: 'NO|242|01|0.031|EUR',
      dueAt: o.dueAt ?? 0,
    };
  }

  async function readAll(n: number, smsc = 'a'): Promise<QueueEntry[]> {
    const out: QueueEntry[] = [];
    for (let i = 0; i < 20 && out.length < n; i++) out.push(...(await store.read(CONSUMER, keys.queuesOf(smsc), n - out.length, '>')).entries);
    return out;
  }
  const queueLength = async (smsc = 'a') => (await Promise.all(keys.queuesOf(smsc).map((q) => redis.xlen(q)))).reduce((a, b) => a + b, 0);

  async function events(name: string): Promise<Array<Record<string, unknown>>> {
    const mid = id(name);
    return (await redis.xrange(keys.eventsOf(keys.shardOf(mid) as number), '-', '+')).flatMap(([, f]) => {
      const fr = JSON.parse(f[f.indexOf('f') + 1] as string) as Record<string, unknown>;
      return fr.id === mid ? [fr] : [];
    });
  }
  const hash = (name: string) => redis.hgetall(keys.msg(id(name)));

  beforeAll(async () => {
    redis = connectRedis(target(), { connectionName: 'sy-test-lifecycle' });
    store = new RedisStore(redis, keys, LIMITS, { smscs: ['a', 'b'] });
    life = new LifecycleStore(redis, keys, LIMITS, ['a', 'b']);
    await store.ensureGroups('a');
    await store.ensureGroups('b');
  });

  afterAll(async () => {
    for (const m of masterNodes(redis)) for (const k of await m.keys(prefix + '*')) await redis.del(k);
    redis.disconnect();
  });

  describe('scheduling', () => {
    it('keeps a scheduled message out of its queue until due, then moves it with its parts intact', async () => {
      const due = Date.now() + 60_000;
      await store.enqueue([message('s1', { parts: 3, dueAt: due })]);
      const k = keys.shardOf(id('s1')) as number;
      expect(await hash('s1')).toMatchObject({ s: 'scheduled', da: String(due), p1: 'q', p3: 'q' });
      expect(await queueLength()).toBe(0);
      expect(await redis.zscore(keys.scheduleOf(k), id('s1'))).toBe(String(due));
      expect((await events('s1')).map((e) => e.status)).toEqual(['scheduled']);
      // not due yet: nothing moves
      expect(await life.moveDue(due - 1, 100)).toEqual({ moved: 0, expired: 0, taken: 0, stopped: 0 });
      expect(await life.moveDue(due, 100)).toEqual({ moved: 1, expired: 0, taken: 1, stopped: 0 });
      const entries = await readAll(3);
      expect(entries.map((e) => `${nameOf(e.id)}/${e.part}/${e.total}/${e.dataCoding}/${e.esmClass}`)).toEqual(['s1/1/3/8/64', 's1/2/3/8/64', 's1/3/3/8/64']);
      expect(entries.every((e) => e.queueKey === keys.queueOf('a', k))).toBe(true);
      expect(entries[1]?.shortMessage).toEqual(Buffer.from([0x05, 0x00, 0x03, 0x07, 3, 2, 0x04, 0x1f, 0xff, 0x00]));
      expect(entries[0]?.validUntilSec).toBe(Math.floor((due + 3600_000) / 1000));
      const after = await hash('s1');
      expect(after).toMatchObject({ s: 'queued', qa: String(due), qe: entries[0]?.entryId });
      expect(after.b1).toBeUndefined();
      expect(await redis.zscore(keys.scheduleOf(k), id('s1'))).toBeNull();
      expect((await events('s1')).map((e) => e.status)).toEqual(['scheduled', 'queued']);
      // moving again finds nothing: the schedule entry went with the move
      expect((await life.moveDue(due + 10_000, 100)).taken).toBe(0);
      await store.submitted('a', 3600, entries.map((e, i) => ({ entry: e, normId: `${prefix}sx${i}`, rawId: 'SX' + i })), due + 5);
      expect((await events('s1')).map((e) => e.status)).toEqual(['scheduled', 'queued', 'sent']);
    });

    it('two schedulers moving the same due messages at once move each exactly once', async () => {
      const due = Date.now() - 1;
      const n = 600;
      const msgs = Array.from({ length: n }, (_, i) => message('d' + i, { parts: 1 + (i % 3), dueAt: due }));
      for (let i = 0; i < n; i += 200) await store.enqueue(msgs.slice(i, i + 200));
      const parts = msgs.reduce((s, m) => s + m.parts.length, 0);
      const q0 = await queueLength();
      const r2 = connectRedis(target(), { connectionName: 'sy-test-sched-a' });
      const r3 = connectRedis(target(), { connectionName: 'sy-test-sched-b' });
      const a = new Scheduler(new LifecycleStore(r2, keys, LIMITS, ['a', 'b']), { now: () => Date.now() }, () => undefined, { batch: 20 });
      const b = new Scheduler(new LifecycleStore(r3, keys, LIMITS, ['a', 'b']), { now: () => Date.now() }, () => undefined, { batch: 20 });
      await Promise.all([a.tick(), b.tick(), a.tick(), b.tick()]);
      r2.disconnect();
      r3.disconnect();
      expect(a.moved + b.moved).toBe(n);
      expect((await queueLength()) - q0).toBe(parts);
      const heads: string[] = [];
      for (const q of keys.queuesOf('a')) for (const [, f] of await redis.xrange(q, '-', '+')) heads.push(f[1] as string);
      const mine = new Set(msgs.map((m) => m.id));
      const moved = heads.filter((h) => mine.has(h.split('|')[0] as string));
      expect(new Set(moved.map((h) => h.split('|').slice(0, 2).join('|'))).size).toBe(parts);
      expect(moved.length).toBe(parts);
      let queuedEvents = 0;
      for (const k of keys.shards.all()) {
        for (const [, f] of await redis.xrange(keys.eventsOf(k), '-', '+')) {
          const fr = JSON.parse(f[f.indexOf('f') + 1] as string) as { id: string; status: string };
          if (fr.status === 'queued' && mine.has(fr.id)) queuedEvents++;
        }
      }
      expect(queuedEvents).toBe(n);
      await store.dropEntries(await readAll(parts));
    });

    it('a scheduled message whose validity ended before it could be moved ends expired and is never queued', async () => {
      const due = Date.now() - 120_000;
      await store.enqueue([message('s2', { parts: 2, dueAt: due, validMs: 60_000 })]);
      const q0 = await queueLength();
      expect(await life.moveDue(Date.now(), 100)).toMatchObject({ moved: 0, expired: 1 });
      expect(await queueLength()).toBe(q0);
      const h = await hash('s2');
      expect(h).toMatchObject({ s: 'expired', p1: 'E', p2: 'E' });
      expect(h.b1).toBeUndefined();
      expect(await redis.zscore(keys.expiryOf(keys.shardOf(id('s2')) as number), id('s2'))).toBeNull();
      const ev = await events('s2');
      expect(ev.map((e) => e.status)).toEqual(['scheduled', 'expired']);
      expect(ev[1]).toMatchObject({ error: { text: 'validity period ran out before the scheduled message could be sent' } });
    });

    it('a number on an opt-out list when due, or opted out after the check (oor), ends stopped and is never queued', async () => {
      const due = Date.now() - 1;
      await store.enqueue([message('o1', { dueAt: due, to: '4790000001' }), message('o2', { dueAt: due, to: '4790000002' })]);
      // o1: on the tenant's list by the time it is due (read by the scheduler's check)
      await redis.zadd(keys.optOut('acme'), 0, '4790000001');
      // o2: recorded in its shard's recent opt-outs "just after" the check (now): the script stops it
      await redis.zadd(keys.recentOptOuts(keys.shardOf(id('o2')) as number), Date.now() + 5000, '4790000002');
      const q0 = await queueLength();
      expect(await life.moveDue(Date.now(), 100)).toMatchObject({ moved: 0, stopped: 2 });
      expect(await queueLength()).toBe(q0);
      for (const n of ['o1', 'o2']) {
        expect(await hash(n)).toMatchObject({ s: 'stopped', we: 'OPTED_OUT' });
        expect((await events(n)).at(-1)).toMatchObject({ status: 'stopped', error: { code: 'OPTED_OUT' } });
      }
    });
  });

  describe('cancel', () => {
    it('stops scheduled and unread queued messages; refuses read, sent, final and other tenants\' ones', async () => {
      const due = Date.now() + 60_000;
      await store.enqueue([message('c1', { parts: 2, dueAt: due }), message('c3')]);
      // c3 is read by an actor (held, maybe on the wire): no longer cancellable
      expect((await readAll(1)).map((e) => nameOf(e.id))).toEqual(['c3']);
      await store.enqueue([message('c2', { parts: 3 }), message('c4')]);
      const q0 = await queueLength();
      const res = await life.cancel(
        [{ tenant: 'acme', id: id('c1') }, { tenant: 'acme', id: id('c2') }, { tenant: 'acme', id: id('c3') }, { tenant: 'other', id: id('c4') }, { tenant: 'acme', id: 'nope' }, { tenant: 'acme', id: `${id('c4').slice(0, 16)}zz` }],
        Date.now(),
      );
      expect(res).toEqual([
        { code: 'stopped', status: 'stopped' },
        { code: 'stopped', status: 'stopped' },
        { code: 'not_cancellable', status: 'queued' },
        { code: 'not_found', status: '' },
        { code: 'not_found', status: '' },
        { code: 'not_found', status: '' },
      ]);
      // c2's three entries are gone from the queue; c4's is still there
      expect(await queueLength()).toBe(q0 - 3);
      const rest = await readAll(1);
      expect(rest.map((e) => nameOf(e.id))).toEqual(['c4']);
      expect(await redis.zscore(keys.scheduleOf(keys.shardOf(id('c1')) as number), id('c1'))).toBeNull();
      for (const n of ['c1', 'c2']) {
        expect(await hash(n)).toMatchObject({ s: 'stopped', we: 'CANCELLED', p1: 'S', p2: 'S' });
        expect(await redis.ttl(keys.msg(id(n)))).toBeLessThanOrEqual(3600);
        expect(await redis.zscore(keys.expiryOf(keys.shardOf(id(n)) as number), id(n))).toBeNull();
        expect((await events(n)).at(-1)).toMatchObject({ status: 'stopped', error: { code: 'CANCELLED', text: 'cancelled by the client' } });
      }
      // the scheduler finds nothing to move for c1
      expect((await life.moveDue(due + 1, 100)).moved).toBe(0);
      // once sent, a message cannot be cancelled; nor a final one twice
      await store.submitted('a', 3600, [{ entry: rest[0] as QueueEntry, normId: `${prefix}c4x`, rawId: 'C4X' }]);
      expect(await life.cancel([{ tenant: 'acme', id: id('c4') }, { tenant: 'acme', id: id('c1') }], Date.now())).toEqual([
        { code: 'not_cancellable', status: 'sent' },
        { code: 'not_cancellable', status: 'stopped' },
      ]);
      // recovery after a crash treats a stopped message's parts as done, never as unsent
      const like = (part: number) => ({ ...(rest[0] as QueueEntry), id: id('c2'), part });
      const { unsent, done } = await store.splitUnsent([like(1), like(2), like(3)]);
      expect(unsent).toEqual([]);
      expect(done).toHaveLength(3);
      expect((await events('c1')).map((e) => e.status)).toEqual(['scheduled', 'stopped']);
    });
  });

  describe('failover moves', () => {
    it('moves unread entries of a down SMSC to another SMSC\'s stream of the same shard, keeping ids; read ones stay', async () => {
      const msgs = Array.from({ length: 2 * SHARDS }, (_, i) => message('f' + i, { parts: i === 0 ? 2 : 1, smsc: 'b' }));
      await store.enqueue(msgs);
      // the down SMSC's actor had read one entry before it went down: that one stays with it
      const [held] = (await store.read(CONSUMER, [keys.queueOf('b', keys.shardOf(msgs[1]?.id as string) as number)], 1, '>')).entries;
      expect(held?.id).toBe(msgs[1]?.id);
      let moved = 0;
      for (const k of keys.shards.all()) {
        const src = keys.queueOf('b', k);
        const unread = await store.unread(src, 100);
        expect(unread.every((e) => e.queueKey !== held?.queueKey || e.entryId !== held.entryId)).toBe(true);
        moved += await store.move(src, k, unread.map((e) => ({ entryId: e.entryId, dstKey: keys.queueOf('a', k), id: e.id, smsc: 'a', route: 'NO|242|01|0.04|EUR' })));
      }
      const parts = msgs.reduce((s, m) => s + m.parts.length, 0);
      expect(moved).toBe(parts - 1);
      expect(await queueLength('b')).toBe(1);
      const got = await readAll(parts - 1);
      expect(got.map((e) => `${e.id}/${e.part}`).sort()).toEqual(msgs.flatMap((m) => m.parts.map((_, p) => `${m.id}/${p + 1}`)).filter((x) => x !== `${held?.id}/${held?.part}`).sort());
      for (const e of got) expect(e.queueKey).toBe(keys.queueOf('a', keys.shardOf(e.id) as number));
      for (const m of msgs) if (m.id !== held?.id) expect(await redis.hmget(keys.msg(m.id), 'sm', 'rt')).toEqual(['a', 'NO|242|01|0.04|EUR']);
      expect(await redis.hget(keys.msg(held?.id as string), 'sm')).toBe('b');
      await store.dropEntries(got);
    });
  });
});
