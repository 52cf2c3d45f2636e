/**
 * The whole message path against real parts: WebSocket → engine → Redis →
 * operator actors in worker threads → SMPP over loopback → simulated SMSCs →
 * receipts → status frames. Counts are taken at the simulators. The first
 * test (every status, GSM-7, UCS-2, multipart, early receipts: a receipt sent
 * before its submit_sm_resp) runs on a single Redis and on the local Redis
 * Cluster with 48 shards (the receipt's mapping shard and the message's shard
 * on different masters); fewer messages on the cluster, where three
 * redis-servers share the machine's two cores.
 */
import { connectRedis, type RedisTarget } from '../../engine/redis/connect-redis.js';
import { describe, expect, it } from 'vitest';
import type { Harness, HarnessOptions } from '../../engine/loadgen/harness.js';
import type { CapturedSubmit, Outcome } from '../../engine/simulator/index.js';
import type { Frame, TestClient } from '../helpers/ws-client.js';
import { waitFor } from '../helpers/wait-for.js';
import { harnessSession } from '../helpers/harness-session.js';
import { clusterTarget } from '../helpers/redis-cluster.js';

const FINAL = new Set(['delivered', 'undelivered', 'rejected', 'expired', 'unknown']);
const session = harnessSession();
let h: Harness | undefined;

const client = (key?: string, since?: string): Promise<TestClient> => session.client(key, since);

/** Final status per message id, from status frames. */
function finals(frames: Frame[]): Map<string, Frame> {
  const out = new Map<string, Frame>();
  for (const f of frames) if (f.op === 'status' && FINAL.has(f.status as string)) out.set(f.id as string, f);
  return out;
}

function acks(frames: Frame[]): Frame[] {
  const out: Frame[] = [];
  for (const f of frames) {
    if (f.op === 'ack' || f.op === 'nack') out.push(f);
    else if (f.op === 'batch_ack') out.push(...(f.results as Frame[]));
  }
  return out;
}

const RANK: Record<Outcome, number> = { delivered: 0, noReceipt: 1, expired: 2, undelivered: 3, rejected: 4 };
const STATUS: Record<Outcome, string> = { delivered: 'delivered', noReceipt: 'unknown', expired: 'expired', undelivered: 'undelivered', rejected: 'rejected' };

function text(i: number): string {
  if (i % 13 === 0) return `Long message ${i}: ` + 'The quick brown fox jumps over the lazy dog @ £5 {ok}. '.repeat(4);
  if (i % 17 === 0) return `Длинное сообщение ${i}: ` + 'Съешь же ещё этих мягких французских булок, да выпей чаю 🙂 '.repeat(2);
  if (i % 7 === 0) return `Привет ${i} 🙂 ваш код`;
  return `msg ${i}: code @£$ [${i}] €`;
}

const targets: Array<[string, { total: number; target: () => Partial<HarnessOptions> }]> = [
  ['a single Redis', { total: 10_000, target: () => ({}) }],
  ['the Redis Cluster (48 shards)', { total: 3_000, target: () => ({ shards: 48, redis: clusterTarget() as RedisTarget }) }],
];

