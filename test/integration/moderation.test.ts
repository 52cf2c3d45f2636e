/**
 * Moderation end to end: a message with a link not on the tenant's allowlist,
 * or beyond the tenant's volume limit, is held (`pending_approval`, never at
 * the SMSC), survives an engine restart, and goes on when an admin approves
 * it (`queued`, then delivered once) or ends `stopped` (MODERATION_REJECTED,
 * with the admin's reason) when rejected. With the state in 4 shards, on a
 * single Redis and on the local Redis Cluster: held parts per shard, listings
 * merged over the shards, the volume detector's baselines in the control slot.
 */
import { describe, expect, it } from 'vitest';
import type { Harness, HarnessOptions } from '../../engine/loadgen/harness.js';
import type { RedisTarget } from '../../engine/redis/connect-redis.js';
import { clusterTarget } from '../helpers/redis-cluster.js';
import { type Frame, type TestClient } from '../helpers/ws-client.js';
import { harnessSession } from '../helpers/harness-session.js';
import { api } from '../helpers/http.js';
import { waitFor } from '../helpers/wait-for.js';

const ADMIN = 'admin-key-moderation-0123456789';
const BULK = 'bulk-key-moderation-0123456789';
const session = harnessSession();

const targets: Array<[string, () => Partial<HarnessOptions>]> = [
  ['a single Redis', () => ({ shards: 4 })],
  ['the Redis Cluster', () => ({ shards: 4, redis: clusterTarget() as RedisTarget })],
];

async function start(target: Partial<HarnessOptions>): Promise<Harness> {
  return await session.start({
    ...target,
    smscs: 1,
    sim: { capture: true, receiptDelayMs: { min: 0, max: 10 } },
    env: { SWITCHYARD_ADMIN_KEY: ADMIN, SY_BULK_KEY: BULK },
    configOverrides: (raw) => {
      const tenants = raw.tenants as Array<Record<string, unknown>>;
      (tenants[0] as Record<string, unknown>).moderation = { urlAllowlist: ['acme.com'] };
      tenants.push({ id: 'bulk', apiKey: { env: 'SY_BULK_KEY' }, moderation: { volume: { enabled: true, floorPerMinute: 20 } } });
    },
  });
}

const client = (key: string): Promise<TestClient> => session.client(key);

const statuses = (c: TestClient, id: string) => c.frames.filter((f) => f.op === 'status' && f.id === id).map((f) => f.status);
const texts = (hh: Harness) => hh.sims.flatMap((s) => s.captured).map((s) => s.shortMessage.toString('latin1'));

