/**
 * Analytics against the real engine (embedded chdb in the analytics process):
 * a run in rounds with a known, seeded outcome mix at three simulated SMSCs,
 * then every figure ClickHouse gives over HTTP — delivery rate, failure
 * reasons, latency range, status breakdown, bad numbers, message and number
 * history, CSV reports — is checked against what the simulators did, exactly
 * for counts; tenants see only their own traffic; flagged numbers are refused
 * with NUMBER_FLAGGED for the tenant that asks for it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startHarness, type Harness } from '../../engine/loadgen/harness.js';
import type { CapturedSubmit, SmscSimulator } from '../../engine/simulator/index.js';
import { waitFor } from '../helpers/wait-for.js';
import { connectClient, type Frame, type TestClient } from '../helpers/ws-client.js';

// JSON bodies are read field by field and checked by the assertions themselves.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type J = any;
const ADMIN = 'admin-key-analytics-test';
const BETA = 'beta-key-analytics-test';
const FINAL = new Set(['delivered', 'undelivered', 'expired', 'rejected', 'unknown']);
const ROUNDS = 4;
// Numbers per country; every round sends one message to each.
const NO = Array.from({ length: 60 }, (_, i) => `4791${String(200000 + i)}`);
const DE = Array.from({ length: 40 }, (_, i) => `49151${String(20000000 + i)}`);
const FR = Array.from({ length: 6 }, (_, i) => `33612${String(340000 + i)}`);
const SIMS = [
  // sim-a (Norway): a mix with a permanent (001) and a temporary (034) error code
  { outcomes: { delivered: 70, undelivered: 16, expired: 7, noReceipt: 7 }, undeliveredErrors: [1, 34], seed: 11 },
  // sim-b (Germany): 011 is permanent too
  { outcomes: { delivered: 60, undelivered: 30, expired: 10 }, undeliveredErrors: [11], seed: 12 },
  // sim-c (France): every message fails, mostly permanently
  { outcomes: { undelivered: 100 }, undeliveredErrors: [1, 1, 34], seed: 13 },
];

let h: Harness;
let dir: string;
let acme: TestClient;
let beta: TestClient;
let base: string;
let acmeKey: string;
const accepted = new Map<string, string>(); // message id -> destination digits (acme)
const captured: CapturedSubmit[][] = [[], [], []]; // per sim, per round slices joined

async function get(path: string, key: string): Promise<{ status: number; body: J; text: string }> {
  const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${key}` } });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text };
}

function acksOf(frames: Frame[]): Frame[] {
  return frames.flatMap((f) => (f.op === 'batch_ack' ? (f.results as Frame[]) : f.op === 'ack' || f.op === 'nack' ? [f] : []));
}

/** The error code a simulator put in its k-th undelivered receipt. */
function errOf(sim: SmscSimulator, k: number): string {
  const errs = sim.o.undeliveredErrors;
  return String(errs[k % errs.length]).padStart(3, '0');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sy-anq-'));
  h = await startHarness({
    redisUrl: inject('redisUrl'),
    smscs: 3,
    analyticsDir: dir,
    simBySmsc: SIMS.map((s) => ({ ...s, receiptDelayMs: { min: 20, max: 80 }, capture: true })),
    env: { SWITCHYARD_ADMIN_KEY: ADMIN, SY_BETA_KEY: BETA },
    configOverrides: (raw) => {
      const tenants = raw.tenants as Array<Record<string, unknown>>;
      (tenants[0] as Record<string, unknown>).refuseFlaggedNumbers = true;
      tenants.push({ id: 'beta', apiKey: { env: 'SY_BETA_KEY' } });
      raw.messages = { receiptGraceSec: 0 };
      (raw.analytics as Record<string, unknown>).badNumbers = { failures: 3, refreshSec: 3600 };
      // small report pages: the CSV checks below run through many pages and the engine's streaming proxy
      (raw.analytics as Record<string, unknown>).reportPageRows = 100;
    },
  });
  base = `http://127.0.0.1:${h.engine.port}/v1/analytics`;
  acmeKey = h.apiKey;
  await waitFor(() => h.engine.analytics?.ready === true, 30_000, 'analytics ready');
  acme = await connectClient(h.wsUrl, acmeKey);
  beta = await connectClient(h.wsUrl, BETA);
  // Rounds: each waits for every outcome of the one before, so "after the last delivery" is well defined.
  for (let r = 0; r < ROUNDS; r++) {
    const from = h.sims.map((s) => s.captured.length);
    const items = [...NO, ...DE, ...FR].map((to, i) => ({ ref: `r${r}-${i}`, to: `+${to}`, from: 'Acme', text: `round ${r} message ${i}`, validity: 60 }));
    const before = acksOf(acme.frames).length;
    acme.send({ op: 'batch', ref: `round${r}`, items });
    await waitFor(() => acksOf(acme.frames).length === before + items.length, 10_000, 'acks');
    for (const a of acksOf(acme.frames).slice(before)) {
      expect(a.op).toBe('ack');
      accepted.set(a.id as string, (items.find((x) => x.ref === a.ref) as { to: string }).to.slice(1));
    }
    await waitFor(() => h.sims.every((s) => s.stats.receiptsPending === 0) && h.sims.reduce((n, s) => n + s.captured.length, 0) - from.reduce((a, b) => a + b, 0) === items.length, 15_000, 'receipts');
    h.sims.forEach((s, i) => captured[i]?.push(...s.captured.slice(from[i])));
  }
  // beta's traffic: a few messages that acme must never see
  beta.send({ op: 'batch', ref: 'b', items: NO.slice(0, 5).map((to, i) => ({ ref: `b${i}`, to: `+${to}`, from: 'Beta', text: 'beta', validity: 60 })) });
  await waitFor(() => acksOf(beta.frames).length === 5, 10_000, 'beta acks');
  // Messages without a receipt end "unknown" at validity (60 s) + grace (0): run the sweep as if that time had come.
  const acmeSubmits = captured.reduce((n, c) => n + c.length, 0);
  await waitFor(() => h.sims.reduce((n, s) => n + s.captured.length, 0) === acmeSubmits + 5 && h.sims.every((s) => s.stats.receiptsPending === 0), 10_000, 'beta at the SMSC and its receipts');
  const noReceipt = captured.flat().filter((c) => c.outcome === 'noReceipt').length;
  await h.engine.store.sweepExpired(Date.now() + 61_000, 1000, h.config.messages.receiptGraceSec);
  const finals = () => acme.frames.filter((f) => f.op === 'status' && FINAL.has(f.status as string)).length;
  await waitFor(() => finals() === accepted.size, 15_000, `every acme message final (${noReceipt} by the sweep)`);
  // everything in ClickHouse: acme's sent + final per message, beta's 2 per message
  await waitFor(() => h.engine.analytics?.inserted === 2 * accepted.size + 10, 20_000, 'events in ClickHouse');
  await h.engine.analyticsHost?.detectNow();
}, 120_000);

