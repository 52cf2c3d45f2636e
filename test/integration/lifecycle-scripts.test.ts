/**
 * The lifecycle readers against a real Redis: usage totals (billed when sent,
 * or only when delivered), the list index and the daily quota. (Scheduling and
 * cancel, on shards: schedule-cancel-scripts.test.ts.)
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { decodeCursor, listMessages, SCAN_BUDGET, trimListIndexes } from '../../engine/lifecycle/message-query.js';
import { QuotaTracker } from '../../engine/lifecycle/quota-tracker.js';
import { readUsage, dayOf } from '../../engine/lifecycle/usage.js';
import { RedisStore, type NewMessage, type QueueEntry } from '../../engine/queue/redis-store.js';

let redis: Redis;
let store: RedisStore;
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

beforeAll(async () => {
  redis = new Redis(inject('redisUrl'));
  store = new RedisStore(redis, prefix, LIMITS);
  await store.ensureGroups('a');
});

afterAll(async () => {
  const keys = await redis.keys(prefix + '*');
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
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
