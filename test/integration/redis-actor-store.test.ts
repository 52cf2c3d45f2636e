/**
 * RedisActorStore, the operator actor's store on Redis, against a real Redis:
 * entries named apart across partitions (stream ids repeat across streams),
 * pulls over every partition, pending entries paged per partition, take-over,
 * keepUnsent, drop, and the state calls passed through to the scripts with
 * their outcomes named for the actor.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { GROUP } from '../../engine/queue/keys.js';
import { messageField } from '../../engine/queue/message-fields.js';
import { RedisActorStore, type RedisQueuedPart } from '../../engine/queue/redis-actor-store.js';
import { RedisStore, type NewMessage } from '../../engine/queue/redis-store.js';
import { waitFor } from '../helpers/wait-for.js';

let redis: Redis;
let reader: Redis;
let store: RedisStore;
const prefix = `t:${randomBytes(3).toString('hex')}:ras:`;
const limits = { eventsMaxLen: 10_000, finalRetentionSec: 3600 };

beforeAll(() => {
  redis = new Redis(inject('redisUrl'));
  reader = new Redis(inject('redisUrl'));
  store = new RedisStore(redis, prefix, limits);
});

afterAll(async () => {
  const keys = await redis.keys(prefix + '*');
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  reader.disconnect();
});

function actorStore(smsc: string, o: { consumer?: string; reclaimIdleMs?: number } = {}): RedisActorStore {
  return new RedisActorStore(store, reader, { smsc, partitions: 2, consumer: o.consumer ?? 'n1:' + smsc, reclaimIdleMs: o.reclaimIdleMs ?? 60_000, receiptGraceSec: 3600 });
}

/** Writes a queue entry the way the enqueue script does (h, b, t), with the stream id given. */
async function xadd(smsc: string, partition: number, entryId: string, id: string): Promise<void> {
  const validUntilSec = Math.floor(Date.now() / 1000) + 3600;
  await redis.xadd(store.keys.queue(smsc, partition), entryId, 'h', `${id}|1|1|4791234567|Acme|${validUntilSec}|0|0`, 'b', Buffer.from('hi'), 't', 'acme');
}

async function pendingCount(smsc: string, partition: number): Promise<number> {
  const summary = (await redis.xpending(store.keys.queue(smsc, partition), GROUP)) as [number, ...unknown[]];
  return summary[0];
}

async function pullAll(s: RedisActorStore, n: number): Promise<RedisQueuedPart[]> {
  const out: RedisQueuedPart[] = [];
  for (let i = 0; i < 20 && out.length < n; i++) out.push(...(await s.pull(n - out.length)).entries);
  return out;
}

describe('RedisActorStore', () => {
  it('names entries of two partitions with the same stream id apart, and pulls from every partition', async () => {
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

  it('pages its pending entries per partition until every partition is read out', async () => {
    const s = actorStore('paging');
    await s.open();
    for (let i = 0; i < 7; i++) await xadd('paging', 0, `1700000000000-${i}`, `p0-${i}`);
    for (let i = 0; i < 2; i++) await xadd('paging', 1, `1700000000000-${i}`, `p1-${i}`);
    expect((await pullAll(s, 9)).length).toBe(9);
    const pages: string[][] = [];
    for await (const page of s.pending(3)) pages.push(page.entries.map((e) => e.id));
    // Partition 0 needs three pages of 3; partition 1 is read out on the first.
    expect(pages).toEqual([['p0-0', 'p0-1', 'p0-2', 'p1-0', 'p1-1'], ['p0-3', 'p0-4', 'p0-5'], ['p0-6']]);
  });

  it('keepUnsent settles the entries whose part was sent already; drop settles unreadable ones', async () => {
    const s = actorStore('settle');
    await s.open();
    await xadd('settle', 0, '1700000000000-0', 'sent-1');
    await xadd('settle', 0, '1700000000000-1', 'unsent-1');
    await redis.xadd(store.keys.queue('settle', 1), '1700000000000-0', 'x', 'no header');
    await redis.hset(store.keys.message('sent-1'), messageField('partState', 1), 's');
    const first = await s.pull(10);
    const rest = first.entries.length + first.unreadable.length < 3 ? await s.pull(10) : { entries: [], unreadable: [] };
    const entries = [...first.entries, ...rest.entries];
    const unreadable = [...first.unreadable, ...rest.unreadable];
    expect(unreadable.length).toBe(1);
    const unsent = await s.keepUnsent(entries);
    expect(unsent.map((e) => e.id)).toEqual(['unsent-1']);
    expect(await pendingCount('settle', 0)).toBe(1);
    await s.drop(unreadable);
    expect(await pendingCount('settle', 1)).toBe(0);
    expect(await redis.xlen(store.keys.queue('settle', 1))).toBe(0);
  });

  it('takes over what another consumer left unsettled, partition by partition', async () => {
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

  it('records submits, receipts and failures through the state scripts, and names receipt outcomes', async () => {
    const s = actorStore('state');
    await s.open();
    const now = Date.now();
    const msg = (id: string, partition: number): NewMessage => ({
      id, tenant: 'acme', ref: 'r-' + id, to: '4791234567', from: 'Acme', smsc: 'state', partition, dataCoding: 0, esmClass: 0,
      parts: [{ shortMessage: Buffer.from('hi') }], acceptedAt: now, validUntil: now + 3600_000, ttlSec: 7200, finalBy: now + 7200_000, pushStatus: false, route: 'NO|242|01|0.031|EUR',
    });
    await store.enqueue([msg('st-a', 0), msg('st-b', 1)]);
    const entries = await pullAll(s, 2);
    const a = entries.find((e) => e.id === 'st-a') as RedisQueuedPart;
    const b = entries.find((e) => e.id === 'st-b') as RedisQueuedPart;
    expect(await s.submitted([{ entry: a, normId: 'aa1', rawId: '00AA1' }])).toBe(0);
    await s.failed([{ entry: b, state: 'R', errCode: '0x0000000b', errText: 'refused by the SMSC at submit' }]);
    expect((await pendingCount('state', 0)) + (await pendingCount('state', 1))).toBe(0);
    const r = await s.receipts([
      { state: 'D', errCode: '000', errText: 'DELIVRD', key: 'aa1', raw: '' },
      { state: 'D', errCode: '000', errText: 'DELIVRD', key: 'aa1', raw: '' },
      { state: 'D', errCode: '000', errText: 'DELIVRD', key: 'ffff', raw: '' },
    ]);
    expect(r.outcomes).toEqual(['applied', 'duplicate', 'early']);
    expect(r.latencyMs.length).toBe(3);
    expect(await redis.hget(store.keys.message('st-a'), 's')).toBe('delivered');
  });

  it('tells when replies to pulls may have been lost: the reading connection came back', async () => {
    const own = new Redis(inject('redisUrl'));
    try {
      await waitFor(() => own.status === 'ready', 10_000, 'connected');
      const s = new RedisActorStore(store, own, { smsc: 'lost', partitions: 1, consumer: 'n1:lost', reclaimIdleMs: 60_000, receiptGraceSec: 3600 });
      let lost = 0;
      s.onReadsLost(() => lost++);
      own.disconnect(true);
      await waitFor(() => lost === 1, 10_000, 'reads lost reported');
    } finally {
      own.disconnect();
    }
  });
});
