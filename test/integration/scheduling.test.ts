/**
 * Scheduling, cancel and expiry end to end: WebSocket/HTTP → engine → Redis →
 * scheduler → operator actors → SMPP → simulated SMSCs. What reaches an SMSC
 * is counted at the simulator. Scheduling and cancel run on a single Redis
 * and on the local Redis Cluster with 48 shards (the schedule index, the
 * moves and the cancels per shard, each on its master).
 */
import { connectRedis, type RedisTarget } from '../../engine/redis/connect-redis.js';
import { describe, expect, it } from 'vitest';
import type { Harness, HarnessOptions } from '../../engine/loadgen/harness.js';
import type { Frame, TestClient } from '../helpers/ws-client.js';
import { waitFor } from '../helpers/wait-for.js';
import { harnessSession } from '../helpers/harness-session.js';
import { noReadInFlight } from '../helpers/no-read-in-flight.js';
import { clusterTarget } from '../helpers/redis-cluster.js';

const session = harnessSession();
let h: Harness | undefined;

const client = (): Promise<TestClient> => session.client();

const statuses = (c: TestClient, id: string) => c.frames.filter((f) => f.op === 'status' && f.id === id).map((f) => f.status as string);
const captured = (to: string) => (h as Harness).sims.flatMap((s) => s.captured).filter((s) => s.destinationAddr === to);

/** SMPP absolute time "YYMMDDhhmmss000+" of a time in seconds (what the actor sends as validity_period). */
function smppTime(sec: number): string {
  return new Date(sec * 1000).toISOString().replace(/^\d\d(\d\d)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d).*$/, '$1$2$3$4$5$6') + '000+';
}

/** Takes the SMSC's binds down and keeps them down (refused), once the actor has seen both up and then lost them. */
async function bindsDown(): Promise<void> {
  const hh = h as Harness;
  const sim = hh.sims[0]!;
  const stats = () => hh.engine.actorStats()[0];
  await waitFor(() => stats()?.binds.every((b) => b.up) === true, 10_000, 'binds up');
  const r0 = stats()!.reconnects;
  sim.setRefuseBinds(true);
  sim.dropAllConnections();
  await waitFor(() => (stats()?.reconnects ?? 0) >= r0 + 2 && stats()!.binds.every((b) => !b.up) && sim.boundSessions === 0, 10_000, 'binds down');
  // A read the actor started while it still had binds may be blocked in Redis: wait for it to end.
  await noReadInFlight(hh, 'sim-a');
}

async function messageHash(id: string): Promise<Record<string, string>> {
  const r = connectRedis((h as Harness).target, { connectionName: 'sy-test-sched' });
  try {
    return await r.hgetall((h as Harness).engine.store.keys.msg(id));
  } finally {
    r.disconnect();
  }
}

const targets: Array<[string, () => Partial<HarnessOptions>]> = [
  ['a single Redis', () => ({})],
  ['the Redis Cluster (48 shards)', () => ({ shards: 48, redis: clusterTarget() as RedisTarget })],
];

