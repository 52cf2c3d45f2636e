/**
 * The Redis state scripts against a real Redis: enqueue, credit reads, submit
 * recording, receipts (late, early, duplicate, other radix), multipart
 * aggregation and the events / status streams.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { receiptKey } from '../../engine/actors/receipt.js';
import { parseStatusEvent, type StatusEvent } from '../../analytics/status-events.js';
import { RedisStore, type NewMessage, type QueueEntry } from '../../engine/queue/redis-store.js';

let redis: Redis;
let store: RedisStore;
const prefix = `t:${randomBytes(3).toString('hex')}:`;
const CONSUMER = 'test:c1';

function message(id: string, parts = 1, pushStatus = true): NewMessage {
  const now = Date.now();
  return {
    id, tenant: 'acme', ref: 'ref-' + id, to: '4791234567', from: 'Acme', smsc: 'a', partition: 0,
    dataCoding: 0, esmClass: parts > 1 ? 0x40 : 0,
    parts: Array.from({ length: parts }, (_, i) => ({ shortMessage: Buffer.from([0x05, 0x00, 0x03, 0x01, parts, i + 1, 0x48, 0x00]) })),
    acceptedAt: now, validUntil: now + 3600_000, ttlSec: 7200, finalBy: now + 7200_000, pushStatus, route: 'NO|242|01|0.031|EUR',
  };
}

async function readAll(n: number): Promise<QueueEntry[]> {
  const out: QueueEntry[] = [];
  for (let i = 0; i < 20 && out.length < n; i++) {
    const r = await store.read(CONSUMER, [store.keys.queue('a', 0)], n - out.length, '>');
    out.push(...r.entries);
  }
  return out;
}

/** Status frames for the client: field f of the events stream entries of tenant acme. */
async function statusFrames(): Promise<Array<Record<string, unknown>>> {
  const entries = await redis.xrange(store.keys.events(), '-', '+');
  return entries.flatMap(([, f]) => {
    const m = new Map<string, string>();
    for (let i = 0; i + 1 < f.length; i += 2) m.set(f[i] as string, f[i + 1] as string);
    return m.get('t') === 'acme' && m.get('p') !== '0' ? [JSON.parse(m.get('f') as string) as Record<string, unknown>] : [];
  });
}

beforeAll(async () => {
  redis = new Redis(inject('redisUrl'));
  store = new RedisStore(redis, prefix, { eventsMaxLen: 100_000, finalRetentionSec: 3600 });
  await store.ensureGroups('a', 1);
});