describe.each(targets)('message path on %s', (_name, { total, target }) => {
  it(`${total.toLocaleString('en')} messages (single and batch frames, GSM-7, UCS-2, multipart, early receipts): every one acked, submitted exactly once, every final status right`, async () => {
    const mix = { delivered: 85, undelivered: 8, expired: 4, rejected: 3 };
    h = await session.start({
      ...target(),
      smscs: 2,
      tenantTps: 1_000_000,
      // 3 % of receipts come before their submit_sm_resp (which waits until the engine has answered the receipt).
      sim: { capture: true, receiptDelayMs: { min: 0, max: 30 }, outcomes: mix, earlyReceipts: 0.03 },
      // The second SMSC answers submits with hex ids and sends receipts with decimal ones.
      simBySmsc: [{ seed: 11 }, { seed: 12, messageIdFormat: 'hex', receiptIdFormat: 'dec' }],
    });
    const c = await client();
    const singles = total / 10;
    const numbers = (i: number) => (i % 2 === 0 ? `+4791${String(100000 + i).padStart(6, '0')}` : `+49151${String(10000000 + i)}`);
    for (let i = 0; i < singles; i++) c.send({ op: 'submit', ref: 'r' + i, to: numbers(i), from: 'Switchyard', text: text(i) });
    for (let b = singles; b < total; b += 100) {
      const items = [];
      for (let i = b; i < b + 100; i++) items.push({ ref: 'r' + i, to: numbers(i), from: 'Switchyard', text: text(i) });
      c.send({ op: 'batch', ref: 'b' + b, items });
    }
    await waitFor(() => acks(c.frames).length === total, 60_000, 'all acks');
    const all = acks(c.frames);
    expect(all.filter((a) => a.op === 'nack')).toEqual([]);
    const idByRef = new Map(all.map((a) => [a.ref as string, a.id as string]));
    expect(idByRef.size).toBe(total);
    const partsByRef = new Map(all.map((a) => [a.ref as string, a.parts as number]));
    const totalParts = [...partsByRef.values()].reduce((s, n) => s + n, 0);
    expect(totalParts).toBeGreaterThan(total); // multipart messages are in the mix

    await waitFor(() => finals(c.frames).size === total, 90_000, 'all final statuses');

    // Every part reached the simulators. Exactly once, unless an actor resent parts whose submit_sm_resp
    // did not come within responseTimeoutMs or whose bind was lost (at least once, as documented: on a
    // heavily loaded machine a resp can come late): then every extra copy is one the actors counted as
    // a resend (their stats arrive once a second, hence the wait).
    const captured: CapturedSubmit[] = h.sims.flatMap((s) => s.captured);
    const keys = new Set(captured.map((s) => `${s.destinationAddr}|${s.shortMessage.toString('hex')}`));
    expect(keys.size).toBe(totalParts);
    const extra = captured.length - totalParts;
    expect(extra).toBeGreaterThanOrEqual(0);
    const retried = (): number => h!.engine.actorStats().reduce((s, a) => s + a.retried, 0);
    if (extra > 0) await waitFor(() => retried() >= extra, 10_000, `${extra} extra submits, each a counted resend`);

    // Encoding as seen by the SMSC.
    const i7 = captured.find((s) => s.destinationAddr === numbers(7).slice(1));
    expect(i7?.dataCoding).toBe(8);
    const i13 = captured.filter((s) => s.destinationAddr === numbers(13).slice(1));
    expect(i13.length).toBeGreaterThan(1);
    for (const p of i13) expect(p.esmClass & 0x40).toBe(0x40);
    expect(captured.find((s) => s.destinationAddr === numbers(1).slice(1))?.dataCoding).toBe(0);
    const i17 = captured.filter((s) => s.destinationAddr === numbers(17).slice(1));
    expect(i17.length).toBeGreaterThan(1); // UCS-2 multipart
    for (const p of i17) {
      expect(p.dataCoding).toBe(8);
      expect(p.esmClass & 0x40).toBe(0x40);
    }

    // Final status = the worst outcome the simulator chose for the message's parts.
    const redis = connectRedis(h.target, { connectionName: 'sy-test-path' });
    const bySimId = new Map<string, CapturedSubmit>();
    for (const s of captured) if (s.messageId !== '') bySimId.set(`${s.destinationAddr}|${s.messageId}`, s);
    const got = finals(c.frames);
    let checked = 0;
    const ids = [...idByRef.values()];
    const hashes = await Promise.all(ids.map((id) => redis.hgetall(h!.engine.store.keys.msg(id))));
    ids.forEach((id, k) => {
      const m = hashes[k] as Record<string, string>;
      const n = Number(m.n);
      let worst: Outcome = 'delivered';
      for (let p = 1; p <= n; p++) {
        const simId = m['i' + p];
        const o: Outcome = simId === undefined ? 'rejected' : ((bySimId.get(`${m.to}|${simId}`) as CapturedSubmit).outcome);
        if (RANK[o] > RANK[worst]) worst = o;
      }
      const f = got.get(id) as Frame;
      expect(f.status, `message ${id}`).toBe(STATUS[worst]);
      expect(m.s).toBe(STATUS[worst]);
      if (worst === 'undelivered') expect((f.error as { code: string }).code).toMatch(/^0\d\d$/);
      if (worst === 'rejected') expect((f.error as { code: string }).code).toBe('0x00000045');
      checked++;
    });
    redis.disconnect();
    expect(checked).toBe(total);
    // Every outcome of the mix occurred, and a `sent` preceded each non-rejected final.
    const counts: Record<string, number> = {};
    for (const f of got.values()) counts[f.status as string] = (counts[f.status as string] ?? 0) + 1;
    for (const s of ['delivered', 'undelivered', 'expired', 'rejected']) expect(counts[s]).toBeGreaterThan(0);
    const sent = new Set(c.frames.filter((f) => f.op === 'status' && f.status === 'sent').map((f) => f.id));
    expect(sent.size).toBeGreaterThan(total * 0.85);
    // Early receipts happened (each applied above: its message has the status its receipt gave), on both SMSCs,
    // and the engine took each as one (kept until its resp was recorded, then applied: the actors count those).
    for (const s of h.sims) expect(s.stats.earlyReceipts).toBeGreaterThan(0);
    const simEarly = h.sims.reduce((n, s) => n + s.stats.earlyReceipts, 0);
    const engineEarly = (): number => h!.engine.actorStats().reduce((n, a) => n + a.receiptsEarly, 0);
    await waitFor(() => engineEarly() >= simEarly, 10_000, `${simEarly} early receipts counted by the actors`);
    // Every receipt is answered, none is left waiting at an SMSC (the answer may trail the status frame).
    await waitFor(() => h!.sims.every((s) => s.stats.receiptsPending === 0), 10_000, 'every receipt answered');
  }, 180_000);
});