describe.each(targets)('scheduling on %s', (_name, target) => {
  it('a scheduled message goes out on time with its validity counted from sendAt; a cancelled one never reaches the SMSC', async () => {
    h = await session.start({ ...target(), smscs: 1, sim: { capture: true, receiptDelayMs: { min: 0, max: 20 } } });
    const c = await client();
    // The acks must come before sendAt, or the messages are not scheduled but queued: the lead is at least
    // 2.5 s and three times the ack time of a first message (seconds on a loaded machine, more on the cluster).
    const t0 = Date.now();
    c.send({ op: 'submit', ref: 'w', to: '+4791234500', from: 'Acme', text: 'warm-up' });
    await c.next((f) => f.op === 'ack' && f.ref === 'w');
    const sendAt = Date.now() + Math.max(2500, 3 * (Date.now() - t0));
    c.send({ op: 'submit', ref: 's1', to: '+4791234567', from: 'Acme', text: 'see you at nine', sendAt: new Date(sendAt).toISOString(), validity: 600 });
    c.send({ op: 'submit', ref: 's2', to: '+4791234568', from: 'Acme', text: 'never mind', sendAt });
    const a1 = await c.next((f) => f.op === 'ack' && f.ref === 's1');
    const a2 = await c.next((f) => f.op === 'ack' && f.ref === 's2');
    expect(a1).toMatchObject({ status: 'scheduled', parts: 1, encoding: 'gsm7', price: 0.032, currency: 'EUR' });
    expect(a2.status).toBe('scheduled');
    c.send({ op: 'cancel', ref: 'k1', id: a2.id });
    expect(await c.next((f) => f.op === 'cancel_ack')).toEqual({ op: 'cancel_ack', ref: 'k1', id: a2.id, status: 'stopped' });
    await waitFor(() => statuses(c, a2.id as string).includes('stopped'), 5000, 'stopped frame');
    expect(c.frames.find((f) => f.op === 'status' && f.id === a2.id && f.status === 'stopped')).toMatchObject({ error: { code: 'CANCELLED', text: 'cancelled by the client' } });
    // nothing reaches the SMSC before its time
    expect(captured('4791234567')).toEqual([]);
    await waitFor(() => statuses(c, a1.id as string).includes('delivered'), 10_000, 'scheduled message delivered');
    const [sm] = captured('4791234567');
    expect(sm).toBeDefined();
    // on time: not before sendAt, and within a second of it
    expect(sm!.at).toBeGreaterThanOrEqual(sendAt);
    expect(sm!.at).toBeLessThanOrEqual(sendAt + 1000);
    expect(sm!.validityPeriod).toBe(smppTime(Math.floor((sendAt + 600_000) / 1000)));
    expect(statuses(c, a1.id as string)).toEqual(['scheduled', 'queued', 'sent', 'delivered']);
    // the cancelled one never went out, also well after its time
    await waitFor(() => (h as Harness).engine.lifecycle.scheduler.moved >= 1 && Date.now() > sendAt + 1500, 10_000, 'past the due time');
    expect(captured('4791234568')).toEqual([]);
    expect((h as Harness).sims[0]!.stats.submitsAccepted).toBe(2); // the warm-up and s1
    // cancelling after sending is refused with the reason; unknown ids are not found
    c.send({ op: 'cancel', ref: 'k2', id: a1.id });
    expect(await c.next((f) => f.op === 'cancel_nack' && f.ref === 'k2')).toMatchObject({ code: 'NOT_CANCELLABLE', status: 'delivered', id: a1.id });
    c.send({ op: 'cancel', ref: 'k3', id: '0000000000000000' });
    expect(await c.next((f) => f.op === 'cancel_nack' && f.ref === 'k3')).toMatchObject({ code: 'NOT_FOUND' });
    c.send({ op: 'cancel', ref: 'k4' });
    expect(await c.next((f) => f.op === 'cancel_nack' && f.ref === 'k4')).toMatchObject({ code: 'INVALID_FIELD' });
    // the lookup shows the whole history
    const res = await fetch(`http://127.0.0.1:${h.engine.port}/v1/messages/${a1.id}`, { headers: { authorization: `Bearer ${h.apiKey}` } });
    const m = (await res.json()) as { events: Array<{ status: string; at: number }>; sendAt: number };
    expect(m.sendAt).toBe(sendAt);
    expect(m.events.map((e) => e.status)).toEqual(['scheduled', 'queued', 'sent', 'delivered']);
    expect(m.events[1]!.at).toBeGreaterThanOrEqual(sendAt);
  }, 60_000);

  it('a queued message an actor has not read yet can be cancelled (HTTP) and never reaches the SMSC', async () => {
    h = await session.start({
      ...target(),
      smscs: 1,
      sim: { capture: true, receiptDelayMs: { min: 0, max: 20 } },
      // The SMSC stays routable while its binds are down for this test.
      configOverrides: (raw) => ((raw.routing as Record<string, unknown>).downAfterMs = 600_000),
    });
    const sim = h.sims[0]!;
    await bindsDown();
    const c = await client();
    c.send({ op: 'submit', ref: 'q1', to: '+4791234567', from: 'Acme', text: 'cancel me' });
    const a1 = await c.next((f) => f.op === 'ack' && f.ref === 'q1');
    expect(a1.status).toBe('queued');
    const url = `http://127.0.0.1:${h.engine.port}/v1/messages/${a1.id}/cancel`;
    const auth = { authorization: `Bearer ${h.apiKey}` };
    const r1 = await fetch(url, { method: 'POST', headers: auth });
    expect(r1.status).toBe(200);
    expect(await r1.json()).toEqual({ id: a1.id, status: 'stopped' });
    c.send({ op: 'submit', ref: 'q2', to: '+4791234568', from: 'Acme', text: 'keep me' });
    const a2 = await c.next((f) => f.op === 'ack' && f.ref === 'q2');
    sim.setRefuseBinds(false);
    await waitFor(() => statuses(c, a2.id as string).includes('delivered'), 20_000, 'the other message delivered');
    expect(sim.captured.map((s) => s.destinationAddr)).toEqual(['4791234568']);
    expect(statuses(c, a1.id as string)).toEqual(['stopped']);
    // once sent, cancelling is refused with 409 and the reason
    const r2 = await fetch(`http://127.0.0.1:${h.engine.port}/v1/messages/${a2.id}/cancel`, { method: 'POST', headers: auth });
    expect(r2.status).toBe(409);
    expect(await r2.json()).toMatchObject({ code: 'NOT_CANCELLABLE', details: { status: 'delivered' }, message: expect.stringContaining('only scheduled, held') });
  }, 60_000);

  it('an engine restarted while scheduled messages are being moved moves each exactly once', async () => {
    h = await session.start({ ...target(), smscs: 1, tps: 5000, tenantTps: 1_000_000, sim: { capture: true, receiptDelayMs: { min: 0, max: 20 } } });
    const c = await client();
    const n = 5000;
    // Far enough ahead that most acks come back `scheduled` even on a loaded machine; a batch acked after
    // sendAt comes back `queued` (straight into its queue) and is counted apart below.
    const sendAt = Date.now() + 4000;
    for (let b = 0; b < n; b += 500)
      c.send({ op: 'batch', ref: 'b' + b, common: { from: 'Acme', sendAt }, items: Array.from({ length: 500 }, (_, i) => ({ ref: String(b + i), to: '+4791234567', text: 'restart ' + (b + i) })) });
    await waitFor(() => c.frames.filter((f) => f.op === 'batch_ack').length === n / 500, 20_000, 'acks');
    const results = c.frames.filter((f) => f.op === 'batch_ack').flatMap((f) => f.results as Frame[]);
    expect(results.filter((r) => r.status !== 'scheduled' && r.status !== 'queued')).toEqual([]);
    const scheduled = results.filter((r) => r.status === 'scheduled').length;
    expect(scheduled).toBeGreaterThan(0);
    // restart as soon as the scheduler has started moving: the moves are 200 per script, 25 calls, so it is (almost always) mid-way
    await waitFor(() => (h as Harness).engine.lifecycle.scheduler.moved > 0, 10_000, 'moves under way');
    const movedBefore = h.engine.lifecycle.scheduler.moved;
    await h.restartEngine();
    await waitFor(() => (h as Harness).sims[0]!.stats.submitsAccepted >= n, 30_000, 'every message submitted');
    expect(movedBefore).toBeGreaterThan(0);
    // every message reached the SMSC once, none twice (also after a further second of scheduler ticks)
    await waitFor(() => Date.now() > sendAt + 4000, 10_000, 'a little later');
    const texts = h.sims[0]!.captured.map((s) => s.shortMessage.toString('latin1'));
    expect(texts).toHaveLength(n);
    expect(new Set(texts).size).toBe(n);
    const r = connectRedis(h.target, { connectionName: 'sy-test-sched' });
    let queued = 0;
    for (const k of h.engine.store.keys.shards.all()) {
      queued += (await r.xrange(h.engine.store.keys.eventsOf(k), '-', '+')).filter(([, f]) => (f[3] as string).includes('"status":"queued"')).length;
    }
    r.disconnect();
    // each scheduled message was moved into its queue once: one `queued` event each
    expect(queued).toBe(scheduled);
  }, 90_000);
});