afterAll(async () => {
  const keys = await redis.keys(prefix + '*');
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe('state scripts', () => {
  it('enqueues message hash, one stream entry per part and a queued event, atomically', async () => {
    await store.enqueue([message('m1'), message('m2', 3)]);
    expect(await redis.hget(store.keys.message('m2'), 's')).toBe('queued');
    expect(await redis.xlen(store.keys.queue('a', 0))).toBe(4);
    const entries = await readAll(4);
    expect(entries.map((e) => `${e.id}/${e.part}/${e.total}`)).toEqual(['m1/1/1', 'm2/1/3', 'm2/2/3', 'm2/3/3']);
    expect(entries[1]?.shortMessage).toEqual(Buffer.from([0x05, 0x00, 0x03, 0x01, 3, 1, 0x48, 0x00]));
    // no event for 'queued': every later event carries the acceptance time (ac)
    expect(await redis.xlen(store.keys.events())).toBe(0);
    // a delivered receipt for m1 arriving after its resp: sent, then delivered
    const [m1] = entries as [QueueEntry];
    expect(await store.submitted('a', 3600, [{ entry: m1, normId: 'a1b2', rawId: '00A1B2' }])).toBe(0);
    expect(await redis.hget(store.keys.message('m1'), 's')).toBe('sent');
    // entry acked and deleted
    expect(await redis.xlen(store.keys.queue('a', 0))).toBe(3);
    // the receipt says 41394 (the decimal form of 0xA1B2)
    const res = await store.receipts('a', 3600, [{ state: 'D', errCode: '000', errText: 'DELIVRD', key: receiptKey('41394', 'hex-resp-dec-receipt'), raw: '' }]);
    expect(res).toEqual([1]);
    expect(await redis.hget(store.keys.message('m1'), 's')).toBe('delivered');
    // once final, the hash is kept for the reporting window only and leaves the expiry sweep
    expect(await redis.ttl(store.keys.message('m1'))).toBeLessThanOrEqual(3600);
    expect(await redis.zscore(store.keys.expiry(), 'm1')).toBeNull();
    expect(await redis.zscore(store.keys.expiry(), 'm2')).not.toBeNull();
    const frames = (await statusFrames()).filter((f) => f.id === 'm1');
    expect(frames.map((f) => f.status)).toEqual(['sent', 'delivered']);
    expect(frames[1]).toMatchObject({ op: 'status', ref: 'ref-m1' });
    // `error` is for failures: the receipt's 000/DELIVRD is none
    expect(frames[1]).not.toHaveProperty('error');
    // a duplicate receipt changes nothing
    expect(await store.receipts('a', 3600, [{ state: 'U', errCode: '001', errText: 'UNDELIV', key: 'a1b2', raw: '' }])).toEqual([3]);
    expect(await redis.hget(store.keys.message('m1'), 's')).toBe('delivered');

    // m2: 3 parts. Part 2's receipt arrives before its submit_sm_resp (early).
    const [, p1, p2, p3] = entries as [QueueEntry, QueueEntry, QueueEntry, QueueEntry];
    expect(await store.receipts('a', 3600, [{ state: 'D', errCode: '', errText: 'DELIVRD', key: 'p2', raw: '' }])).toEqual([2]);
    await store.submitted('a', 3600, [{ entry: p1, normId: 'p1', rawId: 'P1' }]);
    expect(await redis.hget(store.keys.message('m2'), 's')).toBe('queued');
    expect(await store.submitted('a', 3600, [{ entry: p2, normId: 'p2', rawId: 'P2' }, { entry: p3, normId: 'p3', rawId: 'P3' }])).toBe(1);
    expect(await redis.hget(store.keys.message('m2'), 's')).toBe('sent');
    await store.receipts('a', 3600, [{ state: 'D', errCode: '', errText: 'DELIVRD', key: 'p1', raw: '' }]);
    expect(await redis.hget(store.keys.message('m2'), 's')).toBe('sent');
    // one part undelivered: the message is undelivered with that part's reason
    await store.receipts('a', 3600, [{ state: 'U', errCode: '011', errText: 'UNDELIV', key: 'p3', raw: 'id:P3 stat:UNDELIV err:011 text:a|b' }]);
    const m2 = await redis.hgetall(store.keys.message('m2'));
    expect(m2.s).toBe('undelivered');
    expect(m2.we).toBe('011');
    const f2 = (await statusFrames()).filter((f) => f.id === 'm2');
    expect(f2.map((f) => f.status)).toEqual(['sent', 'undelivered']);
    expect(f2[1]).toMatchObject({ error: { code: '011', text: 'UNDELIV' } });
    // analytics: the receipt-caused event carries sent → receipt latency and the operator's raw reply; the sent event neither
    const ev = (await redis.xrange(store.keys.events(), '-', '+')).map(([, f]) => parseStatusEvent(f) as StatusEvent).filter((e) => e.frame.includes('"m2"'));
    expect(ev.map((e) => [e.latencyMs === undefined, e.raw])).toEqual([[true, ''], [false, 'id:P3 stat:UNDELIV err:011 text:a|b']]);
    expect(ev[1]?.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('records permanent refusals and expiry, and keeps statuses out of the push stream when dlr is false', async () => {
    await store.enqueue([message('m3'), message('m4', 1, false)]);
    const [e3, e4] = (await readAll(2)) as [QueueEntry, QueueEntry];
    await store.failed([
      { entry: e3, state: 'R', errCode: '0x00000045', errText: 'refused by the SMSC at submit' },
      { entry: e4, state: 'E', errCode: '', errText: 'validity period ran out' },
    ]);
    expect(await redis.hget(store.keys.message('m3'), 's')).toBe('rejected');
    expect(await redis.hget(store.keys.message('m4'), 's')).toBe('expired');
    const frames = await statusFrames();
    expect(frames.filter((f) => f.id === 'm3').map((f) => f.status)).toEqual(['rejected']);
    expect(frames.filter((f) => f.id === 'm4')).toEqual([]);
    // every change is an event, pushed or not; the frame is the event, x carries the rest
    const events = (await redis.xrange(store.keys.events(), '-', '+')).map(([, f]) => parseStatusEvent(f) as StatusEvent);
    const frameOf = (e: StatusEvent) => JSON.parse(e.frame) as { id: string; status: string; error?: { code?: string } };
    const m4 = events.filter((e) => frameOf(e).id === 'm4');
    expect(m4.map((e) => frameOf(e).status)).toEqual(['expired']);
    expect(m4[0]).toMatchObject({ tenant: 'acme', push: false, smsc: 'a', parts: 1, country: 'NO', mcc: '242', mnc: '01', price: 0.031, currency: 'EUR' });
    expect(events.find((e) => frameOf(e).id === 'm3' && frameOf(e).status === 'rejected')?.frame).toContain('"code":"0x00000045"');
    // nothing pending is left
    const pending = (await redis.xpending(store.keys.queue('a', 0), 'g')) as [number, ...unknown[]];
    expect(pending[0]).toBe(0);
  });

  it('ends messages past validity + grace: unknown when sent without receipt, expired when never sent', async () => {
    await store.enqueue([message('m6'), message('m7')]);
    const [e6, e7] = (await readAll(2)) as [QueueEntry, QueueEntry];
    await store.submitted('a', 3600, [{ entry: e6, normId: 'x6', rawId: 'X6' }]);
    // not yet due
    expect(await store.sweepExpired(Date.now(), 1000, 3600)).toBe(0);
    // at validity end (an hour) both are held by someone (m6 sent, m7 read by an actor): re-scored, not ended
    expect(await store.sweepExpired(Date.now() + 3700_000, 1000, 3600)).toBeGreaterThanOrEqual(2);
    expect(await redis.hget(store.keys.message('m6'), 's')).toBe('sent');
    expect(await redis.hget(store.keys.message('m7'), 's')).toBe('queued');
    expect(await store.sweepExpired(Date.now() + 7300_000, 1000, 3600)).toBeGreaterThanOrEqual(2);
    expect(await redis.hget(store.keys.message('m6'), 's')).toBe('unknown');
    expect(await redis.hget(store.keys.message('m7'), 's')).toBe('expired');
    const frames = await statusFrames();
    expect(frames.find((f) => f.id === 'm6' && f.status === 'unknown')).toMatchObject({ error: { code: 'NO_RECEIPT', text: 'no receipt within the validity period and grace' } });
    expect(frames.find((f) => f.id === 'm7' && f.status === 'expired')).toMatchObject({ error: { code: 'VALIDITY_EXPIRED' } });
    // a receipt arriving after the sweep changes nothing
    expect(await store.receipts('a', 3600, [{ state: 'D', errCode: '', errText: 'DELIVRD', key: 'x6', raw: '' }])).toEqual([3]);
    // m7's entry is still pending: recovery finds it already final and acknowledges it without sending
    const { unsent, done } = await store.splitUnsent([e7]);
    expect(unsent).toEqual([]);
    expect(done.map((e) => e.id)).toEqual(['m7']);
  });

  it('receipt keys live for validity plus grace, and for the final retention once final (they leaked for a week)', async () => {
    await store.enqueue([message('m8'), message('m9')]);
    const [e8, e9] = (await readAll(2)) as [QueueEntry, QueueEntry];
    // validity ends in an hour (message()), grace 600 s: the key lives ~4,200 s.
    await store.submitted('a', 600, [{ entry: e8, normId: 'k8', rawId: 'K8' }, { entry: e9, normId: 'k9', rawId: 'K9' }]);
    const ttl8 = await redis.ttl(store.keys.dlr('a', 'k8'));
    expect(ttl8).toBeGreaterThan(4100);
    expect(ttl8).toBeLessThanOrEqual(4201);
    // final: only the final retention (3600 s here) is left, to recognise a redelivered receipt
    expect(await store.receipts('a', 600, [{ state: 'D', errCode: '', errText: 'DELIVRD', key: 'k8', raw: '' }])).toEqual([1]);
    expect(await redis.ttl(store.keys.dlr('a', 'k8'))).toBeLessThanOrEqual(3600);
    expect(await store.receipts('a', 600, [{ state: 'D', errCode: '', errText: 'DELIVRD', key: 'k8', raw: '' }])).toEqual([3]);
    // a temporary state (unreachable) keeps the key as it was: the final receipt is still to come
    expect(await store.receipts('a', 600, [{ state: 'u', errCode: '027', errText: 'ENROUTE', key: 'k9', raw: '' }])).toEqual([1]);
    expect(await redis.ttl(store.keys.dlr('a', 'k9'))).toBeGreaterThan(4100);
    // an early receipt is kept for the TTL it is given, not a week
    expect(await store.receipts('a', 600, [{ state: 'D', errCode: '', errText: 'DELIVRD', key: 'nobody', raw: '' }])).toEqual([2]);
    expect(await redis.ttl(`${prefix}de:a:nobody`)).toBeLessThanOrEqual(600);
  });

  it('writes a batch once even when the same script call is sent twice (reply lost with the connection)', async () => {
    const batch = [message('n1'), message('n2', 2)];
    await store.enqueue(batch);
    const before = await redis.xlen(store.keys.queue('a', 0));
    await store.enqueue(batch);
    expect(await redis.xlen(store.keys.queue('a', 0))).toBe(before);
    const entries = await readAll(3);
    expect(entries.map((e) => `${e.id}/${e.part}`)).toEqual(['n1/1', 'n2/1', 'n2/2']);
    await store.dropEntries(entries);
  });

  it('re-reads its own pending entries after a restart', async () => {
    await store.enqueue([message('m5')]);
    const [e5] = await readAll(1);
    expect(e5?.id).toBe('m5');
    // "crash": nothing recorded; the same consumer reads its pending list from 0
    const again = await store.read(CONSUMER, [store.keys.queue('a', 0)], 100, '0');
    expect(again.entries.map((e) => e.id)).toEqual(['m5']);
    const claimed = await store.autoclaim('other', store.keys.queue('a', 0), 0, 10);
    expect(claimed.map((e) => e.id)).toEqual(['m5']);
  });
});