describe.each(targets)('moderation on %s', (_name, target) => {
  it('a link off the allowlist is held until approved, across a restart, then delivered once; a rejected one is stopped with the reason', async () => {
    const hh = await start(target());
    const c = await client(hh.apiKey);
    c.send({ op: 'batch', ref: 'b', items: [
      { ref: 'ok', to: '+4791000071', from: 'Acme', text: 'See https://shop.acme.com/offer today' },
      { ref: 'held1', to: '+4791000072', from: 'Acme', text: 'Win now at evil-prizes.xyz/claim' },
    ] });
    const [ok, held1] = (await c.next((f) => f.op === 'batch_ack' && f.ref === 'b')).results as Frame[];
    // Another tick: the ingress puts it in the next shard, so the listings merge two shards.
    c.send({ op: 'batch', ref: 'b2', items: [{ ref: 'held2', to: '+4791000073', from: 'Acme', text: 'Your parcel: http://bit.ly/3xYz' }] });
    const [held2] = (await c.next((f) => f.op === 'batch_ack' && f.ref === 'b2')).results as Frame[];
    const shardOf = (x: Frame | undefined) => hh.engine.store.keys.shardOf(x!.id as string);
    expect(shardOf(held2)).not.toBe(shardOf(held1));
    expect(ok).toMatchObject({ status: 'queued' });
    expect(held1).toMatchObject({ status: 'pending_approval' });
    expect(held2).toMatchObject({ status: 'pending_approval' });
    await waitFor(() => statuses(c, ok!.id as string).includes('delivered'), 10_000, 'allowed link delivered');
    // The held status may come before the batch_ack (the enqueue script writes it): look at every frame.
    await waitFor(() => statuses(c, held1!.id as string).includes('pending_approval'), 10_000, 'held status');
    expect(c.frames.find((f) => f.op === 'status' && f.id === held1!.id)).toMatchObject({ status: 'pending_approval', error: { code: 'URL_NOT_ALLOWED', text: expect.stringContaining('evil-prizes.xyz') } });
    // Only admins list and decide.
    expect((await api(hh.engine.port, hh.apiKey, 'GET', '/v1/admin/held')).status).toBe(401);
    const list = await api(hh.engine.port, ADMIN, 'GET', '/v1/admin/held?tenant=acme');
    expect(list.body.items).toEqual([
      expect.objectContaining({ id: held1!.id, ref: 'held1', to: '+4791000072', text: 'Win now at evil-prizes.xyz/claim', reason: expect.objectContaining({ code: 'URL_NOT_ALLOWED' }) }),
      expect.objectContaining({ id: held2!.id, ref: 'held2', text: 'Your parcel: http://bit.ly/3xYz' }),
    ]);
    // Held messages are in Redis: a restart keeps them.
    await c.close();
    await hh.restartEngine();
    const c2 = await client(hh.apiKey);
    expect(((await api(hh.engine.port, ADMIN, 'GET', '/v1/admin/held')).body.items as Frame[]).map((x) => x.id)).toEqual([held1!.id, held2!.id]);
    expect(texts(hh)).toEqual(['See https://shop.acme.com/offer today']);
    const approve = await api(hh.engine.port, ADMIN, 'POST', '/v1/admin/held/approve', { ids: [held2!.id] });
    expect(approve.body).toMatchObject({ approved: 1, queued: 1, notHeld: [] });
    const reject = await api(hh.engine.port, ADMIN, 'POST', '/v1/admin/held/reject', { ids: [held1!.id], reason: 'phishing link' });
    expect(reject.body).toMatchObject({ rejected: 1 });
    await waitFor(() => statuses(c2, held2!.id as string).includes('delivered') && statuses(c2, held1!.id as string).includes('stopped'), 10_000, 'decisions applied');
    expect(statuses(c2, held2!.id as string)).toEqual(['queued', 'sent', 'delivered']);
    const rejected = c2.frames.find((f) => f.op === 'status' && f.id === held1!.id && f.status === 'stopped');
    expect(rejected).toMatchObject({ error: { code: 'MODERATION_REJECTED', text: 'phishing link' } });
    expect(texts(hh).filter((t) => t.includes('bit.ly'))).toHaveLength(1);
    expect(texts(hh).some((t) => t.includes('evil-prizes'))).toBe(false);
    // Decided messages are no longer held; deciding again says so.
    expect((await api(hh.engine.port, ADMIN, 'GET', '/v1/admin/held')).body.items).toEqual([]);
    expect((await api(hh.engine.port, ADMIN, 'POST', '/v1/admin/held/approve', { ids: [held1!.id] })).body).toMatchObject({ approved: 0, notHeld: [held1!.id] });
    expect((await api(hh.engine.port, ADMIN, 'POST', '/v1/admin/held/reject', { ids: [held2!.id] })).body).toMatchObject({ code: 'INVALID_FIELD' });
  });

  it('a new tenant far above its volume limit has the excess held; approving them all delivers each once', async () => {
    const hh = await start(target());
    const c = await client(BULK);
    // Two batches, two ticks: the held ones are in two shards (5 and 25), and the pages cross them.
    const batch = (ref: string, from: number) => ({ op: 'batch', ref, items: Array.from({ length: 25 }, (_, i) => ({ ref: 'v' + (from + i), to: '+4791000080', from: 'Bulk', text: 'volume ' + (from + i) })) });
    c.send(batch('b1', 0));
    const first = (await c.next((f) => f.op === 'batch_ack' && f.ref === 'b1')).results as Frame[];
    c.send(batch('b2', 25));
    const second = (await c.next((f) => f.op === 'batch_ack' && f.ref === 'b2')).results as Frame[];
    expect(hh.engine.store.keys.shardOf(second[0]!.id as string)).not.toBe(hh.engine.store.keys.shardOf(first[0]!.id as string));
    const results = [...first, ...second];
    expect(results.filter((r) => r.status === 'queued')).toHaveLength(20);
    expect(results.filter((r) => r.status === 'pending_approval')).toHaveLength(30);
    const held = await api(hh.engine.port, ADMIN, 'GET', '/v1/admin/held?tenant=bulk&limit=10');
    expect(held.body.items).toHaveLength(10);
    expect((held.body.items as Array<{ reason: { code: string } }>)[0]!.reason.code).toBe('VOLUME_ANOMALY');
    const page2 = await api(hh.engine.port, ADMIN, 'GET', `/v1/admin/held?tenant=bulk&limit=25&after=${held.body.next as string}`);
    expect(page2.body.items).toHaveLength(20);
    expect(page2.body.next).toBeNull();
    await waitFor(() => texts(hh).length === 20, 10_000, 'the first 20 sent');
    expect((await api(hh.engine.port, ADMIN, 'POST', '/v1/admin/held/approve', { tenant: 'bulk', all: true })).body).toMatchObject({ approved: 30, queued: 30 });
    await waitFor(() => texts(hh).length === 50, 10_000, 'all sent');
    expect(new Set(texts(hh)).size).toBe(50);
  });
});
