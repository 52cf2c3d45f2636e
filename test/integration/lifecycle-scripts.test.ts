/**
 * The lifecycle scripts against a real Redis: scheduling (enqueue, the move
 * when due, two schedulers at once, validity ending before the move), cancel
 * (scheduled, queued and unread, queued and read, sent, another tenant's),
 * usage totals (billed when sent, or only when delivered) and the list index.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { decodeCursor, listMessages, lookupMessage, SCAN_BUDGET, trimListIndexes } from '../../engine/lifecycle/message-query.js';
import { QuotaTracker } from '../../engine/lifecycle/quota-tracker.js';
import { Scheduler } from '../../engine/lifecycle/scheduler.js';
import { readUsage, dayOf } from '../../engine/lifecycle/usage.js';
import { LifecycleStore } from '../../engine/queue/lifecycle-store.js';
import { RedisStore, type NewMessage, type QueueEntry } from '../../engine/queue/redis-store.js';

let redis: Redis;
let store: RedisStore;
let life: LifecycleStore;
const prefix = `tl:${randomBytes(3).toString('hex')}:`;
const CONSUMER = 'test:c1';
const LIMITS = { eventsMaxLen: 100_000, finalRetentionSec: 3600 };

function message(id: string, o: { parts?: number; dueAt?: number; tenant?: string; billOnDelivery?: boolean; validMs?: number; to?: string; ref?: string } = {}): NewMessage {
  const now = Date.now();
  const parts = o.parts ?? 1;
  const start = o.dueAt ?? now;
  return {
    id, tenant: o.tenant ?? 'acme', ref: o.ref ?? 'ref-' + id, to: o.to ?? '4791234567', from: 'Acme', smsc: 'a',
    dataCoding: 8, esmClass: parts > 1 ? 0x40 : 0,
    parts: Array.from({ length: parts }, (_, i) => ({ shortMessage: Buffer.from([0x05, 0x00, 0x03, 0x07, parts, i + 1, 0x04, 0x1f, 0xff, 0x00]) })),
    acceptedAt: now, validUntil: start + (o.validMs ?? 3600_000), ttlSec: 7200, pushStatus: true, route: 'NO|242|01|0.031|EUR',
    dueAt: o.dueAt ?? 0, billOnDelivery: o.billOnDelivery ?? false,
  };
}

async function readAll(n: number, consumer = CONSUMER): Promise<QueueEntry[]> {
  const out: QueueEntry[] = [];
  for (let i = 0; i < 20 && out.length < n; i++) {
    const r = await store.read(consumer, [store.keys.queue('a', 0)], n - out.length, '>');
    out.push(...r.entries);
  }
  return out;
}

async function events(id: string): Promise<Array<Record<string, unknown>>> {
  const entries = await redis.xrange(store.keys.events(), '-', '+');
  return entries.flatMap(([, f]) => {
    const m = new Map<string, string>();
    for (let i = 0; i + 1 < f.length; i += 2) m.set(f[i] as string, f[i + 1] as string);
    const fr = JSON.parse(m.get('f') as string) as Record<string, unknown>;
    return fr.id === id ? [{ ...fr, tenant: m.get('t') }] : [];
  });
}

beforeAll(async () => {
  redis = new Redis(inject('redisUrl'));
  store = new RedisStore(redis, prefix, LIMITS);
  life = new LifecycleStore(redis, store.keys, LIMITS);
  await store.ensureGroups('a');
});

afterAll(async () => {
  const keys = await redis.keys(prefix + '*');
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe('scheduling', () => {
  it('keeps a scheduled message out of its queue until due, then moves it with its parts intact', async () => {
    const due = Date.now() + 60_000;
    await store.enqueue([message('s1', { parts: 3, dueAt: due })]);
    const h = await redis.hgetall(store.keys.message('s1'));
    expect(h).toMatchObject({ s: 'scheduled', da: String(due), qp: '0', p1: 'q', p3: 'q' });
    expect(await redis.xlen(store.keys.queue('a', 0))).toBe(0);
    expect(await redis.zscore(store.keys.schedule(), 's1')).toBe(String(due));
    expect((await events('s1')).map((e) => e.status)).toEqual(['scheduled']);
    // not due yet: nothing moves
    expect(await life.moveDue(due - 1, 100)).toEqual({ moved: 0, expired: 0, taken: 0, stopped: 0 });
    expect(await life.moveDue(due, 100)).toEqual({ moved: 1, expired: 0, taken: 1, stopped: 0 });
    const entries = await readAll(3);
    expect(entries.map((e) => `${e.id}/${e.part}/${e.total}/${e.dataCoding}/${e.esmClass}`)).toEqual(['s1/1/3/8/64', 's1/2/3/8/64', 's1/3/3/8/64']);
    expect(entries[1]?.shortMessage).toEqual(Buffer.from([0x05, 0x00, 0x03, 0x07, 3, 2, 0x04, 0x1f, 0xff, 0x00]));
    expect(entries[0]?.validUntilSec).toBe(Math.floor((due + 3600_000) / 1000));
    const after = await redis.hgetall(store.keys.message('s1'));
    expect(after).toMatchObject({ s: 'queued', qa: String(due), qe: `0|${entries[0]?.entryId}` });
    expect(after.b1).toBeUndefined();
    expect(await redis.zscore(store.keys.schedule(), 's1')).toBeNull();
    expect((await events('s1')).map((e) => e.status)).toEqual(['scheduled', 'queued']);
    // moving again finds nothing: the schedule entry went with the move
    expect((await life.moveDue(due + 10_000, 100)).taken).toBe(0);
    await store.submitted('a', 3600, entries.map((e, i) => ({ entry: e, normId: 'sx' + i, rawId: 'SX' + i })), due + 5);
    const m = await lookupMessage(redis, store.keys, 'acme', 's1');
    expect(m?.events.map((e) => e.status)).toEqual(['scheduled', 'queued', 'sent']);
    expect(m?.partStates.map((p) => p.state)).toEqual(['sent', 'sent', 'sent']);
  });

  it('two schedulers moving the same due messages at once move each exactly once', async () => {
    const due = Date.now() - 1;
    const n = 1500;
    const msgs = Array.from({ length: n }, (_, i) => message('d' + i, { parts: 1 + (i % 3), dueAt: due }));
    for (let i = 0; i < n; i += 500) await store.enqueue(msgs.slice(i, i + 500));
    const parts = msgs.reduce((s, m) => s + m.parts.length, 0);
    const q0 = await redis.xlen(store.keys.queue('a', 0));
    const r2 = new Redis(inject('redisUrl'));
    const r3 = new Redis(inject('redisUrl'));
    const keys = store.keys;
    const a = new Scheduler(new LifecycleStore(r2, keys, LIMITS), { now: () => Date.now() }, () => undefined, { batch: 50 });
    const b = new Scheduler(new LifecycleStore(r3, keys, LIMITS), { now: () => Date.now() }, () => undefined, { batch: 50 });
    await Promise.all([a.tick(), b.tick(), a.tick(), b.tick()]);
    r2.disconnect();
    r3.disconnect();
    expect(a.moved + b.moved).toBe(n);
    // both took part (neither had them all), and every part is in the queue once
    expect(a.moved).toBeGreaterThan(0);
    expect(b.moved).toBeGreaterThan(0);
    expect((await redis.xlen(keys.queue('a', 0))) - q0).toBe(parts);
    const entries = await redis.xrange(keys.queue('a', 0), '-', '+');
    const heads = entries.map(([, f]) => f[1] as string).filter((h) => h.startsWith('d'));
    expect(new Set(heads.map((h) => h.split('|').slice(0, 2).join('|'))).size).toBe(parts);
    const queued = (await redis.xrange(keys.events(), '-', '+')).filter(([, f]) => (f[3] as string).includes('"queued"'));
    expect(queued.filter(([, f]) => /"id":"d\d+"/.test(f[3] as string)).length).toBe(n);
    await store.dropEntries(entries.filter(([, f]) => (f[1] as string).startsWith('d')).map(([eid]) => ({ queueKey: keys.queue('a', 0), entryId: eid })));
  });

  it('a scheduled message whose validity ended before it could be moved ends expired and is never queued', async () => {
    const due = Date.now() - 120_000;
    await store.enqueue([message('s2', { parts: 2, dueAt: due, validMs: 60_000 })]);
    const q0 = await redis.xlen(store.keys.queue('a', 0));
    expect(await life.moveDue(Date.now(), 100)).toMatchObject({ moved: 0, expired: 1 });
    expect(await redis.xlen(store.keys.queue('a', 0))).toBe(q0);
    const h = await redis.hgetall(store.keys.message('s2'));
    expect(h).toMatchObject({ s: 'expired', p1: 'E', p2: 'E' });
    expect(h.b1).toBeUndefined();
    expect(await redis.zscore(store.keys.expiry(), 's2')).toBeNull();
    const ev = await events('s2');
    expect(ev.map((e) => e.status)).toEqual(['scheduled', 'expired']);
    expect(ev[1]).toMatchObject({ error: { text: 'validity period ran out before the scheduled message could be sent' } });
  });
});

describe('cancel', () => {
  it('stops scheduled and unread queued messages; refuses read, sent, final and other tenants\' ones', async () => {
    const due = Date.now() + 60_000;
    await store.enqueue([message('c1', { parts: 2, dueAt: due }), message('c3')]);
    // c3 is read by an actor (held, maybe on the wire): no longer cancellable
    expect((await readAll(1)).map((e) => e.id)).toEqual(['c3']);
    await store.enqueue([message('c2', { parts: 3 }), message('c4')]);
    const q0 = await redis.xlen(store.keys.queue('a', 0));
    const res = await life.cancel(
      [{ tenant: 'acme', id: 'c1' }, { tenant: 'acme', id: 'c2' }, { tenant: 'acme', id: 'c3' }, { tenant: 'other', id: 'c4' }, { tenant: 'acme', id: 'nope' }],
      Date.now(),
    );
    expect(res).toEqual([
      { code: 'stopped', status: 'stopped' },
      { code: 'stopped', status: 'stopped' },
      { code: 'not_cancellable', status: 'queued' },
      { code: 'not_found', status: '' },
      { code: 'not_found', status: '' },
    ]);
    // c2's three entries are gone from the queue; c4's is still there
    expect(await redis.xlen(store.keys.queue('a', 0))).toBe(q0 - 3);
    const rest = await readAll(1);
    expect(rest.map((e) => e.id)).toEqual(['c4']);
    expect(await redis.zscore(store.keys.schedule(), 'c1')).toBeNull();
    for (const id of ['c1', 'c2']) {
      const h = await redis.hgetall(store.keys.message(id));
      expect(h).toMatchObject({ s: 'stopped', we: 'CANCELLED', p1: 'S', p2: 'S' });
      expect(await redis.ttl(store.keys.message(id))).toBeLessThanOrEqual(3600);
      expect(await redis.zscore(store.keys.expiry(), id)).toBeNull();
      expect((await events(id)).at(-1)).toMatchObject({ status: 'stopped', error: { code: 'CANCELLED', text: 'cancelled by the client' } });
    }
    // the scheduler finds nothing to move for c1
    expect((await life.moveDue(due + 1, 100)).moved).toBe(0);
    // once sent, a message cannot be cancelled; nor a final one twice
    await store.submitted('a', 3600, [{ entry: rest[0] as QueueEntry, normId: 'c4x', rawId: 'C4X' }]);
    expect(await life.cancel([{ tenant: 'acme', id: 'c4' }, { tenant: 'acme', id: 'c1' }], Date.now())).toEqual([
      { code: 'not_cancellable', status: 'sent' },
      { code: 'not_cancellable', status: 'stopped' },
    ]);
    // recovery after a crash treats a stopped message's parts as done, never as unsent
    const like = (part: number) => ({ ...(rest[0] as QueueEntry), id: 'c2', part });
    const { unsent, done } = await store.splitUnsent([like(1), like(2), like(3)]);
    expect(unsent).toEqual([]);
    expect(done).toHaveLength(3);
    const hist = await lookupMessage(redis, store.keys, 'acme', 'c1');
    expect(hist?.events.map((e) => e.status)).toEqual(['scheduled', 'stopped']);
    expect(hist?.events[1]).toMatchObject({ error: { code: 'CANCELLED' } });
    expect(await lookupMessage(redis, store.keys, 'other', 'c1')).toBeUndefined();
  });
});

describe('usage', () => {
  it('counts segments and cost when sent, or only delivered messages for tenants billed on delivery', async () => {
    await store.enqueue([message('u1', { parts: 2, tenant: 'bill' }), message('u2', { tenant: 'bill' }), message('u3', { parts: 2, tenant: 'dlv', billOnDelivery: true }), message('u4', { tenant: 'dlv', billOnDelivery: true })]);
    const entries = (await readAll(6)).filter((e) => e.id.startsWith('u'));
    expect(entries).toHaveLength(6);
    const u2 = entries.find((e) => e.id === 'u2') as QueueEntry;
    await store.submitted('a', 3600, entries.filter((e) => e !== u2).map((e) => ({ entry: e, normId: `${e.id}p${e.part}`, rawId: 'X' })));
    await store.failed([{ entry: u2, state: 'R', errCode: '0x00000045', errText: 'refused' }]);
    const today = dayOf(Date.now());
    // tenant bill: u1's two parts went out, u2 was refused (not billed)
    expect((await readUsage(redis, store.keys, 'bill', today, today, 'sent')).total).toEqual({ messages: 1, segments: 2, cost: { EUR: 0.062 } });
    // tenant dlv: nothing yet (sent, not delivered)
    expect((await readUsage(redis, store.keys, 'dlv', today, today, 'delivered')).days).toEqual([]);
    await store.receipts('a', 3600, [
      { state: 'D', errCode: '', errText: 'DELIVRD', key: 'u3p1', raw: '' },
      { state: 'D', errCode: '', errText: 'DELIVRD', key: 'u3p2', raw: '' },
      { state: 'U', errCode: '011', errText: 'UNDELIV', key: 'u4p1', raw: '' },
      // receipts for tenant bill change nothing in its usage
      { state: 'D', errCode: '', errText: 'DELIVRD', key: 'u1p1', raw: '' },
    ]);
    const dlv = await readUsage(redis, store.keys, 'dlv', today - 1, today, 'delivered');
    expect(dlv.total).toEqual({ messages: 1, segments: 2, cost: { EUR: 0.062 } });
    expect(dlv.days.map((d) => d.day)).toEqual([new Date(today * 86_400_000).toISOString().slice(0, 10)]);
    expect((await readUsage(redis, store.keys, 'bill', today, today, 'sent')).total.segments).toBe(2);
    expect(await redis.ttl(store.keys.usage('dlv', today))).toBeGreaterThan(399 * 86_400);
  });
});

describe('list index', () => {
  it('lists a tenant\'s messages newest first with filters and a cursor, and trims whole minutes by age', async () => {
    const t = 'lister';
    const now = Date.now();
    const nowMinute = Math.floor(now / 60_000);
    // 30 messages, each in a minute of its own, from 40 minutes ago on
    const base = (nowMinute - 40) * 60_000;
    const msgs = Array.from({ length: 30 }, (_, i) => ({ ...message('l' + String(i).padStart(2, '0'), { tenant: t, to: i % 3 === 0 ? '4790000000' : '4791111111', ref: 'r' + (i % 5) }), acceptedAt: base + i * 61_000 }));
    await store.enqueue(msgs);
    await store.enqueue([message('lsched', { tenant: t, dueAt: now + 3600_000 }), message('lother', { tenant: 'someone-else' })]);
    const all = await listMessages(redis, store.keys, t, { limit: 100 });
    expect(all.messages.map((m) => m.id)).toEqual(['lsched', ...msgs.map((m) => m.id).reverse()]);
    expect(all.next).toBeNull();
    expect(all.messages[0]).toMatchObject({ status: 'scheduled', sendAt: now + 3600_000, price: { perPart: 0.031, total: 0.031, currency: 'EUR' } });
    // pages of 7 through everything, no duplicates, no gaps
    const seen: string[] = [];
    let cursor: ReturnType<typeof decodeCursor>;
    for (let k = 0; k < 10; k++) {
      const page = await listMessages(redis, store.keys, t, { limit: 7, ...(cursor ? { cursor } : {}) });
      seen.push(...page.messages.map((m) => m.id));
      if (page.next === null) break;
      cursor = decodeCursor(page.next);
      // a message arriving between pages does not disturb them
      if (k === 0) await store.enqueue([{ ...message('lnew', { tenant: t }), acceptedAt: Date.now() }]);
    }
    expect(seen).toEqual(all.messages.map((m) => m.id));
    // filters
    const to = await listMessages(redis, store.keys, t, { limit: 100, to: '4790000000' });
    expect(to.messages.map((m) => m.id)).toEqual(msgs.filter((_, i) => i % 3 === 0).map((m) => m.id).reverse());
    const ref = await listMessages(redis, store.keys, t, { limit: 100, ref: 'r2' });
    expect(ref.messages.every((m) => m.ref === 'r2')).toBe(true);
    expect(ref.messages).toHaveLength(6);
    const sched = await listMessages(redis, store.keys, t, { limit: 100, statuses: new Set(['scheduled']) });
    expect(sched.messages.map((m) => m.id)).toEqual(['lsched']);
    const range = await listMessages(redis, store.keys, t, { limit: 100, since: base + 10 * 61_000, until: base + 14 * 61_000 });
    expect(range.messages.map((m) => m.id)).toEqual(['l14', 'l13', 'l12', 'l11', 'l10']);
    // a narrow filter looks at everything when it is small...
    expect(await listMessages(redis, store.keys, t, { limit: 100, ref: 'no-such-ref' })).toMatchObject({ messages: [], next: null, scanned: 32 });
    // ...and over many entries stops at the scan budget and says where to go on
    const many = Array.from({ length: SCAN_BUDGET + 150 }, (_, i) => message('b' + i, { tenant: 'busy', ref: i === 5 ? 'needle' : 'hay' }));
    for (let i = 0; i < many.length; i += 500) await store.enqueue(many.slice(i, i + 500));
    const p1 = await listMessages(redis, store.keys, 'busy', { limit: 10, ref: 'needle' });
    expect(p1).toMatchObject({ messages: [], scanned: SCAN_BUDGET });
    expect(p1.next).not.toBeNull();
    const p2 = await listMessages(redis, store.keys, 'busy', { limit: 10, ref: 'needle', cursor: decodeCursor(p1.next as string) as NonNullable<ReturnType<typeof decodeCursor>> });
    expect(p2).toMatchObject({ next: null, scanned: 150 });
    expect(p2.messages.map((m) => m.id)).toEqual(['b5']);
    // trimming drops whole minutes that ended more than the retention ago, never the scheduled one
    expect(await trimListIndexes(redis, store.keys, [t], now, 20 * 60)).toBe(20);
    const left = await listMessages(redis, store.keys, t, { limit: 100 });
    expect(left.messages.map((m) => m.id)).toEqual(['lsched', 'lnew', ...msgs.slice(20).map((m) => m.id).reverse()]);
    expect(await redis.exists(store.keys.listIndex(t, nowMinute - 40))).toBe(0);
  });
});

describe('daily quota', () => {
  it('is shared by engine nodes through Redis, overshoots by at most what another node took within one sync, and starts afresh each UTC day', async () => {
    let now = Date.UTC(2026, 0, 1, 23, 59, 58);
    const clock = { now: () => now };
    const r2 = new Redis(inject('redisUrl'));
    // Sync intervals longer than the test: every sync below is explicit.
    const a = new QuotaTracker(redis, store.keys, [{ id: 'q', dailyQuota: 10 }, { id: 'free' }], clock, 3_600_000);
    const b = new QuotaTracker(r2, store.keys, [{ id: 'q', dailyQuota: 10 }], clock, 3_600_000);
    await a.start();
    await b.start();
    for (let i = 0; i < 6; i++) expect(a.tryTake('q')).toBe(true);
    await a.sync();
    await b.sync();
    expect(b.used('q')).toBe(6);
    for (let i = 0; i < 4; i++) expect(b.tryTake('q')).toBe(true);
    expect(b.tryTake('q')).toBe(false);
    // a has not heard of b's four yet: one more gets through on a before the next sync
    expect(a.tryTake('q')).toBe(true);
    await b.sync();
    await a.sync();
    expect(a.used('q')).toBe(11);
    expect(a.tryTake('q')).toBe(false);
    const day = Math.floor(now / 86_400_000);
    expect(await redis.get(store.keys.quota('q', day))).toBe('11');
    // a message given back (Redis refused it) frees its place
    a.giveBack('q');
    a.giveBack('q');
    expect(a.tryTake('q')).toBe(true);
    // tenants without a quota are never refused
    for (let i = 0; i < 100; i++) expect(a.tryTake('free')).toBe(true);
    // midnight UTC: a new count
    now += 3000;
    expect(a.tryTake('q')).toBe(true);
    await a.sync();
    expect(await redis.get(store.keys.quota('q', day + 1))).toBe('1');
    expect(await redis.ttl(store.keys.quota('q', day + 1))).toBeGreaterThan(86_400);
    await a.stop();
    await b.stop();
    r2.disconnect();
  });
});
