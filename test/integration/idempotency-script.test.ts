/**
 * enqueue.lua's idempotency-key branch (issue 15) against Redis, single and
 * the local Redis Cluster: a key's record is written with its message in the
 * same call; a repeat (same body hash) writes nothing and returns the first
 * message's id and code, another body is a Conflict; and the same call sent
 * again (ioredis resends it when the reply was lost with the connection) writes
 * nothing again and returns what the first run decided, also when the
 * section's first message was itself a repeat.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { newShardedMessageId } from '../../engine/ingress/message-id.js';
import { Keys } from '../../engine/queue/keys.js';
import { RedisStore, type NewMessage } from '../../engine/queue/redis-store.js';
import { Shards } from '../../engine/queue/shards.js';
import { connectRedis, masterNodes, type RedisClient, type RedisTarget } from '../../engine/redis/connect-redis.js';
import { clusterTarget } from '../helpers/redis-cluster.js';

const SHARDS = 4;
const LIMITS = { eventsMaxLen: 100_000, finalRetentionSec: 3600 };

const targets: Array<[string, () => RedisTarget]> = [
  ['a single Redis', () => ({ kind: 'single', url: inject('redisUrl') })],
  ['the Redis Cluster', clusterTarget],
];

describe.each(targets)('idempotency keys in enqueue.lua on %s', (_name, target) => {
  let redis: RedisClient;
  let store: RedisStore;
  const prefix = `ik:${randomBytes(3).toString('hex')}:`;
  const keys = new Keys(prefix, new Shards(SHARDS));

  function message(key: string | undefined, hash = 'h1', o: { to?: string; shard?: number } = {}): NewMessage {
    const now = Date.now();
    const shard = key === undefined ? (o.shard ?? 0) : keys.idempotencyShard('acme', key);
    return {
      id: newShardedMessageId(shard), tenant: 'acme', ref: 'r', to: o.to ?? '4791234567', from: 'Acme', smsc: 'a', dataCoding: 0, esmClass: 0,
      parts: [{ shortMessage: Buffer.from('hi') }], acceptedAt: now, validUntil: now + 3600_000, ttlSec: 7200, pushStatus: true, route: 'NO|242|01|0.031|EUR',
      ...(key === undefined ? {} : { idempotency: { key, bodyHash: hash, windowMs: 60_000 } }),
    };
  }
  const queued = async () => {
    let n = 0;
    for (const q of keys.queuesOf('a')) n += await redis.xlen(q);
    return n;
  };

  beforeAll(async () => {
    redis = connectRedis(target(), { connectionName: 'sy-test-idem' });
    store = new RedisStore(redis, keys, LIMITS);
    await store.ensureGroups('a');
  });

  afterAll(async () => {
    for (const m of masterNodes(redis)) for (const k of await m.keys(prefix + '*')) await redis.del(k);
    redis.disconnect();
  });

  it('a repeat returns the first id and code and writes nothing; another body is a conflict; the record expires with its window', async () => {
    const a = message('k1');
    expect(await store.enqueue([a])).toEqual(['queued']);
    const before = await queued();
    const again = message('k1');
    expect(await store.enqueue([again, message('k1', 'other')])).toEqual([{ repeatOf: a.id, status: 'queued' }, { conflict: true }]);
    expect(await queued()).toBe(before);
    expect(await redis.exists(keys.msg(again.id))).toBe(0);
    const pttl = await redis.pttl(keys.idempotencyOf(keys.idempotencyShard('acme', 'k1'), 'acme', 'k1'));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(60_000);
  });

  it('two messages with one key in one call: the second is a repeat of the first', async () => {
    const a = message('k2');
    const b = message('k2');
    const plain = message(undefined, 'h', { shard: keys.idempotencyShard('acme', 'k2') });
    expect(await store.enqueue([a, plain, b])).toEqual(['queued', 'queued', { repeatOf: a.id, status: 'queued' }]);
  });

  it('the same call run again (a reply lost) writes nothing again and answers as the first run did, also when its first message is a repeat', async () => {
    const first = message('k3');
    await store.enqueue([first]);
    // One shard: the section starts with a repeat, then a new keyed message, then one without a key.
    const k = keys.idempotencyShard('acme', 'k3');
    let other = 'k4';
    for (let i = 0; keys.idempotencyShard('acme', other) !== k; i++) other = `k4-${i}`;
    const call = [message('k3'), message(other), message(undefined, 'h', { shard: k })];
    const before = await queued();
    const out1 = await store.enqueue(call);
    expect(out1).toEqual([{ repeatOf: first.id, status: 'queued' }, 'queued', 'queued']);
    expect(await queued()).toBe(before + 2);
    expect(await store.enqueue(call)).toEqual(out1);
    expect(await queued()).toBe(before + 2);
  });
});
