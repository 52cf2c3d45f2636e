/**
 * What reads the sharded state outside the message path, on a single Redis
 * and on the local Redis Cluster (4 shards), against keys written as the
 * state scripts write them: GET /v1/messages merges the shards' list indexes
 * newest first with a cursor that holds while messages arrive; a lookup
 * names a key only for an id of this deployment; usage sums the shards'
 * per-tenant fields; trimming works per shard; the held list merges the
 * shards' hold streams oldest first; the MNP table swaps in the control
 * slot; dead letters replay within the tenant's slot.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newShardedMessageId } from '../../engine/ingress/message-id.js';
import { decodeCursor, encodeCursor, listMessages, lookupMessage, trimListIndexes, type ListQuery } from '../../engine/lifecycle/message-query.js';
import { dayOf, readUsage } from '../../engine/lifecycle/usage.js';
import { encodeHeldCursor, listHeld, parseHeldCursor } from '../../engine/moderation/held-messages.js';
import { Keys } from '../../engine/queue/keys.js';
import { Shards } from '../../engine/queue/shards.js';
import type { RedisClient } from '../../engine/redis/connect-redis.js';
import { MnpCache, parseMnpCsv, storeMnp } from '../../engine/routing/mnp.js';
import { replayDeadLetters } from '../../engine/http/webhook-routes.js';
import { connectTarget, dropPrefix, redisTargets } from '../helpers/redis-targets.js';

const S = 4;
const MINUTE = 60_000;

describe.each(redisTargets())('readers of sharded state ($name)', (t) => {
  let redis: RedisClient;
  let keys: Keys;
  const prefix = `t:${randomBytes(3).toString('hex')}:`;

  beforeAll(() => {
    redis = connectTarget(t);
    keys = new Keys(prefix, new Shards(S));
  });

  afterAll(async () => {
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  /** A message as the enqueue script leaves it: its hash and its id in its shard's list index. */
  async function accept(tenant: string, shard: number, at: number, f: Record<string, string> = {}): Promise<string> {
    const id = newShardedMessageId(shard, at);
    await redis.hset(keys.msg(id), { t: tenant, r: f.r ?? 'r', to: f.to ?? '4790000000', fr: 'Acme', n: '1', s: f.s ?? 'queued', ac: String(at), sm: 'a', v: String(at + 3_600_000), rt: 'NO|242|01|0.031|EUR', p1: 'q', ...f });
    const minute = Math.floor(at / MINUTE);
    await redis.rpush(keys.listIndexOf(shard, tenant, minute), id);
    await redis.zadd(keys.listMinutesOf(shard, tenant), minute, String(minute));
    return id;
  }

  async function all(tenant: string, q: Omit<ListQuery, 'limit' | 'cursor'>, limit: number): Promise<{ ids: string[]; pages: number }> {
    const ids: string[] = [];
    let cursor: ListQuery['cursor'];
    let pages = 0;
    for (; pages < 100; pages++) {
      const page = await listMessages(redis, keys, tenant, { ...q, limit, ...(cursor === undefined ? {} : { cursor }) });
      ids.push(...page.messages.map((m) => m.id));
      if (page.next === null) break;
      cursor = decodeCursor(page.next);
    }
    return { ids, pages: pages + 1 };
  }

  it('lists merge the shards newest first, each message once, and a page cursor holds while messages arrive', async () => {
    const base = Math.floor(Date.now() / MINUTE) * MINUTE - 10 * MINUTE;
    const ids: string[] = [];
    // 3 minutes, every shard, interleaved acceptance times.
    for (let m = 0; m < 3; m++) for (let i = 0; i < 12; i++) ids.push(await accept('lst', i % S, base + m * MINUTE + i * 1000, { r: `r${m}-${i}`, to: i % 3 === 0 ? '4790000001' : '4790000002' }));
    await accept('other', 0, base + 1000);
    const newest = [...ids].sort().reverse();
    expect((await all('lst', {}, 100)).ids).toEqual(newest);
    const paged = await all('lst', {}, 5);
    expect(paged.ids).toEqual(newest);
    expect(paged.pages).toBe(8);
    expect((await all('lst', { to: '4790000001' }, 4)).ids).toEqual(newest.filter((id) => (ids.indexOf(id) % 12) % 3 === 0));
    expect((await all('lst', { since: base + MINUTE, until: base + 2 * MINUTE - 1 }, 7)).ids).toEqual(newest.filter((id) => ids.indexOf(id) >= 12 && ids.indexOf(id) < 24));
    // Page 1, then new messages in the newest minute (every shard) and an older one: page 2 goes on
    // exactly where page 1 stopped; the new ones are before the cursor.
    const p1 = await listMessages(redis, keys, 'lst', { limit: 5 });
    for (let k = 0; k < S; k++) await accept('lst', k, base + 2 * MINUTE + 59_000);
    const after: string[] = [];
    let cursor = decodeCursor(p1.next as string);
    for (let i = 0; i < 20 && cursor !== undefined; i++) {
      const p = await listMessages(redis, keys, 'lst', { limit: 5, cursor });
      after.push(...p.messages.map((m) => m.id));
      cursor = p.next === null ? undefined : decodeCursor(p.next);
    }
    expect([...p1.messages.map((m) => m.id), ...after]).toEqual(newest);
  });

  it('a cursor round-trips; ones the API never gave out are refused', () => {
    const c = { minute: 29_000_000, positions: new Map([[0, 12], [3, 0]]) };
    expect(decodeCursor(encodeCursor(c))).toEqual(c);
    for (const bad of ['', 'x', Buffer.from('12.3').toString('base64url'), Buffer.from('12.1-2_1-3').toString('base64url'), Buffer.from('12.999-1').toString('base64url')]) expect(decodeCursor(bad)).toBeUndefined();
  });

  it('a lookup names the hash only for an id of this deployment; another tenant\'s is unknown', async () => {
    const id = await accept('look', 2, Date.now(), { s: 'sent', sa: String(Date.now()), p1: 's', i1: 'abc' });
    expect(await lookupMessage(redis, keys, 'look', id)).toMatchObject({ id, status: 'sent', partStates: [{ part: 1, state: 'sent', smscMessageId: 'abc' }] });
    expect(await lookupMessage(redis, keys, 'other', id)).toBeUndefined();
    // A shard beyond this deployment's, an unsharded id, a key pattern: unknown, no Redis key named.
    for (const bad of [id.slice(0, 16) + '0z', id.slice(0, 16), '*', `${id}:x`, 'm:{s0}:' + id]) expect(await lookupMessage(redis, keys, 'look', bad)).toBeUndefined();
  });

  it('trimming drops whole old minutes in every shard; usage sums the shards\' fields of the tenant', async () => {
    const now = Date.now();
    for (let k = 0; k < S; k++) {
      await accept('trim', k, now - 3 * 3_600_000);
      await accept('trim', k, now);
    }
    expect(await trimListIndexes(redis, keys, ['trim'], now, 3600)).toBe(S);
    expect((await all('trim', {}, 100)).ids).toHaveLength(S);
    const day = dayOf(now);
    await redis.hset(keys.usageOf(0, day), { 'bill|m': '2', 'bill|s': '3', 'bill|c:EUR': '93000', 'billx|m': '100', 'billx|s': '100', 'billx|c:EUR': '1' });
    await redis.hset(keys.usageOf(3, day), { 'bill|m': '1', 'bill|s': '1', 'bill|c:EUR': '31000', 'bill|c:USD': '40000' });
    await redis.hset(keys.usageOf(1, day - 1), { 'bill|m': '5', 'bill|s': '5', 'bill|c:EUR': '155000' });
    expect(await readUsage(redis, keys, 'bill', day - 2, day, 'sent')).toEqual({
      tenant: 'bill', from: expect.any(String), to: expect.any(String), billOn: 'sent',
      days: [
        { day: new Date((day - 1) * 86_400_000).toISOString().slice(0, 10), messages: 5, segments: 5, cost: { EUR: 0.155 } },
        { day: new Date(day * 86_400_000).toISOString().slice(0, 10), messages: 3, segments: 4, cost: { EUR: 0.124, USD: 0.04 } },
      ],
      total: { messages: 8, segments: 9, cost: { EUR: 0.279, USD: 0.04 } },
    });
    expect((await readUsage(redis, keys, 'nobody', day, day, 'sent')).days).toEqual([]);
  });

  it('the held list merges the shards oldest first, whole messages, in pages', async () => {
    const tenant = 'mod';
    const held: Array<{ id: string; first: string; k: number }> = [];
    for (let i = 0; i < 9; i++) {
      const k = (i * 3) % S;
      const parts = i === 4 ? 3 : 1;
      const id = newShardedMessageId(k, Date.now());
      await redis.hset(keys.msg(id), { t: tenant, r: `h${i}`, s: 'pending_approval', ac: '1', hr: 'URL_NOT_ALLOWED', ht: 'link' });
      let first = '';
      for (let p = 1; p <= parts; p++) {
        const eid = (await redis.xadd(keys.holdOf(k, tenant), '*', 'h', `${id}|${p}|${parts}|4790000000|Acme|0|0|0`, 'b', `p${p} of ${i};`, 't', tenant, 'q', keys.queueOf('a', k))) as string;
        if (p === 1) first = eid;
      }
      held.push({ id, first, k });
    }
    // Oldest first: by the first part's stream id, then by shard (two shards' streams may give the same id).
    const order = [...held].sort((a, b) => {
      const [am, as] = a.first.split('-').map(Number) as [number, number];
      const [bm, bs] = b.first.split('-').map(Number) as [number, number];
      return am - bm || as - bs || a.k - b.k;
    }).map((h) => h.id);
    const multi = held[4]!.id;
    // One that ended meanwhile: skipped.
    const gone = newShardedMessageId(1, Date.now());
    await redis.hset(keys.msg(gone), { t: tenant, s: 'expired' });
    await redis.xadd(keys.holdOf(1, tenant), '*', 'h', `${gone}|1|1|4790000000|Acme|0|0|0`, 'b', 'x', 't', tenant, 'q', 'q');
    const seen: string[] = [];
    let after;
    for (let i = 0; i < 10; i++) {
      const page = await listHeld(redis, keys, tenant, after, 2);
      seen.push(...page.items.map((m) => m.id));
      const m = page.items.find((x) => x.id === multi);
      if (m !== undefined) expect(m).toMatchObject({ parts: 3, text: 'p1 of 4;p2 of 4;p3 of 4;', reason: { code: 'URL_NOT_ALLOWED' } });
      if (page.next === undefined) break;
      after = parseHeldCursor(encodeHeldCursor(page.next));
    }
    expect(seen).toEqual(order);
    expect((await listHeld(redis, keys, tenant, undefined, 100)).items.map((m) => m.id)).toEqual(order);
  });

  it('the MNP table swaps in the control slot and engines reload it', async () => {
    const cache = new MnpCache(redis, keys, (id) => ({ id }) as never);
    expect(await storeMnp(redis, keys, parseMnpCsv('number,mcc,mnc\n+4791234567,242,02\n+4791234568,242,01\n', 'a.csv'))).toBe(2);
    expect(await cache.refresh()).toBe(true);
    expect(cache.size).toBe(2);
    expect(await cache.refresh()).toBe(false);
    await storeMnp(redis, keys, parseMnpCsv('+4791234569,242,05\n', 'b.csv'));
    expect(await cache.refresh()).toBe(true);
    expect(cache.current?.get('4791234569')).toEqual({ id: '242-05' });
    expect(cache.size).toBe(1);
    expect(await redis.exists(keys.control('mnp:tmp'))).toBe(0);
  });

  it('dead letters replay into the tenant\'s queue, in steps', async () => {
    for (let i = 0; i < 5; i++) await redis.rpush(keys.webhookDeadLetters('wh'), JSON.stringify({ failedAt: i, reason: 'refused', status: 400, event: { eid: `s0-${i}-0`, op: 'status' } }));
    expect(await replayDeadLetters(redis, keys, 'wh', 'node1', 3)).toEqual({ replayed: 3, remaining: 2 });
    expect(await replayDeadLetters(redis, keys, 'wh', 'node1', Number.MAX_SAFE_INTEGER)).toEqual({ replayed: 2, remaining: 0 });
    expect((await redis.lrange(keys.webhookQueue('wh', 'node1'), 0, -1)).map((e) => (JSON.parse(e) as { eid: string }).eid)).toEqual(['s0-0-0', 's0-1-0', 's0-2-0', 's0-3-0', 's0-4-0']);
  });
});
