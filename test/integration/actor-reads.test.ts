/**
 * How an actor reads its SMSC's S queue streams (RedisStore.pull and read), on
 * a single Redis (one XREADGROUP over every stream, blocking) and on the local
 * Redis Cluster (one per stream, never blocking, an adaptive idle poll):
 *   - the credit is shared: a burst in one shard is read in credit-sized pulls,
 *     not credit / S-sized ones;
 *   - entries spread over every shard come in one pull;
 *   - on a cluster, empty pulls back off (5 ms doubling to 100 ms) and an
 *     entry added after that is read at the next poll;
 *   - recovery re-reads a consumer's pending entries per stream from its own
 *     cursor, however many streams.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { newShardedMessageId } from '../../engine/ingress/message-id.js';
import { Keys } from '../../engine/queue/keys.js';
import { compareStreamIds, RedisStore, type NewMessage, type QueueEntry } from '../../engine/queue/redis-store.js';
import { Shards } from '../../engine/queue/shards.js';
import { connectRedis, duplicateClient, masterNodes, type RedisClient, type RedisTarget } from '../../engine/redis/connect-redis.js';
import { clusterTarget } from '../helpers/redis-cluster.js';

const SHARDS = 16;
const LIMITS = { eventsMaxLen: 100_000, finalRetentionSec: 3600 };

const targets: Array<[string, () => RedisTarget]> = [
  ['a single Redis', () => ({ kind: 'single', url: inject('redisUrl') })],
  ['the Redis Cluster', clusterTarget],
];

describe.each(targets)('actor reads on %s', (name, target) => {
  let redis: RedisClient;
  let reader: RedisClient;
  let store: RedisStore;
  const prefix = `ta:${randomBytes(3).toString('hex')}:`;
  const keys = new Keys(prefix, new Shards(SHARDS));

  function messages(n: number, shard: (i: number) => number, smsc: string): NewMessage[] {
    const now = Date.now();
    return Array.from({ length: n }, (_, i) => ({
      id: newShardedMessageId(shard(i)), tenant: 'acme', ref: 'r', to: '4791234567', from: 'Acme', smsc, dataCoding: 0, esmClass: 0,
      parts: [{ shortMessage: Buffer.from('x' + i) }], acceptedAt: now, validUntil: now + 3600_000, ttlSec: 7200, pushStatus: true, route: 'NO|242|01|0.031|EUR',
    }));
  }

  beforeAll(async () => {
    redis = connectRedis(target(), { connectionName: 'sy-test-reads' });
    reader = duplicateClient(redis, 'sy-test-reads-block');
    store = new RedisStore(redis, keys, LIMITS, { smscs: ['burst', 'spread', 'idle', 'rec'] });
    for (const s of ['burst', 'spread', 'idle', 'rec']) await store.ensureGroups(s);
  });

  afterAll(async () => {
    for (const m of masterNodes(redis)) for (const k of await m.keys(prefix + '*')) await redis.del(k);
    reader.disconnect();
    redis.disconnect();
  });

  it('a burst of 500 in one shard is read in credit-sized pulls (200, 200, 100), not 12 at a time', async () => {
    await store.enqueue(messages(500, () => 5, 'burst'));
    const sizes: number[] = [];
    for (let i = 0; i < 10 && sizes.reduce((a, b) => a + b, 0) < 500; i++) sizes.push((await store.pull('c', keys.queuesOf('burst'), 200, reader, 50)).entries.length);
    expect(sizes).toEqual([200, 200, 100]);
  });

  it('entries spread over every shard come in one pull, each shard its share', async () => {
    await store.enqueue(messages(4 * SHARDS, (i) => i % SHARDS, 'spread'));
    const got = await store.pull('c', keys.queuesOf('spread'), 4 * SHARDS, reader, 50);
    expect(got.entries).toHaveLength(4 * SHARDS);
    expect(new Set(got.entries.map((e) => e.queueKey)).size).toBe(SHARDS);
  });

  it.runIf(name === 'the Redis Cluster')('empty pulls back off from 5 to 100 ms, and the next entry is read at the next poll', async () => {
    const q = keys.queuesOf('idle');
    const t0 = performance.now();
    for (let i = 0; i < 8; i++) expect((await store.pull('c', q, 100, reader)).entries).toEqual([]);
    // 5 + 10 + 20 + 40 + 80 + 100 + 100 + 100 ms of waiting at least: a few dozen reads of S streams, not hundreds
    expect(performance.now() - t0).toBeGreaterThanOrEqual(450);
    await store.enqueue(messages(1, () => 9, 'idle'));
    expect((await store.pull('c', q, 100, reader)).entries).toHaveLength(1);
  });

  it('recovery pages each stream\'s pending list from its own cursor', async () => {
    await store.enqueue(messages(3 * SHARDS, (i) => i % SHARDS, 'rec'));
    const q = keys.queuesOf('rec');
    const read = await store.read('crashed', q, 100, '>');
    expect(read.entries).toHaveLength(3 * SHARDS);
    // after a "crash": the pending lists, two entries per stream per page
    const cursors = q.map(() => '0');
    const seen: QueueEntry[] = [];
    for (let page = 0; page < 5; page++) {
      const r = await store.read('crashed', q, 2, cursors);
      if (r.entries.length === 0) break;
      for (const e of r.entries) {
        const k = q.indexOf(e.queueKey);
        if (compareStreamIds(e.entryId, cursors[k] as string) > 0) cursors[k] = e.entryId;
      }
      seen.push(...r.entries);
    }
    expect(seen.map((e) => e.ref).sort()).toEqual(read.entries.map((e) => e.ref).sort());
  });
});