afterAll(async () => {
  await acme?.close();
  await beta?.close();
  await h?.stop();
  rmSync(dir, { recursive: true, force: true });
});

// Range that covers the sweep's events (stamped 61 s ahead).
const RANGE = () => `from=${Date.now() - 3_600_000}&to=${Date.now() + 3_600_000}`;

describe('analytics over HTTP', () => {
  it('delivery rate, outcome counts and latency by SMSC match the simulators exactly', async () => {
    const { status, body } = await get(`/delivery?by=smsc&${RANGE()}`, acmeKey);
    expect(status).toBe(200);
    const rows = body.rows as Array<Record<string, J>>;
    expect(rows.map((r) => r.smsc).sort()).toEqual(['sim-a', 'sim-b', 'sim-c']);
    for (const [i, sim] of h.sims.entries()) {
      const row = rows.find((r) => r.smsc === `sim-${'abc'[i]}`) as Record<string, J>;
      const o = sim.stats.outcomes;
      // beta's 5 Norwegian messages went to sim-a and are not acme's
      const betaShare = i === 0 ? 5 : 0;
      const mine = captured[i] as CapturedSubmit[];
      const count = (k: string) => mine.filter((c) => c.outcome === k).length;
      expect(count('delivered') + count('undelivered') + count('expired') + count('noReceipt')).toBe(o.delivered + o.undelivered + o.expired + o.noReceipt - betaShare);
      expect(row.submitted).toBe(mine.length);
      expect(row.delivered).toBe(count('delivered'));
      expect(row.undelivered).toBe(count('undelivered'));
      expect(row.expired).toBe(count('expired'));
      expect(row.unknown).toBe(count('noReceipt'));
      expect(row.rejected).toBe(0);
      expect(row.outcomes).toBe(mine.length);
      expect(row.deliveryRate).toBeCloseTo(count('delivered') / mine.length, 10);
      if (count('delivered') > 0) {
        // receipts come 20-80 ms after the submit: the latency is in that range (plus the engine's flush of a few ms)
        expect(row.latencyMs.count).toBe(count('delivered'));
        expect(row.latencyMs.p50).toBeGreaterThanOrEqual(15);
        expect(row.latencyMs.p50).toBeLessThanOrEqual(200);
        expect(row.latencyMs.max).toBeLessThanOrEqual(1000);
      } else expect(row.latencyMs.p50).toBeNull();
    }
    // by country and by operator, with a time bucket: the same totals
    const byCountry = (await get(`/delivery?by=country,operator&bucket=hour&${RANGE()}`, acmeKey)).body.rows as Array<Record<string, J>>;
    const no = byCountry.filter((r) => r.country === 'NO');
    expect(no.reduce((n, r) => n + r.delivered, 0)).toBe((captured[0] as CapturedSubmit[]).filter((c) => c.outcome === 'delivered').length);
    expect(no.every((r) => typeof r.bucket === 'string' && r.operator !== '')).toBe(true);
  });

  it('failure reasons are ranked with the operators\' error codes, exactly as the simulators sent them', async () => {
    const expected = new Map<string, number>();
    h.sims.forEach((sim, i) => {
      let k = 0;
      for (const c of sim.captured) {
        const mine = (captured[i] as CapturedSubmit[]).includes(c);
        let key: string | undefined;
        if (c.outcome === 'undelivered') key = `sim-${'abc'[i]}|undelivered|${errOf(sim, k++)}`;
        else if (c.outcome === 'expired') key = `sim-${'abc'[i]}|expired|000`;
        // no receipt: the engine's sweep ends it unknown with its own code
        else if (c.outcome === 'noReceipt') key = `sim-${'abc'[i]}|unknown|NO_RECEIPT`;
        if (key !== undefined && mine) expected.set(key, (expected.get(key) ?? 0) + 1);
      }
    });
    const { body } = await get(`/failures?by=smsc&${RANGE()}`, acmeKey);
    const rows = body.rows as Array<{ smsc: string; status: string; errorCode: string; errorText: string; count: number; share: number }>;
    expect(new Map(rows.map((r) => [`${r.smsc}|${r.status}|${r.errorCode}`, r.count]))).toEqual(expected);
    // ranked, with the operator's text
    expect(rows.map((r) => r.count)).toEqual([...rows.map((r) => r.count)].sort((a, b) => b - a));
    expect(rows.find((r) => r.status === 'undelivered')?.errorText).toBe('UNDELIV');
    expect(rows.reduce((s, r) => s + r.share, 0)).toBeCloseTo(1, 6);
  });

  it('status breakdown counts every status change (any status string)', async () => {
    const { body } = await get(`/statuses?${RANGE()}`, acmeKey);
    const by = new Map((body.rows as Array<{ status: string; count: number }>).map((r) => [r.status, r.count]));
    const all = captured.flat();
    expect(by.get('sent')).toBe(all.length);
    expect(by.get('delivered')).toBe(all.filter((c) => c.outcome === 'delivered').length);
    expect(by.get('unknown')).toBe(all.filter((c) => c.outcome === 'noReceipt').length);
  });

  it('flags numbers with repeated permanent failures, with evidence, per tenant, and refuses them for the tenant that asks', async () => {
    // Expected: per number, permanent failures (001, 011) since its last delivery, in round order.
    const perm = new Set(['001', '011']);
    const runs = new Map<string, number>();
    h.sims.forEach((sim, i) => {
      let k = 0;
      for (const c of sim.captured) {
        const err = c.outcome === 'undelivered' ? errOf(sim, k++) : '';
        if (!(captured[i] as CapturedSubmit[]).includes(c)) continue;
        const to = c.destinationAddr.replace(/^\+/, '');
        if (c.outcome === 'delivered') runs.set(to, 0);
        else if (perm.has(err)) runs.set(to, (runs.get(to) ?? 0) + 1);
      }
    });
    const expected = [...runs].filter(([, n]) => n >= 3).map(([to]) => '+' + to).sort();
    expect(expected.length).toBeGreaterThan(0);
    const { body } = await get('/bad-numbers', acmeKey);
    const rows = body.rows as Array<{ tenant: string; to: string; failures: number; evidence: Array<{ messageId: string; errorCode: string; smsc: string }> }>;
    expect(rows.map((r) => r.to).sort()).toEqual(expected);
    for (const r of rows) {
      expect(r.tenant).toBe('acme');
      expect(r.failures).toBe(runs.get(r.to.slice(1)));
      expect(r.evidence.length).toBe(Math.min(10, r.failures));
      for (const e of r.evidence) {
        expect(perm.has(e.errorCode)).toBe(true);
        expect(accepted.get(e.messageId)).toBe(r.to.slice(1));
      }
    }
    // beta has no failures of its own: its list is empty
    expect((await get('/bad-numbers', BETA)).body.rows).toEqual([]);
    // the ingress refuses flagged numbers for acme (refuseFlaggedNumbers) but not for beta
    const flagged = expected[0] as string;
    await waitFor(() => h.engine.flagged.size === expected.length, 5000, 'flagged set at the ingress');
    acme.send({ op: 'submit', ref: 'flagged-1', to: flagged, from: 'Acme', text: 'hello again' });
    const nack = await acme.next((f) => f.ref === 'flagged-1');
    expect(nack).toMatchObject({ op: 'nack', code: 'NUMBER_FLAGGED' });
    beta.send({ op: 'submit', ref: 'flagged-2', to: flagged, from: 'Beta', text: 'hello' });
    expect(await beta.next((f) => f.ref === 'flagged-2')).toMatchObject({ op: 'ack' });
    await waitFor(() => (h.engine.analytics?.inserted ?? 0) >= 2 * accepted.size + 11, 10_000, 'beta\'s sent event in ClickHouse');
  });

  it('gives a message\'s whole history with SMSC and the operator\'s raw reply, and a number\'s history across messages', async () => {
    const frOf = [...accepted].filter(([, to]) => to === FR[0]).map(([id]) => id);
    expect(frOf.length).toBe(ROUNDS);
    const { status, body } = await get(`/messages/${frOf[0]}`, acmeKey);
    expect(status).toBe(200);
    const ev = body.events as Array<Record<string, J>>;
    expect(ev.map((e) => e.status)).toEqual(['sent', 'undelivered']);
    expect(ev[0]).toMatchObject({ smsc: 'sim-c', to: `+${FR[0]}`, country: 'FR', mcc: '208', latencyMs: null });
    expect(ev[1]).toMatchObject({ smsc: 'sim-c', errorText: 'UNDELIV', smppStat: 'UNDELIV' });
    expect(ev[1]?.rawReply).toMatch(/stat:UNDELIV err:(001|034)/);
    expect(ev[1]?.latencyMs).toBeGreaterThanOrEqual(0);
    expect(ev[1]?.at).toBeGreaterThanOrEqual(ev[0]?.at);
    // another tenant sees nothing of it; the admin does
    expect((await get(`/messages/${frOf[0]}`, BETA)).status).toBe(404);
    expect((await get(`/messages/${frOf[0]}`, ADMIN)).status).toBe(200);
    const num = await get(`/numbers/%2B${FR[0]}?${RANGE()}`, acmeKey);
    expect(num.status).toBe(200);
    expect(num.body.messages).toBe(ROUNDS);
    expect(num.body.statuses).toEqual({ undelivered: ROUNDS });
    expect(new Set((num.body.events as Array<{ messageId: string }>).map((e) => e.messageId))).toEqual(new Set(frOf));
  });

  it('keeps tenants apart: acme\'s totals leave out beta, the admin sees both, a tenant cannot ask for another', async () => {
    const total = async (key: string, q = '') => ((await get(`/delivery?${RANGE()}${q}`, key)).body.rows as Array<{ submitted: number }>)[0]?.submitted ?? 0;
    const all = captured.flat().length;
    expect(await total(acmeKey)).toBe(all);
    expect(await total(BETA)).toBe(5 + 1); // 5 + the one sent to a flagged number
    expect(await total(ADMIN)).toBe(all + 6);
    expect(await total(ADMIN, '&tenant=beta')).toBe(6);
    const refused = await get(`/delivery?tenant=beta`, acmeKey);
    expect(refused.status).toBe(400);
    expect(refused.body.code).toBe('BAD_REQUEST');
    expect((await get('/delivery', 'wrong-key')).status).toBe(401);
    expect((await get('/delivery?by=price', acmeKey)).body.message).toContain('"price" is not one of');
    expect((await get('/delivery?from=yesterday', acmeKey)).body.message).toContain('from must be');
  });

  it('streams CSV reports of events and messages with filters', async () => {
    const all = captured.flat();
    const events = await get(`/reports/events.csv?${RANGE()}`, acmeKey);
    expect(events.status).toBe(200);
    const lines = events.text.trimEnd().split('\r\n');
    expect(lines[0]).toBe('time,event_id,message_id,tenant,client_ref,status,error_code,error_text,smpp_stat,raw_reply,smsc,to,country,mcc,mnc,operator,parts,price,currency,latency_ms,accepted_at');
    // sent + final for every acme message, and not one of beta's
    expect(lines.length - 1).toBe(2 * accepted.size);
    expect(lines.slice(1).every((l) => l.split(',')[3] === 'acme')).toBe(true);
    // time order, each event once
    const ids = lines.slice(1).map((l) => l.split(',')[1] as string);
    expect(new Set(ids).size).toBe(ids.length);
    const delivered = await get(`/reports/events.csv?status=delivered&smsc=sim-a&${RANGE()}`, acmeKey);
    expect(delivered.text.trimEnd().split('\r\n').length - 1).toBe((captured[0] as CapturedSubmit[]).filter((c) => c.outcome === 'delivered').length);
    const msgs = await get(`/reports/messages.csv?${RANGE()}`, acmeKey);
    const mlines = msgs.text.trimEnd().split('\r\n');
    expect(mlines.length - 1).toBe(accepted.size);
    const statusCol = (mlines[0] as string).split(',').indexOf('status');
    const byStatus = new Map<string, number>();
    for (const l of mlines.slice(1)) byStatus.set(l.split(',')[statusCol] as string, (byStatus.get(l.split(',')[statusCol] as string) ?? 0) + 1);
    expect(byStatus.get('delivered')).toBe(all.filter((c) => c.outcome === 'delivered').length);
    expect(byStatus.get('unknown')).toBe(all.filter((c) => c.outcome === 'noReceipt').length);
    const fr = await get(`/reports/messages.csv?country=FR&status=undelivered&${RANGE()}`, acmeKey);
    expect(fr.text.trimEnd().split('\r\n').length - 1).toBe(FR.length * ROUNDS);
  });

  it('answers the same from the CLI (switchyard analytics ...)', async () => {
    const run = (...args: string[]) => promisify(execFile)(process.execPath, ['dist/engine/cli.js', 'analytics', ...args, '--url', `http://127.0.0.1:${h.engine.port}`], { env: { ...process.env, SWITCHYARD_API_KEY: acmeKey } });
    const delivered = (captured[2] as CapturedSubmit[]).length;
    const { stdout } = await run('delivery', '--by', 'smsc', '--from', String(Date.now() - 3_600_000), '--to', String(Date.now() + 3_600_000));
    const simC = stdout.split('\n').find((l) => l.startsWith('sim-c')) as string;
    expect(simC.split(/\s+/).slice(0, 4)).toEqual(['sim-c', String(delivered), String(delivered), '0']);
    expect((await run('bad-numbers')).stdout).toContain(`+${FR[0]}`);
    const out = join(dir, 'events.csv');
    await run('report', 'events', '--out', out, '--from', String(Date.now() - 3_600_000), '--to', String(Date.now() + 3_600_000));
    expect(readFileSync(out, 'utf8').trimEnd().split('\r\n').length - 1).toBe(2 * accepted.size);
    await expect(run('delivery', '--by', 'nope')).rejects.toThrow(/BAD_REQUEST/);
  });
});
