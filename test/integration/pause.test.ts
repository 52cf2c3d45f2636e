/**
 * Pausing a tenant end to end, with a backlog in its SMSC queue: once the
 * pause call has answered, none of the tenant's messages reaches the SMSC
 * (beyond what was already on the wire: at most the binds' windows), while
 * other tenants' messages keep flowing; new messages are acked `paused`;
 * queued ones become `paused`; after resume every message is delivered,
 * each exactly once (counted at the simulator). A pause survives a restart;
 * scheduled messages falling due during a pause are parked.
 * With the state in 4 shards on a single Redis and in the default 16 on the
 * local Redis Cluster (the paused set's master copy in the control slot, a
 * copy in every shard, parked parts per shard).
 */
import { describe, expect, it } from 'vitest';
import type { Harness, HarnessOptions } from '../../engine/loadgen/harness.js';
import type { RedisTarget } from '../../engine/redis/connect-redis.js';
import { clusterTarget } from '../helpers/redis-cluster.js';
import { type Frame, type TestClient } from '../helpers/ws-client.js';
import { harnessSession } from '../helpers/harness-session.js';
import { api } from '../helpers/http.js';
import { waitFor } from '../helpers/wait-for.js';

const ADMIN = 'admin-key-pause-0123456789';
const OTHER = 'other-key-pause-0123456789';
const BINDS = 2;
const WINDOW = 5;
const session = harnessSession();

const targets: Array<[string, () => Partial<HarnessOptions>]> = [
  ['a single Redis', () => ({ shards: 4 })],
  ['the Redis Cluster (16 shards)', () => ({ redis: clusterTarget() as RedisTarget })],
];

async function start(target: Partial<HarnessOptions>): Promise<Harness> {
  return await session.start({
    ...target,
    smscs: 1,
    binds: BINDS,
    window: WINDOW,
    tps: 300,
    sim: { capture: true, receiptDelayMs: { min: 0, max: 10 }, responseLatencyMs: { min: 1, max: 3 } },
    env: { SWITCHYARD_ADMIN_KEY: ADMIN, SY_OTHER_KEY: OTHER },
    configOverrides: (raw) => {
      (raw.tenants as unknown[]).push({ id: 'other', apiKey: { env: 'SY_OTHER_KEY' } });
    },
  });
}

const client = (key: string): Promise<TestClient> => session.client(key);

function send(c: TestClient, prefix: string, from: number, n: number): void {
  for (let b = from; b < from + n; b += 250) {
    c.send({ op: 'batch', ref: `${prefix}${b}`, items: Array.from({ length: Math.min(250, from + n - b) }, (_, i) => ({ ref: `${prefix}${b + i}`, to: '+4791000090', from: 'Acme', text: `${prefix} ${b + i}` })) });
  }
}

function acks(c: TestClient): Frame[] {
  return c.frames.flatMap((f) => (f.op === 'batch_ack' ? (f.results as Frame[]) : []));
}

const atSmsc = (hh: Harness, prefix: string) => hh.sims[0]!.captured.filter((s) => s.shortMessage.toString('latin1').startsWith(prefix + ' '));

