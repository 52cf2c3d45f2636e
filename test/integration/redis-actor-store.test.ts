/**
 * RedisActorStore, the operator actor's store on Redis, against a real single
 * Redis and the test Redis Cluster, with an SMSC's queue in two shards:
 * entries named apart across shard streams (stream ids repeat across
 * streams), pulls over every stream, pending entries paged per stream,
 * take-over, keepUnsent, drop, the state calls passed through to the
 * two-step records with their outcomes named for the actor, and lost reads.
 */
import { randomBytes } from 'node:crypto';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { newShardedMessageId } from '../../engine/ingress/message-id.js';
import { GROUP, Keys } from '../../engine/queue/keys.js';
import { messageField } from '../../engine/queue/message-fields.js';
import { RedisActorStore, type RedisQueuedPart } from '../../engine/queue/redis-actor-store.js';
import { RedisStore, type NewMessage } from '../../engine/queue/redis-store.js';
import { Shards } from '../../engine/queue/shards.js';
import { connectRedis, duplicateClient, isCluster, masterNodes, type RedisClient, type RedisTarget } from '../../engine/redis/connect-redis.js';
import { clusterTarget } from '../helpers/redis-cluster.js';
import { waitFor } from '../helpers/wait-for.js';

const SHARDS = 2;
const limits = { eventsMaxLen: 10_000, finalRetentionSec: 3600 };

const targets: Array<[string, () => RedisTarget]> = [
  ['a single Redis', () => ({ kind: 'single', url: inject('redisUrl') })],
  ['the Redis Cluster', clusterTarget],
];

