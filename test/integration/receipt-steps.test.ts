/**
 * Submit responses and receipts are recorded in two steps each (issue 13): a
 * receipt carries only the SMSC's message id, whose mapping lives in its own
 * shard, generally not the message's. Every crash window between the steps,
 * on a single Redis and on the local Redis Cluster:
 *   submit:  link (mapping shard) ─╳─ recordSubmits (message shard)
 *   receipt: lookup (mapping shard) ─╳─ applyReceipts (message shard)
 * loses nothing and applies nothing twice (one `sent` and one final event, one
 * bill), and a receipt that overtakes its submit_sm_resp is applied whichever
 * step it meets: before the mapping (early, de:) or between the steps (parked
 * in the hash, rc<part>).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { newShardedMessageId } from '../../engine/ingress/message-id.js';
import { Keys } from '../../engine/queue/keys.js';
import { RedisStore, type NewMessage, type QueueEntry, type ReceiptItem } from '../../engine/queue/redis-store.js';
import { ReceiptResult } from '../../engine/queue/script-codes.js';
import { Shards } from '../../engine/queue/shards.js';
import { connectRedis, masterNodes, type RedisClient, type RedisTarget } from '../../engine/redis/connect-redis.js';
import { clusterTarget } from '../helpers/redis-cluster.js';

const SHARDS = 8;
const CONSUMER = 'test:steps';

const targets: Array<[string, () => RedisTarget, boolean]> = [
  ['a single Redis', () => ({ kind: 'single', url: inject('redisUrl') }), false],
  ['the Redis Cluster', clusterTarget, true],
];

describe.each(targets)('two-step submit and receipt records on %s', (_name, target, cluster) => {
  let redis: RedisClient;
  let store: RedisStore;
  const prefix = `t:${randomBytes(3).toString('hex')}:`;
  const keys = new Keys(prefix, new Shards(SHARDS));
  let n = 0;

  /** A one-part message enqueued and read by the actor; returns its entry. */
  async function queued(): Promise<QueueEntry> {
    const now = Date.now();
    const m: NewMessage = {
      id: newShardedMessageId(n++ % SHARDS), tenant: 'acme', ref: 'r', to: '4791234567', from: 'Acme', smsc: 'a', dataCoding: 0, esmClass: 0,
      parts: [{ shortMessage: Buffer.from('hi') }], acceptedAt: now, validUntil: now + 3600_000, ttlSec: 7200, pushStatus: true, route: 'NO|242|01|0.031|EUR',
    };
    await store.enqueue([m]);
    for (let i = 0; i < 20; i++) {
      const r = await store.read(CONSUMER, keys.queuesOf('a'), 10, '>');
      const e = r.entries.find((x) => x.id === m.id);
      if (e !== undefined) return e;
    }
    throw new Error('entry not read');
  }
  /** A mapping id that lives in another shard than the message (the usual case: they are independent). */
  function midFor(e: QueueEntry, tag: string): string {
    for (let i = 0; ; i++) {
      const mid = `${tag}${i}`;
      if (keys.shards.mappingShard('a', mid) !== keys.shardOf(e.id)) return mid;
    }
  }
  const delivered = (mid: string): ReceiptItem => ({ state: 'D', errCode: '000', errText: 'DELIVRD', key: mid, raw: '' });
  async function statuses(id: string): Promise<string[]> {
    const k = keys.shardOf(id) as number;
    return (await redis.xrange(keys.eventsOf(k), '-', '+')).flatMap(([, f]) => {
      const fr = JSON.parse(f[f.indexOf('f') + 1] as string) as { id: string; status: string };
      return fr.id === id ? [fr.status] : [];
    });
  }
  async function billed(id: string): Promise<Record<string, string>> {
    return await redis.hgetall(keys.usageOf(keys.shardOf(id) as number, Math.floor(Date.now() / 86_400_000)));
  }
  const pending = async (e: QueueEntry) => ((await redis.xpending(e.queueKey, 'g')) as [number])[0];

  beforeAll(async () => {
    redis = connectRedis(target(), { connectionName: 'sy-test-steps' });
    store = new RedisStore(redis, keys, { eventsMaxLen: 100_000, finalRetentionSec: 3600 });
    await store.ensureGroups('a');
  });

  afterAll(async () => {
    for (const m of masterNodes(redis)) for (const k of await m.keys(prefix + '*')) await redis.del(k);
    redis.disconnect();
  });

  it('a crash between link and recordSubmits: the entry is sent again, recorded once, billed once; receipts of both sends count once', async () => {
    const e = await queued();
    const mid1 = midFor(e, 'first');
    // the SMSC took it; the actor wrote the mapping, then died before step 2
    await store.link('a', 3600, [{ entry: e, normId: mid1, rawId: mid1 }]);
    expect(await redis.hget(keys.msg(e.id), 'p1')).toBe('q');
    expect(await pending(e)).toBe(1);
    // the restarted actor re-reads its pending entry: the part is still queued, so it is sent again
    const { unsent } = await store.splitUnsent([e]);
    expect(unsent.map((x) => x.entryId)).toEqual([e.entryId]);
    const mid2 = midFor(e, 'second');
    expect(await store.submitted('a', 3600, [{ entry: e, normId: mid2, rawId: mid2 }])).toBe(0);
    expect(await redis.hget(keys.msg(e.id), 's')).toBe('sent');
    expect(await pending(e)).toBe(0);
    // both copies reached the handset: the first receipt ends it, the second is a duplicate
    expect(await store.receipts('a', 600, [delivered(mid1)])).toEqual([ReceiptResult.Applied]);
    expect(await store.receipts('a', 600, [delivered(mid2)])).toEqual([ReceiptResult.Duplicate]);
    expect(await statuses(e.id)).toEqual(['sent', 'delivered']);
    expect(await billed(e.id)).toMatchObject({ 'acme|m': '1', 'acme|s': '1' });
    // a resent step 2 (its reply lost) changes nothing
    expect(await store.recordSubmits('a', [{ entry: e, normId: mid2, rawId: mid2 }], [''])).toBe(0);
    expect(await statuses(e.id)).toEqual(['sent', 'delivered']);
    expect(await billed(e.id)).toMatchObject({ 'acme|m': '1', 'acme|s': '1' });
  });

  it('a receipt between link and recordSubmits is parked in the hash and applied with the submit, once', async () => {
    const e = await queued();
    const mid = midFor(e, 'parked');
    await store.link('a', 3600, [{ entry: e, normId: mid, rawId: mid }]);
    // the receipt overtakes step 2: mapped, but its part still queued
    expect(await store.receipts('a', 600, [delivered(mid)])).toEqual([ReceiptResult.Parked]);
    expect(await redis.hget(keys.msg(e.id), 'rc1')).toBe('D|000|DELIVRD|');
    expect(await redis.hget(keys.msg(e.id), 's')).toBe('queued');
    // the SMSC redelivers it (our answer was lost): parked again, nothing more
    expect(await store.receipts('a', 600, [{ state: 'u', errCode: '', errText: 'ENROUTE', key: mid, raw: '' }])).toEqual([ReceiptResult.Parked]);
    expect(await redis.hget(keys.msg(e.id), 'rc1')).toBe('D|000|DELIVRD|');
    expect(await store.recordSubmits('a', [{ entry: e, normId: mid, rawId: mid }], [''])).toBe(1);
    expect(await redis.hget(keys.msg(e.id), 's')).toBe('delivered');
    expect(await redis.hexists(keys.msg(e.id), 'rc1')).toBe(0);
    expect(await statuses(e.id)).toEqual(['sent', 'delivered']);
    expect(await store.recordSubmits('a', [{ entry: e, normId: mid, rawId: mid }], [''])).toBe(0);
    expect(await statuses(e.id)).toEqual(['sent', 'delivered']);
  });

  it('a receipt before link is kept as early, handed over by link (kept until its TTL) and applied once, also when step 2 is repeated', async () => {
    const e = await queued();
    const mid = midFor(e, 'early');
    expect(await store.receipts('a', 600, [{ state: 'U', errCode: '001', errText: 'UNDELIV', key: mid, raw: 'stat:UNDELIV err:001' }])).toEqual([ReceiptResult.Early]);
    expect(await redis.ttl(keys.earlyDlrOf('a', mid))).toBeLessThanOrEqual(600);
    // step 1 returns it; a crash before step 2 must not lose it: it is still there
    expect(await store.link('a', 3600, [{ entry: e, normId: mid, rawId: mid }])).toEqual(['U|001|UNDELIV|stat:UNDELIV err:001']);
    expect(await redis.exists(keys.earlyDlrOf('a', mid))).toBe(1);
    // the resent submit links again and records: the early receipt is applied with it
    expect(await store.submitted('a', 3600, [{ entry: e, normId: mid, rawId: mid }])).toBe(1);
    expect(await redis.hgetall(keys.msg(e.id))).toMatchObject({ s: 'undelivered', we: '001', p1: 'U' });
    // the whole record repeated (its reply lost): nothing applied twice
    expect(await store.submitted('a', 3600, [{ entry: e, normId: mid, rawId: mid }])).toBe(0);
    expect(await statuses(e.id)).toEqual(['sent', 'undelivered']);
  });

  it.runIf(!cluster)('regression (a receipt recorded in the same actor flush as its submit was sent to Redis first, kept as early, its latency 0): one call each, in the order made', async () => {
    const e = await queued();
    const mid = midFor(e, 'flush');
    // As the actor's flush makes them: submitted, then receipts, neither awaited before the other is made.
    const submitted = store.submitted('a', 3600, [{ entry: e, normId: mid, rawId: mid }]);
    const latency: number[] = [];
    const receipts = store.receipts('a', 600, [delivered(mid)], Date.now() + 50, latency);
    expect(await submitted).toBe(0);
    expect(await receipts).toEqual([ReceiptResult.Applied]);
    expect(latency[0]).toBeGreaterThan(0);
    expect(await redis.exists(keys.earlyDlrOf('a', mid))).toBe(0);
    expect(await statuses(e.id)).toEqual(['sent', 'delivered']);
  });

  it('a crash between lookup and applyReceipts: the SMSC redelivers (no deliver_sm_resp was sent) and it is applied once', async () => {
    const e = await queued();
    const mid = midFor(e, 'look');
    await store.submitted('a', 3600, [{ entry: e, normId: mid, rawId: mid }]);
    expect(await store.lookup('a', 600, [delivered(mid)])).toEqual([`${e.id}|1`]);
    expect(await redis.hget(keys.msg(e.id), 's')).toBe('sent');
    // redelivered: both steps again
    expect(await store.receipts('a', 600, [delivered(mid)])).toEqual([ReceiptResult.Applied]);
    // and once more (our deliver_sm_resp lost): a duplicate
    expect(await store.receipts('a', 600, [delivered(mid)])).toEqual([ReceiptResult.Duplicate]);
    expect(await statuses(e.id)).toEqual(['sent', 'delivered']);
    // a repeated step 2 alone (the store retried it) is a duplicate too
    expect(await store.applyReceipts([delivered(mid)], [`${e.id}|1`])).toEqual([ReceiptResult.Duplicate]);
    expect(await statuses(e.id)).toEqual(['sent', 'delivered']);
  });

  it('one batch of receipts over many mapping and message shards: each applied to its own part', async () => {
    const es: QueueEntry[] = [];
    for (let i = 0; i < 2 * SHARDS; i++) es.push(await queued());
    await store.submitted('a', 3600, es.map((e, i) => ({ entry: e, normId: `batch${i}`, rawId: `B${i}` })));
    const res = await store.receipts('a', 600, es.map((_, i) => ({ state: i % 2 === 0 ? 'D' : 'U', errCode: '', errText: '', key: `batch${i}`, raw: '' })));
    expect(res).toEqual(es.map(() => ReceiptResult.Applied));
    const st = await Promise.all(es.map((e) => redis.hget(keys.msg(e.id), 's')));
    expect(st).toEqual(es.map((_, i) => (i % 2 === 0 ? 'delivered' : 'undelivered')));
    expect(new Set(es.map((_, i) => keys.shards.mappingShard('a', `batch${i}`))).size).toBeGreaterThan(2);
  });

  it('unmatched receipts grow Redis only up to a cap: an SMSC sending receipts for ids it never gave gets them answered as unmatched, not kept', async () => {
    const capped = new RedisStore(redis, keys, { eventsMaxLen: 100_000, finalRetentionSec: 3600, maxEarlyReceipts: 5 });
    const junk = (from: number, n: number): ReceiptItem[] => Array.from({ length: n }, (_, i) => ({ ...delivered(`never${from + i}`), key: `never${from + i}` }));
    // the first 5 are kept (their submit_sm_resp might be late), the rest of the burst too (the cap is checked per call)
    expect(await capped.receipts('a', 600, junk(0, 3))).toEqual([ReceiptResult.Early, ReceiptResult.Early, ReceiptResult.Early]);
    expect(await capped.receipts('a', 600, junk(3, 4))).toEqual(Array(4).fill(ReceiptResult.Early));
    // past the cap: answered unmatched (Gone), nothing written
    expect(await capped.receipts('a', 600, junk(7, 50))).toEqual(Array(50).fill(ReceiptResult.Gone));
    const kept = await Promise.all(junk(0, 57).map((r) => redis.exists(keys.earlyDlrOf('a', r.key))));
    expect(kept.reduce((a, b) => a + b, 0)).toBe(7);
    // a receipt that has its mapping is still applied past the cap
    const e = await queued();
    await capped.submitted('a', 3600, [{ entry: e, normId: 'capped-known', rawId: 'CK' }]);
    expect(await capped.receipts('a', 600, [delivered('capped-known')])).toEqual([ReceiptResult.Applied]);
  });
});
