/**
 * Where the lifecycle features meet: a cancel of a held or a paused message,
 * a held message with a sendAt approved before it is due, a scheduled message
 * of a paused tenant, opt-outs that come while a message is scheduled or
 * paused, lookups of held and cancelled messages. Each through the engine,
 * counted at the simulator.
 */
import { describe, expect, it } from 'vitest';
import type { Harness } from '../../engine/loadgen/harness.js';
import { type Frame, type TestClient } from '../helpers/ws-client.js';
import { harnessSession } from '../helpers/harness-session.js';
import { api } from '../helpers/http.js';
import { waitFor } from '../helpers/wait-for.js';

const ADMIN = 'admin-key-joins-0123456789';
const session = harnessSession();

async function start(): Promise<{ h: Harness; c: TestClient }> {
  const h = await session.start({
    smscs: 1,
    sim: { capture: true, receiptDelayMs: { min: 0, max: 10 } },
    env: { SWITCHYARD_ADMIN_KEY: ADMIN },
    configOverrides: (raw) => {
      ((raw.tenants as Array<Record<string, unknown>>)[0] as Record<string, unknown>).moderation = { urlAllowlist: ['acme.com'] };
    },
  });
  return { h, c: await session.client() };
}

const sentTo = (hh: Harness, to: string) => hh.sims.flatMap((s) => s.captured).filter((s) => s.destinationAddr === to.slice(1));

async function submit(c: TestClient, item: Record<string, unknown>): Promise<Frame> {
  c.send({ op: 'submit', from: 'Acme', ...item });
  return await c.next((f) => (f.op === 'ack' || f.op === 'nack') && f.ref === item.ref);
}

async function cancel(c: TestClient, ref: string, id: string): Promise<Frame> {
  c.send({ op: 'cancel', ref, id });
  return await c.next((f) => (f.op === 'cancel_ack' || f.op === 'cancel_nack') && f.ref === ref);
}

