/**
 * The Redis state scripts against a real Redis and the local Redis Cluster:
 * enqueue, credit reads, submit recording, receipts (late, early, duplicate,
 * other radix), multipart aggregation and the events streams, with the state
 * sharded (4 shards here: a batch spans several sections, one call on a single
 * Redis and one per shard on the cluster).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { receiptKey } from '../../engine/actors/receipt.js';
import { parseStatusEvent, type StatusEvent } from '../../analytics/status-events.js';
import { newShardedMessageId } from '../../engine/ingress/message-id.js';
import { Keys } from '../../engine/queue/keys.js';
import { RedisStore, type NewMessage, type QueueEntry } from '../../engine/queue/redis-store.js';
import { Shards } from '../../engine/queue/shards.js';
import { ReceiptResult } from '../../engine/queue/script-codes.js';
import { connectRedis, masterNodes, type RedisClient, type RedisTarget } from '../../engine/redis/connect-redis.js';
import { clusterTarget } from '../helpers/redis-cluster.js';

const CONSUMER = 'test:c1';
const SHARDS = 4;

const targets: Array<[string, () => RedisTarget]> = [
  ['a single Redis', () => ({ kind: 'single', url: inject('redisUrl') })],
  ['the Redis Cluster', clusterTarget],
];

describe.each(targets)('state scripts on %s', (_name, target) => {
  let redis: RedisClient;
  let store: RedisStore;
  const prefix = `t:${randomBytes(3).toString('hex')}:`;
  const keys = new Keys(prefix, new Shards(SHARDS));
  /** Test names → message ids, each in a chosen shard (name's position mod SHARDS unless given). */
  const ids = new Map<string, string>();
  let next = 0;
  const id = (name: string, shard?: number): string => {
    let v = ids.get(name);
    if (v === undefined) {
      v = newShardedMessageId(shard ?? next++ % SHARDS);
      ids.set(name, v);
    }
    return v;
  };

  function message(name: string, parts = 1, pushStatus = true): NewMessage {
    const now = Date.now();
    const mid = id(name);
    return {
      id: mid, tenant: 'acme', ref: 'ref-' + name, to: '4791234567', from: 'Acme', smsc: 'a',
      dataCoding: 0, esmClass: parts > 1 ? 0x40 : 0,
      parts: Array.from({ length: parts }, (_, i) => ({ shortMessage: Buffer.from([0x05, 0x00, 0x03, 0x01, parts, i + 1, 0x48, 0x00]) })),
      acceptedAt: now, validUntil: now + 3600_000, ttlSec: 7200, pushStatus, route: 'NO|242|01|0.031|EUR',
    };
  }

  /** Reads n new entries over the SMSC's shard streams, in the order of the names given (ids are random per shard). */
  async function readAll(n: number): Promise<QueueEntry[]> {
    const out: QueueEntry[] = [];
    for (let i = 0; i < 20 && out.length < n; i++) {
      const r = await store.read(CONSUMER, keys.queuesOf('a'), n - out.length, '>');
      out.push(...r.entries);
    }
    return out;
  }
  const named = (entries: QueueEntry[], name: string, part = 1): QueueEntry => entries.find((e) => e.id === ids.get(name) && e.part === part) as QueueEntry;
  const nameOf = (mid: string): string => [...ids].find(([, v]) => v === mid)?.[0] ?? mid;

  /** Every shard's events, in time order. */
  async function events(): Promise<Array<Record<string, string>>> {
    const all: Array<[string, Record<string, string>]> = [];
    for (const k of keys.shards.all()) {
      for (const [eid, f] of await redis.xrange(keys.eventsOf(k), '-', '+')) {
        const m: Record<string, string> = {};
        for (let i = 0; i + 1 < f.length; i += 2) m[f[i] as string] = f[i + 1] as string;
        all.push([eid, m]);
      }
    }
    return all.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, m]) => m);
  }
  /** Status frames for the client of tenant acme (field f of pushed entries). */
  async function statusFrames(): Promise<Array<Record<string, unknown>>> {
    return (await events()).flatMap((m) => (m.t === 'acme' && m.p !== '0' ? [JSON.parse(m.f as string) as Record<string, unknown>] : []));
  }
  const statusOf = (name: string) => redis.hget(keys.msg(id(name)), 's');

  beforeAll(async () => {
    redis = connectRedis(target(), { connectionName: 'sy-test-state' });
    store = new RedisStore(redis, keys, { eventsMaxLen: 100_000, finalRetentionSec: 3600 }, { smscs: ['a'] });
    await store.ensureGroups('a');
  });

  afterAll(async () => {
    for (const m of masterNodes(redis)) {
      const ks = await m.keys(prefix + '*');
      for (const k of ks) await redis.del(k);
    }
    redis.disconnect();
  });

  it('enqueues message hash, one stream entry per part and a queued event, atomically, each in its shard', async () => {
    await store.enqueue([message('m1'), message('m2', 3)]);
    expect(keys.shardOf(id('m1'))).toBe(0);
    expect(keys.shardOf(id('m2'))).toBe(1);
    expect(await statusOf('m2')).toBe('queued');
    expect(await redis.xlen(keys.queueOf('a', 0))).toBe(1);
    expect(await redis.xlen(keys.queueOf('a', 1))).toBe(3);
    const entries = await readAll(4);
    expect(entries.map((e) => `${nameOf(e.id)}/${e.part}/${e.total}`).sort()).toEqual(['m1/1/1', 'm2/1/3', 'm2/2/3', 'm2/3/3']);
    expect(named(entries, 'm2').shortMessage).toEqual(Buffer.from([0x05, 0x00, 0x03, 0x01, 3, 1, 0x48, 0x00]));
    // no event for 'queued': every later event carries the acceptance time (ac)
    expect((await events()).length).toBe(0);
    // a delivered receipt for m1 arriving after its resp: sent, then delivered
    const m1 = named(entries, 'm1');
    expect(await store.submitted('a', 3600, [{ entry: m1, normId: 'a1b2', rawId: '00A1B2' }])).toBe(0);
    expect(await statusOf('m1')).toBe('sent');
    // entry acked and deleted
    expect(await redis.xlen(keys.queueOf('a', 0))).toBe(0);
    // the receipt says 41394 (the decimal form of 0xA1B2)
    const res = await store.receipts('a', 3600, [{ state: 'D', errCode: '000', errText: 'DELIVRD', key: receiptKey('41394', 'hex-resp-dec-receipt'), raw: '' }]);
    expect(res).toEqual([ReceiptResult.Applied]);
    expect(await statusOf('m1')).toBe('delivered');
    // once final, the hash is kept for the reporting window only and leaves the expiry sweep
    expect(await redis.ttl(keys.msg(id('m1')))).toBeLessThanOrEqual(3600);
    expect(await redis.zscore(keys.expiryOf(0), id('m1'))).toBeNull();
    expect(await redis.zscore(keys.expiryOf(1), id('m2'))).not.toBeNull();
    const frames = (await statusFrames()).filter((f) => f.id === id('m1'));
    expect(frames.map((f) => f.status)).toEqual(['sent', 'delivered']);
    expect(frames[1]).toMatchObject({ op: 'status', ref: 'ref-m1' });
    // `error` is for failures: the receipt's 000/DELIVRD is none
    expect(frames[1]).not.toHaveProperty('error');
    // a duplicate receipt changes nothing
    expect(await store.receipts('a', 3600, [{ state: 'U', errCode: '001', errText: 'UNDELIV', key: 'a1b2', raw: '' }])).toEqual([ReceiptResult.Duplicate]);
    expect(await statusOf('m1')).toBe('delivered');
    // billing: the message and its part, in the usage hash of m1's shard and day
    const day = Math.floor(Date.now() / 86_400_000);
    expect(await redis.hgetall(keys.usageOf(0, day))).toEqual({ 'acme|m': '1', 'acme|s': '1', 'acme|c:EUR': '31000' });
    expect(await redis.ttl(keys.usageOf(0, day))).toBeGreaterThan(399 * 86400);

    // m2: 3 parts. Part 2's receipt arrives before its submit_sm_resp (early).
    const p1 = named(entries, 'm2', 1);
    const p2 = named(entries, 'm2', 2);
    const p3 = named(entries, 'm2', 3);
    expect(await store.receipts('a', 3600, [{ state: 'D', errCode: '', errText: 'DELIVRD', key: 'p2', raw: '' }])).toEqual([ReceiptResult.Early]);
    await store.submitted('a', 3600, [{ entry: p1, normId: 'p1', rawId: 'P1' }]);
    expect(await statusOf('m2')).toBe('queued');
    expect(await store.submitted('a', 3600, [{ entry: p2, normId: 'p2', rawId: 'P2' }, { entry: p3, normId: 'p3', rawId: 'P3' }])).toBe(1);
    expect(await statusOf('m2')).toBe('sent');
    await store.receipts('a', 3600, [{ state: 'D', errCode: '', errText: 'DELIVRD', key: 'p1', raw: '' }]);
    expect(await statusOf('m2')).toBe('sent');
    // one part undelivered: the message is undelivered with that part's reason
    await store.receipts('a', 3600, [{ state: 'U', errCode: '011', errText: 'UNDELIV', key: 'p3', raw: 'id:P3 stat:UNDELIV err:011 text:a|b' }]);
    const m2 = await redis.hgetall(keys.msg(id('m2')));
    expect(m2.s).toBe('undelivered');
    expect(m2.we).toBe('011');
    const f2 = (await statusFrames()).filter((f) => f.id === id('m2'));
    expect(f2.map((f) => f.status)).toEqual(['sent', 'undelivered']);
    expect(f2[1]).toMatchObject({ error: { code: '011', text: 'UNDELIV' } });
    // analytics: the receipt-caused event carries sent → receipt latency and the operator's raw reply; the sent event neither
    const ev = (await events()).map((m) => parseStatusEvent(Object.entries(m).flat()) as StatusEvent).filter((e) => e.frame.includes(`"${id('m2')}"`));
    expect(ev.map((e) => [e.latencyMs === undefined, e.raw])).toEqual([[true, ''], [false, 'id:P3 stat:UNDELIV err:011 text:a|b']]);
    expect(ev[1]?.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('records permanent refusals and expiry, and keeps statuses out of the push stream when dlr is false', async () => {
    await store.enqueue([message('m3'), message('m4', 1, false)]);
    const got = await readAll(2);
    const e3 = named(got, 'm3');
    const e4 = named(got, 'm4');
    await store.failed([
      { entry: e3, state: 'R', errCode: '0x00000045', errText: 'refused by the SMSC at submit' },
      { entry: e4, state: 'E', errCode: '', errText: 'validity period ran out' },
    ]);
    expect(await statusOf('m3')).toBe('rejected');
    expect(await statusOf('m4')).toBe('expired');
    const frames = await statusFrames();
    expect(frames.filter((f) => f.id === id('m3')).map((f) => f.status)).toEqual(['rejected']);
    expect(frames.filter((f) => f.id === id('m4'))).toEqual([]);
    // every change is an event, pushed or not; the frame is the event, x carries the rest
    const all = (await events()).map((m) => parseStatusEvent(Object.entries(m).flat()) as StatusEvent);
    const frameOf = (e: StatusEvent) => JSON.parse(e.frame) as { id: string; status: string; error?: { code?: string } };
    const m4 = all.filter((e) => frameOf(e).id === id('m4'));
    expect(m4.map((e) => frameOf(e).status)).toEqual(['expired']);
    expect(m4[0]).toMatchObject({ tenant: 'acme', push: false, smsc: 'a', parts: 1, country: 'NO', mcc: '242', mnc: '01', price: 0.031, currency: 'EUR' });
    expect(all.find((e) => frameOf(e).id === id('m3') && frameOf(e).status === 'rejected')?.frame).toContain('"code":"0x00000045"');
    // nothing pending is left
    for (const q of keys.queuesOf('a')) expect(((await redis.xpending(q, 'g')) as [number, ...unknown[]])[0]).toBe(0);
  });

  it('ends messages past validity + grace: unknown when sent without receipt, expired when never sent', async () => {
    await store.enqueue([message('m6'), message('m7')]);
    const got = await readAll(2);
    const e6 = named(got, 'm6');
    const e7 = named(got, 'm7');
    await store.submitted('a', 3600, [{ entry: e6, normId: 'x6', rawId: 'X6' }]);
    // not yet due
    expect(await store.sweepExpired(Date.now(), 1000, 3600)).toBe(0);
    // at validity end (an hour) both are held by someone (m6 sent, m7 read by an actor): re-scored, not ended
    expect(await store.sweepExpired(Date.now() + 3700_000, 1000, 3600)).toBeGreaterThanOrEqual(1);
    expect(await statusOf('m6')).toBe('sent');
    expect(await statusOf('m7')).toBe('queued');
    expect(await store.sweepExpired(Date.now() + 7300_000, 1000, 3600)).toBeGreaterThanOrEqual(1);
    expect(await statusOf('m6')).toBe('unknown');
    expect(await statusOf('m7')).toBe('expired');
    const frames = await statusFrames();
    expect(frames.find((f) => f.id === id('m6') && f.status === 'unknown')).toMatchObject({ error: { code: 'NO_RECEIPT', text: 'no receipt within the validity period and grace' } });
    expect(frames.find((f) => f.id === id('m7') && f.status === 'expired')).toMatchObject({ error: { code: 'VALIDITY_EXPIRED' } });
    // a receipt arriving after the sweep changes nothing
    expect(await store.receipts('a', 3600, [{ state: 'D', errCode: '', errText: 'DELIVRD', key: 'x6', raw: '' }])).toEqual([ReceiptResult.Duplicate]);
    // m7's entry is still pending: recovery finds it already final and acknowledges it without sending
    const { unsent, done } = await store.splitUnsent([e7]);
    expect(unsent).toEqual([]);
    expect(done.map((e) => e.id)).toEqual([id('m7')]);
  });

  it('receipt keys live for validity plus grace, and for the final retention once final (they leaked for a week)', async () => {
    await store.enqueue([message('m8'), message('m9')]);
    const got = await readAll(2);
    // validity ends in an hour (message()), grace 600 s: the key lives ~4,200 s.
    await store.submitted('a', 600, [{ entry: named(got, 'm8'), normId: 'k8', rawId: 'K8' }, { entry: named(got, 'm9'), normId: 'k9', rawId: 'K9' }]);
    const ttl8 = await redis.ttl(keys.dlrOf('a', 'k8'));
    expect(ttl8).toBeGreaterThan(4100);
    expect(ttl8).toBeLessThanOrEqual(4201);
    // final: only the final retention (3600 s here) is left, to recognise a redelivered receipt
    expect(await store.receipts('a', 600, [{ state: 'D', errCode: '', errText: 'DELIVRD', key: 'k8', raw: '' }])).toEqual([ReceiptResult.Applied]);
    expect(await redis.ttl(keys.dlrOf('a', 'k8'))).toBeLessThanOrEqual(3600);
    expect(await store.receipts('a', 600, [{ state: 'D', errCode: '', errText: 'DELIVRD', key: 'k8', raw: '' }])).toEqual([ReceiptResult.Duplicate]);
    // a temporary state (unreachable) keeps the key as it was: the final receipt is still to come
    expect(await store.receipts('a', 600, [{ state: 'u', errCode: '027', errText: 'ENROUTE', key: 'k9', raw: '' }])).toEqual([ReceiptResult.Applied]);
    expect(await redis.ttl(keys.dlrOf('a', 'k9'))).toBeGreaterThan(4100);
    // an early receipt is kept for the TTL it is given, not a week
    expect(await store.receipts('a', 600, [{ state: 'D', errCode: '', errText: 'DELIVRD', key: 'nobody', raw: '' }])).toEqual([ReceiptResult.Early]);
    expect(await redis.ttl(keys.earlyDlrOf('a', 'nobody'))).toBeLessThanOrEqual(600);
  });

  it('writes a batch once even when the same script call is sent twice (reply lost with the connection)', async () => {
    const batch = [message('n1'), message('n2', 2)];
    await store.enqueue(batch);
    const len = async () => (await Promise.all(keys.queuesOf('a').map((q) => redis.xlen(q)))).reduce((a, b) => a + b, 0);
    const before = await len();
    expect(await store.enqueue(batch)).toEqual(['queued', 'queued']);
    expect(await len()).toBe(before);
    const entries = await readAll(3);
    expect(entries.map((e) => `${nameOf(e.id)}/${e.part}`).sort()).toEqual(['n1/1', 'n2/1', 'n2/2']);
    await store.dropEntries(entries);
  });

  it('re-reads its own pending entries after a restart', async () => {
    await store.enqueue([message('m5')]);
    const [e5] = await readAll(1);
    expect(e5?.id).toBe(id('m5'));
    // "crash": nothing recorded; the same consumer reads its pending list from 0
    const again = await store.read(CONSUMER, keys.queuesOf('a'), 100, '0');
    expect(again.entries.map((e) => e.id)).toEqual([id('m5')]);
    const claimed = await store.autoclaim('other', e5?.queueKey as string, 0, 10);
    expect(claimed.map((e) => e.id)).toEqual([id('m5')]);
    await store.dropEntries(claimed);
  });
});
