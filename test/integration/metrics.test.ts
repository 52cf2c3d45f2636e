/**
 * /metrics during real traffic (engine, simulators over SMPP, real Redis):
 * counters match what the simulators counted per SMSC, a bind going down
 * shows at once, the exposition passes `promtool check metrics`, names follow
 * the conventions, and actor counters survive a worker restart without going
 * backwards or counting twice.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { Harness } from '../../engine/loadgen/harness.js';
import { METRICS } from '../../engine/metrics/metric-names.js';
import type { SmscSimulator } from '../../engine/simulator/index.js';
import { waitFor } from '../helpers/wait-for.js';
import { harnessSession } from '../helpers/harness-session.js';
import type { Frame } from '../helpers/ws-client.js';

const session = harnessSession();
let h: Harness | undefined;

type Series = Map<string, number>;

/** Parses the text exposition into "name{sorted labels}" → value. */
function parse(text: string): Series {
  const out: Series = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`unparsable line: ${line}`);
    const labels = (m[3] ?? '').split(/,(?=[a-zA-Z_]+=")/).filter((x) => x !== '').sort().join(',');
    out.set(`${m[1]}{${labels}}`, Number(m[4]));
  }
  return out;
}

function sum(s: Series, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const [k, v] of s) {
    if (!k.startsWith(name + '{')) continue;
    if (Object.entries(labels).every(([l, val]) => k.includes(`${l}="${val}"`))) total += v;
  }
  return total;
}

async function scrape(): Promise<{ text: string; s: Series }> {
  const res = await fetch(`http://127.0.0.1:${h!.engine.port}/metrics`);
  expect(res.status).toBe(200);
  const text = await res.text();
  return { text, s: parse(text) };
}

const FINAL = new Set(['delivered', 'undelivered', 'rejected', 'expired', 'unknown']);