describe('lifecycle joins', () => {
  it('a held message can be cancelled: stopped, never approved, never sent', async () => {
    const { h: hh, c } = await start();
    const held = await submit(c, { ref: 'h1', to: '+4791000101', text: 'Win at evil-prizes.xyz' });
    expect(held).toMatchObject({ op: 'ack', status: 'pending_approval' });
    expect(await cancel(c, 'k1', held.id as string)).toEqual({ op: 'cancel_ack', ref: 'k1', id: held.id, status: 'stopped' });
    const approve = await api(hh.engine.port, ADMIN, 'POST', '/v1/admin/held/approve', { ids: [held.id] });
    expect(approve.body).toMatchObject({ approved: 0, notHeld: [held.id] });
    // a message sent after it gets through, so the cancelled one had every chance to
    const ok = await submit(c, { ref: 'ok', to: '+4791000102', text: 'See acme.com' });
    await waitFor(() => sentTo(hh, '+4791000102').length === 1, 10_000, 'the next message sent');
    expect(sentTo(hh, '+4791000101')).toEqual([]);
    const look = await api(hh.engine.port, hh.apiKey, 'GET', `/v1/messages/${held.id as string}`);
    expect(look.body).toMatchObject({ status: 'stopped', error: { code: 'CANCELLED' } });
    expect(ok.status).toBe('queued');
  });

  it('a held message with a sendAt, approved before it is due, waits for it', async () => {
    const { h: hh, c } = await start();
    const sendAt = Date.now() + 2500;
    const held = await submit(c, { ref: 'hs', to: '+4791000111', text: 'Promo evil-prizes.xyz', sendAt });
    expect(held).toMatchObject({ op: 'ack', status: 'pending_approval' });
    const approve = await api(hh.engine.port, ADMIN, 'POST', '/v1/admin/held/approve', { ids: [held.id] });
    expect(approve.body).toMatchObject({ approved: 1, scheduled: 1, queued: 0 });
    await waitFor(() => c.frames.some((f) => f.op === 'status' && f.id === held.id && f.status === 'scheduled'), 5000, 'scheduled after approval');
    await waitFor(() => sentTo(hh, '+4791000111').length === 1, 10_000, 'sent when due');
    const sentAt = sentTo(hh, '+4791000111')[0]?.at ?? 0;
    expect(sentAt).toBeGreaterThanOrEqual(sendAt - 50);
    await waitFor(() => c.frames.some((f) => f.op === 'status' && f.id === held.id && f.status === 'delivered'), 10_000, 'delivered');
  });

  it("a paused tenant's new message can be cancelled; after resume only the others go out", async () => {
    const { h: hh, c } = await start();
    const pause = await api(hh.engine.port, ADMIN, 'POST', '/v1/admin/tenants/acme/pause');
    expect(pause.status).toBe(200);
    const p1 = await submit(c, { ref: 'p1', to: '+4791000121', text: 'paused one' });
    const p2 = await submit(c, { ref: 'p2', to: '+4791000122', text: 'paused two' });
    expect([p1.status, p2.status]).toEqual(['paused', 'paused']);
    expect(await cancel(c, 'k2', p1.id as string)).toMatchObject({ op: 'cancel_ack', status: 'stopped' });
    // a scheduled message of the paused tenant falls due while it is paused: parked, not sent
    const s1 = await submit(c, { ref: 's1', to: '+4791000123', text: 'scheduled while paused', sendAt: Date.now() + 500 });
    expect(s1.status).toBe('scheduled');
    await waitFor(() => c.frames.some((f) => f.op === 'status' && f.id === s1.id && f.status === 'paused'), 10_000, 'parked when due');
    expect(hh.sims.flatMap((s) => s.captured)).toEqual([]);
    expect((await api(hh.engine.port, ADMIN, 'POST', '/v1/admin/tenants/acme/resume')).status).toBe(200);
    await waitFor(() => sentTo(hh, '+4791000122').length === 1 && sentTo(hh, '+4791000123').length === 1, 10_000, 'the others sent after resume');
    expect(sentTo(hh, '+4791000121')).toEqual([]);
    expect(hh.sims.flatMap((s) => s.captured).length).toBe(2);
  });

  it('a number that opts out while its message is scheduled, or while it is paused, never gets it', async () => {
    const { h: hh, c } = await start();
    const port = hh.engine.port;
    const s1 = await submit(c, { ref: 's1', to: '+4791000131', text: 'scheduled, then opted out', sendAt: Date.now() + 1500 });
    expect(s1.status).toBe('scheduled');
    expect((await api(port, ADMIN, 'POST', '/v1/admin/tenants/acme/pause')).status).toBe(200);
    const p1 = await submit(c, { ref: 'p1', to: '+4791000132', text: 'paused, then opted out' });
    const p2 = await submit(c, { ref: 'p2', to: '+4791000133', text: 'paused, then resumed and cancelled' });
    expect([p1.status, p2.status]).toEqual(['paused', 'paused']);
    expect((await api(port, hh.apiKey, 'POST', '/v1/optouts', { numbers: ['+4791000131', '+4791000132'] })).status).toBe(200);
    await waitFor(() => c.frames.some((f) => f.op === 'status' && f.id === s1.id && f.status === 'stopped'), 10_000, 'the scheduled one stopped when due');
    expect(c.frames.find((f) => f.op === 'status' && f.id === s1.id && f.status === 'stopped')).toMatchObject({ error: { code: 'OPTED_OUT' } });
    // binds down, so that a resumed message stays unread in its queue (cancellable) for a moment
    await hh.sims[0]!.stop();
    await waitFor(() => hh.engine.actorStats()[0]?.binds.every((b) => !b.up) === true, 10_000, 'binds down (no actor reads the queue)');
    expect((await api(port, ADMIN, 'POST', '/v1/admin/tenants/acme/resume')).status).toBe(200);
    await waitFor(() => c.frames.some((f) => f.op === 'status' && f.id === p1.id && f.status === 'stopped'), 10_000, 'the paused one stopped at resume');
    await waitFor(() => c.frames.some((f) => f.op === 'status' && f.id === p2.id && f.status === 'queued'), 10_000, 'the other back in its queue');
    // Back in its queue it knows where it is again (a cancel finds it while it is unread: tested at the
    // script level in parking-scripts.test.ts, as here the actor may take it first), and its history shows the pause.
    const look = await api(port, hh.apiKey, 'GET', `/v1/messages/${p2.id as string}`);
    expect((look.body.events as Frame[]).map((e) => e.status).slice(0, 2)).toEqual(['paused', 'queued']);
    // qe: its first part's entry id in the queue stream of its shard (before the shards: "partition|id").
    expect(await hh.engine.store.redis.hget(hh.engine.store.keys.msg(p2.id as string), 'qe')).toMatch(/^\d+-\d+$/);
    expect(hh.sims.flatMap((x) => x.captured)).toEqual([]);
  });

  it('a held message approved while its tenant is paused can be cancelled; a held one looks held', async () => {
    const { h: hh, c } = await start();
    const port = hh.engine.port;
    const held = await submit(c, { ref: 'h2', to: '+4791000141', text: 'Deal at evil-prizes.xyz' });
    const look = await api(port, hh.apiKey, 'GET', `/v1/messages/${held.id as string}`);
    expect(look.body).toMatchObject({ status: 'pending_approval', error: { code: 'URL_NOT_ALLOWED' } });
    expect((look.body.events as Frame[])[0]).toMatchObject({ status: 'pending_approval', error: { code: 'URL_NOT_ALLOWED' } });
    expect((await api(port, ADMIN, 'POST', '/v1/admin/tenants/acme/pause')).status).toBe(200);
    expect((await api(port, ADMIN, 'POST', '/v1/admin/held/approve', { ids: [held.id] })).body).toMatchObject({ approved: 1, paused: 1 });
    expect(await cancel(c, 'k4', held.id as string)).toMatchObject({ op: 'cancel_ack', status: 'stopped' });
    expect((await api(port, ADMIN, 'POST', '/v1/admin/tenants/acme/resume')).status).toBe(200);
    const after = await submit(c, { ref: 'ok2', to: '+4791000142', text: 'See acme.com' });
    expect(after.status).toBe('queued');
    await waitFor(() => sentTo(hh, '+4791000142').length === 1, 10_000, 'the next message sent');
    expect(sentTo(hh, '+4791000141')).toEqual([]);
    const events = ((await api(port, hh.apiKey, 'GET', `/v1/messages/${held.id as string}`)).body.events as Frame[]).map((e) => e.status);
    expect(events).toEqual(['pending_approval', 'paused', 'stopped']);
  });
});