describe.each(targets)('pause and resume on %s', (_name, target) => {
  it('with a backlog: nothing sent while paused, other tenants unaffected, everything after resume, none twice', async () => {
    const hh = await start(target());
    const a = await client(hh.apiKey);
    const o = await client(OTHER);
    send(a, 'p', 0, 1000);
    await waitFor(() => acks(a).length === 1000, 20_000, 'acks');
    await waitFor(() => atSmsc(hh, 'p').length >= 100, 20_000, 'first sends');
    expect((await api(hh.engine.port, hh.apiKey, 'POST', '/v1/admin/tenants/acme/pause')).status).toBe(401);
    const pause = await api(hh.engine.port, ADMIN, 'POST', '/v1/admin/tenants/acme/pause');
    expect(pause.status).toBe(200);
    expect(pause.body).toMatchObject({ tenant: 'acme', paused: true, confirmed: ['harness:sim-a'] });
    const atPause = atSmsc(hh, 'p').length;
    expect(atPause).toBeLessThan(1000);
    // New messages are acked paused.
    send(a, 'n', 0, 20);
    await waitFor(() => acks(a).length === 1020, 10_000, 'new acks');
    expect(acks(a).slice(1000).every((r) => r.status === 'paused')).toBe(true);
    // The other tenant's traffic goes through meanwhile: the actor keeps sending.
    send(o, 'o', 0, 200);
    await waitFor(() => atSmsc(hh, 'o').length === 200, 20_000, "other tenant's messages");
    // Every one of acme's messages is sent (before the pause) or paused.
    const ids = acks(a).map((r) => r.id as string);
    const statusOf = (id: string) => a.frames.filter((f) => f.op === 'status' && f.id === id).map((f) => f.status as string);
    await waitFor(() => ids.every((id) => statusOf(id).some((s) => s === 'paused' || s === 'sent')), 20_000, 'all paused or sent');
    const during = atSmsc(hh, 'p').length;
    // Only what was on the wire when the pause answered may arrive after it.
    expect(during - atPause).toBeLessThanOrEqual(BINDS * WINDOW);
    expect(atSmsc(hh, 'n')).toHaveLength(0);
    const paused = ids.filter((id) => statusOf(id).includes('paused'));
    expect(paused.length).toBe(1020 - during);
    const state = await api(hh.engine.port, ADMIN, 'GET', '/v1/admin/tenants/acme/pause');
    expect(state.body).toMatchObject({ paused: true, parked: 1020 - during });
    // Resume: every message delivered, each exactly once.
    const resume = await api(hh.engine.port, ADMIN, 'POST', '/v1/admin/tenants/acme/resume');
    expect(resume.body).toMatchObject({ tenant: 'acme', paused: false, parked: 1020 - during });
    await waitFor(() => ids.every((id) => statusOf(id).includes('delivered')), 30_000, 'all delivered');
    for (const id of paused) expect(statusOf(id)).toEqual(['paused', 'queued', 'sent', 'delivered']);
    const texts = [...atSmsc(hh, 'p'), ...atSmsc(hh, 'n')].map((s) => s.shortMessage.toString('latin1'));
    expect(texts).toHaveLength(1020);
    expect(new Set(texts).size).toBe(1020);
  }, 90_000);

  it('a pause survives an engine restart; resume after it delivers everything once', async () => {
    const hh = await start(target());
    expect((await api(hh.engine.port, ADMIN, 'POST', '/v1/admin/tenants/acme/pause')).status).toBe(200);
    const a = await client(hh.apiKey);
    send(a, 'r', 0, 50);
    await waitFor(() => acks(a).length === 50, 10_000, 'acks');
    expect(acks(a).every((r) => r.status === 'paused')).toBe(true);
    await a.close();
    await hh.restartEngine();
    const a2 = await client(hh.apiKey);
    send(a2, 's', 0, 10);
    await waitFor(() => acks(a2).length === 10, 10_000, 'acks after restart');
    expect(acks(a2).every((r) => r.status === 'paused')).toBe(true);
    expect(hh.sims[0]!.captured).toHaveLength(0);
    expect((await api(hh.engine.port, ADMIN, 'POST', '/v1/admin/tenants/acme/resume')).body).toMatchObject({ parked: 60 });
    await waitFor(() => hh.sims[0]!.captured.length === 60, 20_000, 'all sent');
    expect(new Set(hh.sims[0]!.captured.map((s) => s.shortMessage.toString('latin1'))).size).toBe(60);
  }, 60_000);

  it('scheduled messages that fall due while their tenant is paused are parked, not sent; resume sends each once', async () => {
    const hh = await start(target());
    expect((await api(hh.engine.port, ADMIN, 'POST', '/v1/admin/tenants/acme/pause')).status).toBe(200);
    const a = await client(hh.apiKey);
    // 4 × 64 messages in one batch: the ingress puts them in every shard's schedule.
    const sendAt = Date.now() + 3000;
    a.send({ op: 'batch', ref: 'sch', items: Array.from({ length: 256 }, (_, i) => ({ ref: `t${i}`, to: '+4791000090', from: 'Acme', text: `t ${i}`, sendAt })) });
    await waitFor(() => acks(a).length === 256, 10_000, 'acks');
    expect(acks(a).every((r) => r.status === 'scheduled')).toBe(true);
    const ids = acks(a).map((r) => r.id as string);
    expect(new Set(ids.map((id) => hh.engine.store.keys.shardOf(id))).size).toBe(4);
    const statusOf = (id: string) => a.frames.filter((f) => f.op === 'status' && f.id === id).map((f) => f.status as string);
    await waitFor(() => ids.every((id) => statusOf(id).includes('paused')), 30_000, 'all parked when due');
    expect(atSmsc(hh, 't')).toHaveLength(0);
    expect((await api(hh.engine.port, ADMIN, 'GET', '/v1/admin/tenants/acme/pause')).body).toMatchObject({ paused: true, parked: 256 });
    expect((await api(hh.engine.port, ADMIN, 'POST', '/v1/admin/tenants/acme/resume')).body).toMatchObject({ parked: 256 });
    await waitFor(() => ids.every((id) => statusOf(id).includes('delivered')), 30_000, 'all delivered');
    const texts = atSmsc(hh, 't').map((x) => x.shortMessage.toString('latin1'));
    expect(texts).toHaveLength(256);
    expect(new Set(texts).size).toBe(256);
  }, 90_000);
});