describe('/metrics', () => {
  it('counts what the simulators counted, per SMSC, and passes promtool; a bind going down shows at once', async () => {
    h = await session.start({
      smscs: 2,
      sim: { receiptDelayMs: { min: 0, max: 20 }, outcomes: { delivered: 80, undelivered: 10, expired: 5, rejected: 5 } },
    });
    const c = await session.client();
    const total = 600;
    const to = (i: number) => (i % 2 === 0 ? `+4791${String(100000 + i).padStart(6, '0')}` : `+49151${String(10000000 + i)}`);
    for (let b = 0; b < total; b += 100) c.send({ op: 'batch', ref: 'b' + b, items: Array.from({ length: 100 }, (_, i) => ({ ref: `r${b + i}`, to: to(b + i), from: 'Acme', text: `metrics ${b + i}` })) });
    // one refused submit, for the refused counter
    c.send({ op: 'batch', ref: 'bad', items: [{ ref: 'x', to: '+1', from: 'Acme', text: 'no' }] });
    const finals = () => new Set(c.frames.filter((f: Frame) => f.op === 'status' && FINAL.has(f.status as string)).map((f) => f.id)).size;
    await waitFor(() => finals() === total, 20_000, 'final statuses');
    const sims = h.sims as SmscSimulator[];
    // The actors' counters reach the main thread with their stats (twice a second).
    await waitFor(async () => {
      const { s } = await scrape();
      return sims.every((sim, i) => sum(s, 'switchyard_receipts_total', { smsc: `sim-${'ab'[i]}` }) === sim.stats.receiptsAcked);
    }, 5000, 'receipt counters caught up');
    const { text, s } = await scrape();
    sims.forEach((sim, i) => {
      const smsc = `sim-${'ab'[i]}`;
      expect(sum(s, 'switchyard_smpp_submits_total', { smsc, result: 'ok' })).toBe(sim.stats.submitsAccepted);
      expect(sum(s, 'switchyard_smpp_submits_total', { smsc, result: 'rejected' })).toBe(sim.stats.submitsRejected);
      expect(sum(s, 'switchyard_receipts_total', { smsc })).toBe(sim.stats.receiptsAcked);
      expect(sum(s, 'switchyard_receipts_total', { smsc, status: 'delivered' })).toBe(sim.stats.outcomes.delivered);
      expect(sum(s, 'switchyard_submit_latency_seconds_count', { smsc })).toBe(sim.stats.submitsAccepted + sim.stats.submitsRejected);
      expect(sum(s, 'switchyard_delivery_latency_seconds_count', { smsc })).toBe(sim.stats.receiptsAcked);
      expect(sum(s, 'switchyard_bind_up', { smsc })).toBe(2);
    });
    expect(sum(s, 'switchyard_messages_accepted_total', { tenant: 'acme' })).toBe(total);
    expect(sum(s, 'switchyard_messages_refused_total', { tenant: 'acme', code: 'INVALID_NUMBER' })).toBe(1);
    expect(sum(s, 'switchyard_ws_connections')).toBe(1);
    expect(sum(s, 'switchyard_ack_latency_seconds_count')).toBeGreaterThan(0);
    expect(s.has('switchyard_queue_depth{smsc="sim-a"}')).toBe(true); // summed over the shards: no shard label
    expect(sum(s, 'nodejs_eventloop_lag_seconds', { thread: 'main' })).toBeGreaterThan(0);
    expect([...s.keys()].some((k) => k.startsWith('nodejs_heap_size_used_bytes{') && k.includes('thread="actor-'))).toBe(true);

    // Names: every switchyard_ series is one of ours, and none is labelled by number or message id.
    const ours = new Set(Object.values(METRICS).flatMap((m) => (m.type === 'histogram' ? [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name])));
    for (const k of s.keys()) {
      const name = k.slice(0, k.indexOf('{'));
      if (name.startsWith('switchyard_')) expect(ours.has(name), name).toBe(true);
      expect(k).not.toMatch(/\b(to|id|number|msisdn)="/);
    }
    // promtool parses the exposition and checks its conventions.
    const p = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(p.error, 'promtool not found: run scripts/ensure-promtool.sh').toBeUndefined();
    expect(`${p.stdout}${p.stderr}`.trim()).toBe('');
    expect(p.status).toBe(0);

    // sim-a goes away: its binds are down in the next scrape.
    await sims[0]!.stop();
    await waitFor(async () => sum((await scrape()).s, 'switchyard_bind_up', { smsc: 'sim-a' }) === 0, 1000, 'bind down within a second');
    expect(sum((await scrape()).s, 'switchyard_bind_up', { smsc: 'sim-b' })).toBe(2);
  });

  it('actor counters survive a worker restart: never backwards, never counted twice', async () => {
    h = await session.start({ smscs: 2, sim: { receiptDelayMs: { min: 0, max: 10 } } });
    const c = await session.client();
    const send = (ref: string, n: number) => c.send({ op: 'batch', ref, items: Array.from({ length: n }, (_, i) => ({ ref: `${ref}-${i}`, to: `+4791${String(200000 + i).padStart(6, '0')}`, from: 'Acme', text: `restart ${ref} ${i}` })) });
    const sim = h.sims[0] as SmscSimulator;
    send('one', 200);
    await waitFor(async () => sum((await scrape()).s, 'switchyard_receipts_total', { smsc: 'sim-a' }) === 200, 10_000, 'first 200 counted');
    const before = sum((await scrape()).s, 'switchyard_smpp_submits_total', { smsc: 'sim-a' });
    expect(before).toBe(sim.stats.submitsAccepted);
    expect(await h.engine.supervisor.killWorkerOf('sim-a')).toBe(true);
    await waitFor(() => h!.engine.actorStats().some((a) => a.smsc === 'sim-a' && a.binds.every((b) => b.up) && a.submitted === 0), 10_000, 'sim-a actor restarted');
    expect(sum((await scrape()).s, 'switchyard_smpp_submits_total', { smsc: 'sim-a' })).toBe(before);
    expect(sum((await scrape()).s, 'switchyard_actor_restarts_total', { smsc: 'sim-a' })).toBe(1);
    send('two', 100);
    await waitFor(async () => sum((await scrape()).s, 'switchyard_receipts_total', { smsc: 'sim-a' }) === sim.stats.receiptsAcked && sim.stats.receiptsAcked >= 300, 10_000, 'next 100 counted');
    expect(sum((await scrape()).s, 'switchyard_smpp_submits_total', { smsc: 'sim-a' })).toBe(sim.stats.submitsAccepted);
  });
});