describe('validity and expiry', () => {
  const messages = { minValiditySec: 1, receiptGraceSec: 3 };

  it('a queued message whose validity runs out before an actor can send it ends expired and is never sent', async () => {
    h = await session.start({
      smscs: 1,
      sim: { capture: true },
      configOverrides: (raw) => {
        raw.messages = messages;
        (raw.routing as Record<string, unknown>).downAfterMs = 600_000;
      },
    });
    const sim = h.sims[0]!;
    await bindsDown();
    const c = await client();
    c.send({ op: 'submit', ref: 'e1', to: '+4791234567', from: 'Acme', text: 'too late', validity: 1 });
    const a = await c.next((f) => f.op === 'ack');
    const until = Date.now() + 1000;
    await waitFor(() => Date.now() > until + 200, 5000, 'validity over');
    sim.setRefuseBinds(false);
    await waitFor(() => statuses(c, a.id as string).includes('expired'), 15_000, 'expired');
    expect(c.frames.find((f) => f.op === 'status' && f.id === a.id)).toMatchObject({ status: 'expired', error: { text: 'validity period ran out before the message could be sent' } });
    // the bind is back and works, and the expired message was never sent
    c.send({ op: 'submit', ref: 'e2', to: '+4791234568', from: 'Acme', text: 'in time' });
    await waitFor(() => sim.stats.submitsAccepted === 1, 15_000, 'the next message sent');
    expect(sim.captured.map((s) => s.destinationAddr)).toEqual(['4791234568']);
  }, 60_000);

  it('a scheduled message whose validity ended while no engine ran ends expired and is never sent', async () => {
    h = await session.start({ smscs: 1, sim: { capture: true }, configOverrides: (raw) => (raw.messages = messages) });
    const c = await client();
    const sendAt = Date.now() + 3000;
    c.send({ op: 'submit', ref: 'x1', to: '+4791234567', from: 'Acme', text: 'missed', sendAt, validity: 2 });
    const a = await c.next((f) => f.op === 'ack');
    expect(a.status).toBe('scheduled');
    await c.close();
    // the engines are down from before sendAt until after sendAt + validity
    await h.restartEngine(() => waitFor(() => Date.now() > sendAt + 2300, 10_000, 'validity over'));
    await waitFor(async () => (await messageHash(a.id as string)).s === 'expired', 10_000, 'expired');
    expect((await messageHash(a.id as string)).wt).toMatch(/^validity period ran out before the/);
    expect(h.sims[0]!.captured).toEqual([]);
  }, 60_000);

  it('a sent message whose receipt never comes ends unknown after validity plus grace', async () => {
    h = await session.start({ smscs: 1, sim: { capture: true, outcomes: { noReceipt: 1 } }, configOverrides: (raw) => (raw.messages = messages) });
    // Sent at once (binds up), well within its validity of 2 s.
    await waitFor(() => (h as Harness).engine.actorStats()[0]?.binds.every((b) => b.up) === true, 10_000, 'binds up');
    const c = await client();
    c.send({ op: 'submit', ref: 'n1', to: '+4791234567', from: 'Acme', text: 'anyone there?', validity: 2 });
    const a = await c.next((f) => f.op === 'ack');
    const t0 = Date.now();
    await waitFor(() => statuses(c, a.id as string).some((s) => s === 'unknown' || s === 'expired'), 15_000, 'a final status');
    // not before validity (2 s) + grace (3 s)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(4500);
    expect(statuses(c, a.id as string)).toEqual(['sent', 'unknown']);
    expect(c.frames.find((f) => f.op === 'status' && f.status === 'unknown')).toMatchObject({ error: { text: 'no receipt within the validity period and grace' } });
    expect(h.sims[0]!.captured).toHaveLength(1);
  }, 60_000);
});