describe.each(targets)('RedisActorStore on %s', (_name, target) => {
  let redis: RedisClient;
  let reader: RedisClient;
  let store: RedisStore;
  const prefix = `t:${randomBytes(3).toString('hex')}:ras:`;
  const keys = new Keys(prefix, new Shards(SHARDS));

  beforeAll(() => {
    redis = connectRedis(target(), { connectionName: 'sy-test-ras' });
    reader = duplicateClient(redis, 'sy-test-ras-read');
    store = new RedisStore(redis, keys, limits);
  });

  afterAll(async () => {
    for (const m of masterNodes(redis)) for (const k of await m.keys(prefix + '*')) await redis.del(k);
    redis.disconnect();
    reader.disconnect();
  });

  function actorStore(smsc: string, o: { consumer?: string; reclaimIdleMs?: number; reader?: RedisClient } = {}): RedisActorStore {
    return new RedisActorStore(store, o.reader ?? reader, { smsc, consumer: o.consumer ?? 'n1:' + smsc, reclaimIdleMs: o.reclaimIdleMs ?? 60_000, receiptGraceSec: 3600 });
  }

  /** Writes a queue entry the way the enqueue script does (h, b, t) into the SMSC's stream of `shard`, with the stream id given. */
  async function xadd(smsc: string, shard: number, entryId: string, id: string): Promise<void> {
    const validUntilSec = Math.floor(Date.now() / 1000) + 3600;
    await redis.xadd(keys.queueOf(smsc, shard), entryId, 'h', `${id}|1|1|4791234567|Acme|${validUntilSec}|0|0`, 'b', Buffer.from('hi'), 't', 'acme');
  }

  async function pendingCount(smsc: string, shard: number): Promise<number> {
    const summary = (await redis.xpending(keys.queueOf(smsc, shard), GROUP)) as [number, ...unknown[]];
    return summary[0];
  }

  async function pullAll(s: RedisActorStore, n: number): Promise<RedisQueuedPart[]> {
    const out: RedisQueuedPart[] = [];
    for (let i = 0; i < 20 && out.length < n; i++) out.push(...(await s.pull(n - out.length)).entries);
    return out;
  }

  it('names entries of two shard streams with the same stream id apart, and pulls from every stream', async () => {
    const s = actorStore('same-id');
    await s.open();
    await xadd('same-id', 0, '1700000000000-0', 'mA');
    await xadd('same-id', 1, '1700000000000-0', 'mB');
    const { entries, unreadable } = await s.pull(2);
    expect(unreadable).toEqual([]);
    expect(entries.map((e) => e.id).sort()).toEqual(['mA', 'mB']);
    expect(entries[0]?.entryId).toBe(entries[1]?.entryId);
    expect(new Set(entries.map((e) => e.ref)).size).toBe(2);
  });

  it('pages its pending entries per stream until every stream is read out', async () => {
    const s = actorStore('paging');
    await s.open();
    for (let i = 0; i < 7; i++) await xadd('paging', 0, `1700000000000-${i}`, `p0-${i}`);
    for (let i = 0; i < 2; i++) await xadd('paging', 1, `1700000000000-${i}`, `p1-${i}`);
    expect((await pullAll(s, 9)).length).toBe(9);
    const pages: string[][] = [];
    for await (const page of s.pending(3)) pages.push(page.entries.map((e) => e.id).sort());
    // Shard 0's stream needs three pages of 3; shard 1's is read out on the first.
    expect(pages).toEqual([['p0-0', 'p0-1', 'p0-2', 'p1-0', 'p1-1'], ['p0-3', 'p0-4', 'p0-5'], ['p0-6']]);
  });

  it('keepUnsent settles the entries whose part was sent already; drop settles unreadable ones', async () => {
    const s = actorStore('settle');
    await s.open();
    const sent = newShardedMessageId(0);
    const unsentId = newShardedMessageId(0);
    await xadd('settle', 0, '1700000000000-0', sent);
    await xadd('settle', 0, '1700000000000-1', unsentId);
    await redis.xadd(keys.queueOf('settle', 1), '1700000000000-0', 'x', 'no header');
    await redis.hset(keys.msg(sent), messageField('partState', 1), 's');
    await redis.hset(keys.msg(unsentId), messageField('partState', 1), 'q');
    const entries: RedisQueuedPart[] = [];
    const unreadable: string[] = [];
    for (let i = 0; i < 20 && entries.length + unreadable.length < 3; i++) {
      const r = await s.pull(10);
      entries.push(...r.entries);
      unreadable.push(...r.unreadable);
    }
    expect(unreadable.length).toBe(1);
    const unsent = await s.keepUnsent(entries);
    expect(unsent.map((e) => e.id)).toEqual([unsentId]);
    expect(await pendingCount('settle', 0)).toBe(1);
    await s.drop(unreadable);
    expect(await pendingCount('settle', 1)).toBe(0);
    expect(await redis.xlen(keys.queueOf('settle', 1))).toBe(0);
  });

  it('takes over what another consumer left unsettled, stream by stream', async () => {
    const dead = actorStore('takeover', { consumer: 'dead:takeover' });
    await dead.open();
    await xadd('takeover', 0, '1700000000000-0', 't0');
    await xadd('takeover', 1, '1700000000000-0', 't1');
    expect((await pullAll(dead, 2)).length).toBe(2);
    const alive = actorStore('takeover', { consumer: 'alive:takeover', reclaimIdleMs: 0 });
    const batches: string[][] = [];
    for await (const batch of alive.takeOver()) batches.push(batch.map((e) => e.id));
    expect(batches).toEqual([['t0'], ['t1']]);
    const mine: string[] = [];
    for await (const page of alive.pending(10)) mine.push(...page.entries.map((e) => e.id));
    expect(mine.sort()).toEqual(['t0', 't1']);
  });

  it('records submits, receipts and failures in two steps across shards, and names receipt outcomes', async () => {
    const s = actorStore('state');
    await s.open();
    const now = Date.now();
    const msg = (id: string): NewMessage => ({
      id, tenant: 'acme', ref: 'r-' + id, to: '4791234567', from: 'Acme', smsc: 'state', dataCoding: 0, esmClass: 0,
      parts: [{ shortMessage: Buffer.from('hi') }], acceptedAt: now, validUntil: now + 3600_000, ttlSec: 7200, pushStatus: false, route: 'NO|242|01|0.031|EUR',
    });
    const [idA, idB, idC] = [newShardedMessageId(0), newShardedMessageId(1), newShardedMessageId(1)];
    await store.enqueue([msg(idA), msg(idB), msg(idC)]);
    const entries = await pullAll(s, 3);
    const byId = (id: string) => entries.find((e) => e.id === id) as RedisQueuedPart;
    expect(await s.submitted([{ entry: byId(idA), normId: 'aa1', rawId: '00AA1' }])).toBe(0);
    await s.failed([{ entry: byId(idB), state: 'R', errCode: '0x0000000b', errText: 'refused by the SMSC at submit' }]);
    // C's receipt comes before its submit is recorded: kept ('early'), applied with the submit.
    const r = await s.receipts([
      { state: 'D', errCode: '000', errText: 'DELIVRD', key: 'aa1', raw: '' },
      { state: 'D', errCode: '000', errText: 'DELIVRD', key: 'aa1', raw: '' },
      { state: 'D', errCode: '000', errText: 'DELIVRD', key: 'cc1', raw: '' },
    ]);
    expect(r.outcomes).toEqual(['applied', 'duplicate', 'early']);
    expect(r.latencyMs.length).toBe(3);
    expect(await s.submitted([{ entry: byId(idC), normId: 'cc1', rawId: '00CC1' }])).toBe(1);
    expect((await pendingCount('state', 0)) + (await pendingCount('state', 1))).toBe(0);
    expect(await redis.hget(keys.msg(idA), 's')).toBe('delivered');
    expect(await redis.hget(keys.msg(idB), 's')).toBe('rejected');
    expect(await redis.hget(keys.msg(idC), 's')).toBe('delivered');
  });

  it('a receipt whose mapping is written but whose submit is not yet recorded is kept as early and applied with the submit', async () => {
    const s = actorStore('parked');
    await s.open();
    const now = Date.now();
    const id = newShardedMessageId(1);
    await store.enqueue([{
      id, tenant: 'acme', ref: 'r', to: '4791234567', from: 'Acme', smsc: 'parked', dataCoding: 0, esmClass: 0,
      parts: [{ shortMessage: Buffer.from('hi') }], acceptedAt: now, validUntil: now + 3600_000, ttlSec: 7200, pushStatus: false, route: 'NO|242|01|0.031|EUR',
    }]);
    const [e] = await pullAll(s, 1);
    const item = { entry: e as RedisQueuedPart, normId: 'pp1', rawId: 'PP1' };
    // Step 1 of the submit only (a crash, or the store failing, before step 2): the actor will retry the whole record.
    await store.link('parked', 3600, [item]);
    const r = await s.receipts([{ state: 'D', errCode: '000', errText: 'DELIVRD', key: 'pp1', raw: '' }]);
    expect(r.outcomes).toEqual(['early']);
    expect(await s.submitted([item])).toBe(1);
    expect(await redis.hget(keys.msg(id), 's')).toBe('delivered');
    expect(await pendingCount('parked', 1)).toBe(0);
  });

  it('regression (a cluster reader never reported lost reads: its node connections end, the client stays ready): tells when replies to pulls may have been lost, a reading connection closed', async () => {
    const own = duplicateClient(redis, 'sy-test-ras-lost');
    try {
      const s = actorStore('lost', { reader: own });
      await s.open();
      let lost = 0;
      s.onReadsLost(() => lost++);
      await s.pull(1);
      if (isCluster(own)) {
        const node = (own as Cluster).nodes('master').find((n) => n.status === 'ready');
        expect(node).toBeDefined();
        node?.disconnect();
      } else {
        await waitFor(() => own.status === 'ready', 10_000, 'connected');
        own.disconnect(true);
      }
      await waitFor(() => lost >= 1, 10_000, 'reads lost reported');
    } finally {
      own.disconnect();
    }
  });
});
