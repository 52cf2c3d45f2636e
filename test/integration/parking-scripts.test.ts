/**
 * The opt-out, hold and pause scripts against a real Redis, without SMPP:
 * where the enqueue script puts each message, the atomic re-checks of the
 * actors' divert script (a stale view parks or stops nothing), approval of a
 * message whose number opted out or whose tenant is paused meanwhile, a park
 * that races with a resume, and the reaper dropping entries of messages that
 * expired while held.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RedisStore, type NewMessage, type QueueEntry } from '../../engine/queue/redis-store.js';
import { ApproveResult, DivertResult, ParkingStore } from '../../engine/parking/parking-store.js';
import { OptOutStore, GLOBAL } from '../../engine/optout/optout-store.js';
import { LifecycleStore } from '../../engine/queue/lifecycle-store.js';

let redis: Redis;
let store: RedisStore;
let parking: ParkingStore;
let optOuts: OptOutStore;
const prefix = `t:${randomBytes(3).toString('hex')}:`;
const limits = { eventsMaxLen: 100_000, finalRetentionSec: 3600 };

function message(id: string, to: string, o: { tenant?: string; hold?: boolean; parts?: number; validMs?: number } = {}): NewMessage {
  const now = Date.now();
  const parts = o.parts ?? 1;
  return {
    id, tenant: o.tenant ?? 'acme', ref: 'ref-' + id, to, from: 'Acme', smsc: 'a', dataCoding: 0, esmClass: parts > 1 ? 0x40 : 0,
    parts: Array.from({ length: parts }, (_, i) => ({ shortMessage: Buffer.from(`part ${i + 1}`) })),
    acceptedAt: now, validUntil: now + (o.validMs ?? 3600_000), ttlSec: 7200, pushStatus: true, route: 'NO|242|01|0.031|EUR',
    hold: o.hold ? { code: 'URL_NOT_ALLOWED', text: 'link to x.xyz' } : undefined,
  };
}

async function events(id: string): Promise<Array<{ status: string; error?: { code: string; text: string } }>> {
  const all = await redis.xrange(store.keys.events(), '-', '+');
  return all.map(([, f]) => JSON.parse(f[f.indexOf('f') + 1] as string)).filter((f) => f.id === id);
}

async function read(n: number): Promise<QueueEntry[]> {
  return (await store.read('test:c1', [store.keys.queue('a', 0)], n, '>')).entries;
}

beforeAll(async () => {
  redis = new Redis(inject('redisUrl'));
  store = new RedisStore(redis, prefix, limits);
  parking = new ParkingStore(redis, store.keys, limits);
  optOuts = new OptOutStore(redis, store.keys);
  await store.ensureGroups('a');
});

afterAll(async () => {
  const keys = await redis.keys(prefix + '*');
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe('opt-out, hold and pause scripts', () => {
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
    expect(await redis.hget(store.keys.message('s1'), 's')).toBe('stopped');
    expect(await redis.ttl(store.keys.message('s1'))).toBeLessThanOrEqual(3600);
    expect(await events('h1')).toEqual([expect.objectContaining({ status: 'pending_approval', error: { code: 'URL_NOT_ALLOWED', text: 'link to x.xyz' } })]);
    expect(await events('p1')).toEqual([expect.objectContaining({ status: 'paused' })]);
    expect(await events('q1')).toEqual([]);
    expect(await redis.xlen(store.keys.hold('acme'))).toBe(2);
    expect(await redis.xlen(store.keys.park('paused-co'))).toBe(1);
    const entries = await read(10);
    expect(entries.map((e) => `${e.id}:${e.tenant}`)).toEqual(['q1:acme', 'q2:other']);
    await parking.setPaused('paused-co', false);
  });

  it('divert re-checks atomically: a stale view sends; opted out stops; paused parks; unpark refuses while paused', async () => {
    await store.enqueue([message('d1', '4790000011'), message('d2', '4790000012'), message('d3', '4790000013')]);
    const [e1, e2, e3] = await read(3) as [QueueEntry, QueueEntry, QueueEntry];
    // Neither paused nor opted out: left for the actor to send.
    expect(await parking.divert([e1])).toEqual([DivertResult.Send]);
    await optOuts.add('acme', ['4790000012'], 'api');
    await parking.setPaused('acme', true);
    expect(await parking.divert([e2, e3])).toEqual([DivertResult.Stopped, DivertResult.Parked]);
    expect(await events('d2')).toEqual([expect.objectContaining({ status: 'stopped', error: expect.objectContaining({ code: 'OPTED_OUT' }) })]);
    expect(await events('d3')).toEqual([expect.objectContaining({ status: 'paused' })]);
    expect(await redis.xlen(store.keys.queue('a', 0))).toBe(3); // d1, and q1 and q2 read (pending) in the first test
    expect(await parking.unpark('acme', 100)).toBeUndefined();
    await parking.setPaused('acme', false);
    expect(await parking.unpark('acme', 100)).toEqual({ moved: 1, scanned: 1 });
    expect((await events('d3')).map((e) => e.status)).toEqual(['paused', 'queued']);
    expect((await read(10)).map((e) => e.id)).toEqual(['d3']);
  });

  it('unpark: a number that opted out while parked is stopped; a message back in its queue is cancellable while unread', async () => {
    const life = new LifecycleStore(redis, store.keys, limits);
    await parking.setPaused('acme', true);
    expect(await store.enqueue([message('u1', '4790000031'), message('u2', '4790000032')])).toEqual(['paused', 'paused']);
    await optOuts.add('acme', ['4790000031'], 'api');
    await parking.setPaused('acme', false);
    expect(await parking.unpark('acme', 100)).toEqual({ moved: 1, scanned: 2 });
    expect((await events('u1')).at(-1)).toMatchObject({ status: 'stopped', error: { code: 'OPTED_OUT' } });
    const u2 = await redis.hgetall(store.keys.message('u2'));
    expect(u2).toMatchObject({ s: 'queued', qe: expect.stringMatching(/^0\|\d+-\d+$/) });
    expect(u2.pe).toBeUndefined();
    expect(await life.cancel([{ tenant: 'acme', id: 'u2' }], Date.now())).toEqual([{ code: 'stopped', status: 'stopped' }]);
    expect(await redis.hget(store.keys.message('u2'), 'p1')).toBe('S');
    expect(await read(10)).toEqual([]);
  });

  it('approve: queued; stopped if the number opted out meanwhile; parked if the tenant is paused; reject stops with the reason', async () => {
    await store.enqueue([message('a1', '4790000021', { hold: true }), message('a2', '4790000022', { hold: true }), message('a3', '4790000023', { hold: true, parts: 3 }), message('a4', '4790000024', { hold: true })]);
    await optOuts.add('acme', ['4790000022'], 'mo');
    expect(await parking.approve(['a1', 'a2', 'nope'])).toEqual([ApproveResult.Queued, ApproveResult.Stopped, ApproveResult.NotHeld]);
    await parking.setPaused('acme', true);
    expect(await parking.approve(['a3'])).toEqual([ApproveResult.Paused]);
    expect(await redis.xlen(store.keys.park('acme'))).toBe(3);
    await parking.setPaused('acme', false);
    expect(await parking.reject(['a4', 'a1'], 'spam')).toEqual([true, false]);
    expect((await events('a4')).at(-1)).toMatchObject({ status: 'stopped', error: { code: 'MODERATION_REJECTED', text: 'spam' } });
    expect((await events('a2')).at(-1)).toMatchObject({ status: 'stopped', error: { code: 'OPTED_OUT' } });
    expect(await redis.xlen(store.keys.hold('acme'))).toBe(2); // h1's two parts from the first test
    expect((await read(10)).map((e) => e.id)).toEqual(['a1']);
  });

  it('a held message that expires ends expired and the reaper drops its entries', async () => {
    await store.enqueue([message('x1', '4790000031', { hold: true, validMs: -1000, tenant: 'reap' })]);
    expect(await redis.xlen(store.keys.hold('reap'))).toBe(1);
    expect(await store.sweepExpired(Date.now(), 100, 3600)).toBeGreaterThanOrEqual(1);
    expect(await redis.hget(store.keys.message('x1'), 's')).toBe('expired');
    expect(await parking.reap(store.keys.hold('reap'), '0-0', 100, 'hold')).toEqual({ last: '0-0', dropped: 1 });
    expect(await redis.xlen(store.keys.hold('reap'))).toBe(0);
    expect(await parking.approve(['x1'])).toEqual([ApproveResult.NotHeld]);
  });
});