describe('message path', () => {
  it('flow control: with TPS 500 and window 10 the SMSC never sees more, and the backlog waits in Redis', async () => {
    h = await session.start({
      smscs: 1,
      binds: 2,
      window: 10,
      tps: 500,
      shards: 1,
      tenantTps: 1_000_000,
      sim: { tps: 500, window: 10, responseLatencyMs: { min: 2, max: 8 }, receiptDelayMs: { min: 0, max: 10 } },
    });
    const c = await client();
    const total = 1500;
    for (let b = 0; b < total; b += 250) {
      c.send({ op: 'batch', ref: 'b' + b, items: Array.from({ length: 250 }, (_, i) => ({ ref: String(b + i), to: '+4791234567', from: 'Acme', text: 'flow ' + (b + i) })) });
    }
    await waitFor(() => acks(c.frames).length === total, 20_000, 'acks');
    // While the SMSC drains at 500/s the backlog sits in the Redis stream, not in the engine.
    const redis = connectRedis(h.target, { connectionName: 'sy-test-path' });
    let backlog = 0;
    for (const q of h.engine.store.keys.queuesOf('sim-a')) backlog += await redis.xlen(q);
    expect(backlog).toBeGreaterThan(500);
    await waitFor(() => h!.engine.actorStats().length > 0, 5000, 'actor stats');
    const stats = h.engine.actorStats()[0]!;
    expect(stats.buffered).toBeLessThanOrEqual(2 * 10 + 10);
    await waitFor(() => finals(c.frames).size === total, 30_000, 'finals');
    redis.disconnect();
    const sim = h.sims[0]!;
    expect(sim.stats.submitsAccepted).toBe(total);
    expect(sim.stats.maxSubmitsPerSecond).toBeLessThanOrEqual(500);
    expect(sim.stats.maxInFlightPerBind).toBeLessThanOrEqual(10);
    expect(sim.stats.windowViolations).toBe(0);
    expect(sim.stats.throttled).toBe(0);
  }, 60_000);

  it('SMSC faults: dropped connections mid-window, refused binds and 0x58 answers lose nothing', async () => {
    h = await session.start({
      smscs: 1,
      tenantTps: 1_000_000,
      sim: { capture: true, responseLatencyMs: { min: 1, max: 5 }, receiptDelayMs: { min: 0, max: 50 } },
    });
    const sim = h.sims[0]!;
    const c = await client();
    const send = (from: number, n: number) =>
      c.send({ op: 'batch', ref: 'b' + from, items: Array.from({ length: n }, (_, i) => ({ ref: String(from + i), to: '+4791234567', from: 'Acme', text: 'fault ' + (from + i) })) });
    send(0, 500);
    await waitFor(() => sim.stats.submitsAccepted > 100, 10_000, 'first submits');
    sim.dropAllConnections(); // mid-window
    send(500, 500);
    await waitFor(() => sim.boundSessions > 0 && sim.stats.submitsAccepted > 600, 10_000, 'rebind');
    sim.setRefuseBinds(true);
    sim.dropAllConnections();
    send(1000, 500);
    await waitFor(() => sim.stats.bindRefusals > 0, 10_000, 'refused bind');
    sim.setRefuseBinds(false);
    await waitFor(() => sim.boundSessions > 0, 10_000, 'bound again');
    sim.setThrottleAll(true);
    send(1500, 500);
    await waitFor(() => sim.stats.throttled > 20, 10_000, 'throttled answers');
    sim.setThrottleAll(false);
    await waitFor(() => finals(c.frames).size === 2000, 60_000, 'every message final');
    expect(acks(c.frames).filter((a) => a.op === 'ack')).toHaveLength(2000);
    // every message reached the SMSC (at least once: a drop mid-window may resend what was on the wire)
    const texts = new Set(sim.captured.map((s) => s.shortMessage.toString('latin1')));
    expect(texts.size).toBe(2000);
    expect([...finals(c.frames).values()].every((f) => f.status === 'delivered')).toBe(true);
    const stats = h.engine.actorStats()[0]!;
    expect(stats.reconnects).toBeGreaterThanOrEqual(2);
    expect(stats.throttled).toBeGreaterThan(0);
  }, 90_000);

  it('a killed worker thread is restarted and every acked message is submitted and gets its receipt', async () => {
    h = await session.start({ smscs: 2, tenantTps: 1_000_000, sim: { capture: true, receiptDelayMs: { min: 0, max: 30 }, responseLatencyMs: { min: 1, max: 4 } } });
    const c = await client();
    const total = 4000;
    for (let b = 0; b < total; b += 200) {
      c.send({ op: 'batch', ref: 'b' + b, items: Array.from({ length: 200 }, (_, i) => ({ ref: String(b + i), to: (b + i) % 2 ? '+4791234567' : '+4915112345678', from: 'Acme', text: 'crash ' + (b + i) })) });
    }
    await waitFor(() => h!.sims[0]!.stats.submitsAccepted > 300, 20_000, 'load under way');
    expect(await h.engine.supervisor.killWorkerOf('sim-a')).toBe(true);
    await waitFor(() => (h!.engine.supervisor.actorState('sim-a')?.restarts ?? 0) >= 1, 10_000, 'restart');
    await waitFor(() => finals(c.frames).size === total, 90_000, 'every message final');
    const captured = h.sims.flatMap((s) => s.captured);
    expect(new Set(captured.map((s) => s.shortMessage.toString('latin1'))).size).toBe(total);
    expect([...finals(c.frames).values()].every((f) => f.status === 'delivered')).toBe(true);
  }, 120_000);

  it('tenants see only their own statuses and messages; a reconnecting client gets the statuses it missed', async () => {
    h = await session.start({
      smscs: 1,
      sim: { receiptDelayMs: { min: 200, max: 400 } },
      configOverrides: (raw) => {
        (raw.tenants as unknown[]).push({ id: 'other', apiKey: { env: 'SY_OTHER_KEY' } });
      },
      env: { SY_OTHER_KEY: 'other-key-0123456789' },
    });
    const a = await client();
    const b = await client('other-key-0123456789');
    a.send({ op: 'batch', ref: 'x', items: Array.from({ length: 20 }, (_, i) => ({ ref: 'a' + i, to: '+4791234567', from: 'Acme', text: 'tenant a ' + i })) });
    const ack = await a.next((f) => f.op === 'batch_ack');
    const ids = (ack.results as Frame[]).map((r) => r.id as string);
    // disconnect before the receipts come back
    await a.close();
    await waitFor(async () => {
      const r = connectRedis(h!.target, { connectionName: 'sy-test-path' });
      const st = await Promise.all(ids.map((id) => r.hget(h!.engine.store.keys.msg(id), 's')));
      r.disconnect();
      return st.every((s) => s === 'delivered');
    }, 20_000, 'delivered in Redis');
    // the other tenant saw nothing of it, and cannot read it
    expect(b.frames.filter((f) => f.op === 'status')).toEqual([]);
    const res = await fetch(`http://127.0.0.1:${h.engine.port}/v1/messages/${ids[0]}`, { headers: { authorization: 'Bearer other-key-0123456789' } });
    expect(res.status).toBe(404);
    const own = await fetch(`http://127.0.0.1:${h.engine.port}/v1/messages/${ids[0]}`, { headers: { authorization: `Bearer ${h.apiKey}` } });
    expect(await own.json()).toMatchObject({ id: ids[0], status: 'delivered', ref: 'a0' });
    // reconnect without `since`: resumes from where the tenant left off
    const a2 = await client();
    await waitFor(() => finals(a2.frames).size === 20, 10_000, 'missed finals');
    expect([...finals(a2.frames).keys()].sort()).toEqual([...ids].sort());
    // and with since = the eid of the first final, only later frames come again
    const first = a2.frames.find((f) => f.op === 'status' && f.status === 'delivered') as Frame;
    const a3 = await client(h.apiKey, first.eid as string);
    await waitFor(() => finals(a3.frames).size === 19, 10_000, 'frames after since');
    expect(finals(a3.frames).has(first.id as string)).toBe(false);
  }, 60_000);
});
