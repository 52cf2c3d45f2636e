/**
 * What the enqueue decides on shards, on a single Redis and on the local
 * Redis Cluster, where a shard's script cannot read the opt-out lists (their
 * tenants' slots) nor the paused set (the control slot):
 *   - numbers on the tenant's or the global list are stopped (cluster: the
 *     pre-check, ZMSCORE on both lists; single Redis: the script reads them);
 *   - cluster: an opt-out recorded after the pre-check (oor:{T}, written
 *     before the list by the opt-out store) stops the message in the script;
 *     one recorded well before it (the pre-check saw the list then) does not;
 *   - cluster: a pre-check older than the oor window is refused by the script
 *     (nothing written) and done again; single Redis: there is no pre-check,
 *     whatever the clock says the lists are read when the message is written;
 *   - a tenant paused in the shard's copy (pz:{T}) has its messages parked.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { newShardedMessageId } from '../../engine/ingress/message-id.js';
import { Keys, RECENT_OPT_OUT_MS } from '../../engine/queue/keys.js';
import { RedisStore, type NewMessage } from '../../engine/queue/redis-store.js';
import { Shards } from '../../engine/queue/shards.js';
import { connectRedis, masterNodes, type RedisClient, type RedisTarget } from '../../engine/redis/connect-redis.js';
import { clusterTarget } from '../helpers/redis-cluster.js';

const SHARDS = 4;
const LIMITS = { eventsMaxLen: 100_000, finalRetentionSec: 3600 };

const targets: Array<[string, () => RedisTarget, boolean]> = [
  ['a single Redis', () => ({ kind: 'single', url: inject('redisUrl') }), false],
  ['the Redis Cluster', clusterTarget, true],
];

describe.each(targets)('enqueue guards on %s', (_name, target, cluster) => {
  let redis: RedisClient;
  let store: RedisStore;
  const prefix = `tg:${randomBytes(3).toString('hex')}:`;
  const keys = new Keys(prefix, new Shards(SHARDS));
  let n = 0;

  function message(to: string, o: { tenant?: string; shard?: number } = {}): NewMessage {
    const now = Date.now();
    return {
      id: newShardedMessageId(o.shard ?? n++ % SHARDS), tenant: o.tenant ?? 'acme', ref: 'r', to, from: 'Acme', smsc: 'a', dataCoding: 0, esmClass: 0,
      parts: [{ shortMessage: Buffer.from('hi') }], acceptedAt: now, validUntil: now + 3600_000, ttlSec: 7200, pushStatus: true, route: 'NO|242|01|0.031|EUR',
    };
  }
  const status = async (m: NewMessage) => await redis.hmget(keys.msg(m.id), 's', 'we');

  beforeAll(async () => {
    redis = connectRedis(target(), { connectionName: 'sy-test-guards' });
    store = new RedisStore(redis, keys, LIMITS);
    await store.ensureGroups('a');
  });

  afterAll(async () => {
    for (const m of masterNodes(redis)) for (const k of await m.keys(prefix + '*')) await redis.del(k);
    redis.disconnect();
  });

  it('stops numbers on the tenant\'s or the global opt-out list (the pre-check), and only those', async () => {
    await redis.zadd(keys.optOut('acme'), 0, '4790000001');
    await redis.zadd(keys.optOut('*'), 0, '4790000002');
    await redis.zadd(keys.optOut('other'), 0, '4790000003');
    const ms = [message('4790000001'), message('4790000002'), message('4790000003'), message('4790000004'), message('4790000003', { tenant: 'other' })];
    expect(await store.enqueue(ms)).toEqual(['stopped', 'stopped', 'queued', 'queued', 'stopped']);
    expect(await status(ms[0] as NewMessage)).toEqual(['stopped', 'OPTED_OUT']);
    expect(await status(ms[3] as NewMessage)).toEqual(['queued', null]);
  });

  it.runIf(cluster)('an opt-out recorded in the shard\'s oor after the pre-check stops the message; one recorded long before it does not', async () => {
    const late = message('4790000011', { shard: 1 });
    const early = message('4790000012', { shard: 1 });
    const elsewhere = message('4790000011', { shard: 2 });
    const now = Date.now();
    // as the opt-out store writes it after the list (here: no list, so only this copy can stop it): members "tenant|number"
    await redis.zadd(keys.recentOptOuts(1), now + 2000, 'acme|4790000011');
    await redis.zadd(keys.recentOptOuts(1), now - RECENT_OPT_OUT_MS / 2, 'acme|4790000012');
    expect(await store.enqueue([late, early, elsewhere])).toEqual(['stopped', 'queued', 'queued']);
    expect(await status(late)).toEqual(['stopped', 'OPTED_OUT']);
  });

  it.runIf(cluster)('a pre-check older than the oor window is refused by the script, nothing written, and done again', async () => {
    let calls = 0;
    // The first pre-check "took" longer than the window (a stall): its time is that old.
    const clock = { now: () => (calls++ === 0 ? Date.now() - RECENT_OPT_OUT_MS : Date.now()) };
    const slow = new RedisStore(redis, keys, LIMITS, { clock });
    await redis.zadd(keys.optOut('acme'), 0, '4790000021');
    const ms = [message('4790000021', { shard: 3 }), message('4790000022', { shard: 3 })];
    expect(await slow.enqueue(ms)).toEqual(['stopped', 'queued']);
    expect(calls).toBe(2);
    // a clock that never catches up: refused every time, the submit is refused as retryable (nothing written)
    const stuck = new RedisStore(redis, keys, LIMITS, { clock: { now: () => Date.now() - RECENT_OPT_OUT_MS } });
    const m = message('4790000023', { shard: 0 });
    await expect(stuck.enqueue([m])).rejects.toMatchObject({ code: 'UNAVAILABLE', retryable: true });
    expect(await redis.exists(keys.msg(m.id))).toBe(0);
  });

  it.runIf(!cluster)('no pre-check on a single Redis: the script reads the lists when it writes, whatever the clock says', async () => {
    let calls = 0;
    // A clock a pre-check would be refused by: never read, and nothing is refused.
    const stuck = new RedisStore(redis, keys, LIMITS, { clock: { now: () => (calls++, Date.now() - RECENT_OPT_OUT_MS) } });
    await redis.zadd(keys.optOut('acme'), 0, '4790000041');
    await redis.zadd(keys.optOut('*'), 0, '4790000042');
    const ms = [message('4790000041', { shard: 1 }), message('4790000042', { shard: 1 }), message('4790000043', { shard: 1 }), message('4790000041', { shard: 2, tenant: 'other' })];
    expect(await stuck.enqueue(ms)).toEqual(['stopped', 'stopped', 'queued', 'queued']);
    expect(calls).toBe(0);
    expect(await status(ms[1] as NewMessage)).toEqual(['stopped', 'OPTED_OUT']);
  });

  it('a tenant in the shard\'s copy of the paused set has its messages parked in that shard', async () => {
    await redis.sadd(keys.pausedCopy(2), 'paused-t');
    const here = message('4790000031', { tenant: 'paused-t', shard: 2 });
    const other = message('4790000032', { tenant: 'acme', shard: 2 });
    expect(await store.enqueue([here, other])).toEqual(['paused', 'queued']);
    expect(await redis.xlen(keys.parkOf(2, 'paused-t'))).toBe(1);
    expect(await redis.hget(keys.msg(here.id), 'pe')).not.toBeNull();
  });
});
