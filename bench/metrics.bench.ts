/**
 * Scrape cost: `npm run bench:metrics`. Builds what /metrics merges on a big
 * node — 50 SMSC actors (4 binds each, every submit result and receipt status,
 * two histograms each) and a main registry with 50 tenants × 8 refusal codes —
 * and measures one exposition: merging the per-thread JSON snapshots
 * (prom-client's AggregatorRegistry.aggregate) and rendering the text. Also the
 * actor-side cost of a snapshot. The last line is one JSON object.
 */
import { Registry } from 'prom-client';
import { Bench } from 'tinybench';
import type { ActorStats } from '../engine/actors/messages.js';
import { ActorMetrics } from '../engine/metrics/actor-metrics.js';
import { buildMetrics, keysOf, merge, type MetricsJson } from '../engine/metrics/registry.js';

const SMSCS = 50;
const TENANTS = 50;
const CODES = ['INVALID_NUMBER', 'THROTTLED', 'NO_ROUTE', 'INVALID_FIELD', 'INVALID_TEXT', 'MESSAGE_TOO_LONG', 'UNAVAILABLE', 'BAD_FRAME'];

const actors: ActorMetrics[] = [];
const stats = (smsc: string): ActorStats => ({
  smsc, threadId: 1, binds: [0, 1, 2, 3].map((index) => ({ index, up: true, since: Date.now(), inFlight: 10, tried: true })), submitted: 0, rejected: 0, expired: 0, throttled: 0,
  retried: 0, receipts: 0, receiptsEarly: 0, receiptsDelivered: 0, receiptsFailed: 0, receiptsUnmatched: 0, reconnects: 0, badPdus: 0, buffered: 0, tokenWaits: 0, submitP50Ms: 0, submitP99Ms: 0,
});
const parts: MetricsJson[] = [];
for (let i = 0; i < SMSCS; i++) {
  const a = new ActorMetrics(`smsc-${i}`);
  for (const r of ['ok', 'throttled', 'temporary', 'rejected', 'timeout'] as const) a.submit(r, 3);
  for (const st of ['D', 'U', 'E', 'K', 'u']) a.receipt(st, 4000);
  a.unmatched();
  a.expiredInQueue();
  a.tpsWait();
  a.reconnect();
  a.badPdu();
  actors.push(a);
  parts.push(await a.snapshot(stats(`smsc-${i}`), 100));
}
const main = new Registry();
const m = buildMetrics(keysOf('main'), main);
for (let t = 0; t < TENANTS; t++) {
  m.accepted.inc({ tenant: `tenant-${t}` });
  for (const code of CODES) m.refused.inc({ tenant: `tenant-${t}`, code });
}
for (let i = 0; i < SMSCS; i++) for (let p = 0; p < 2; p++) m.queueDepth.set({ smsc: `smsc-${i}`, partition: String(p) }, 5);
m.ackLatency.observe(0.003);
const mainJson = await main.getMetricsAsJSON();

let series = 0;
let bytes = 0;
const bench = new Bench({ time: 3000, warmupTime: 500 });
bench
  .add('scrape: merge + text', async () => {
    const text = await merge([mainJson, ...parts]).metrics();
    bytes = text.length;
    series = text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
  })
  .add('actor snapshot', async () => {
    await (actors[0] as ActorMetrics).snapshot(stats('smsc-0'), 100);
  });
await bench.run();
const r = (name: string) => bench.tasks.find((t) => t.name === name)?.result as { latency: { p50?: number; p99?: number; mean: number } };
const figures = {
  bench: 'metrics',
  node: process.version,
  smscs: SMSCS,
  tenants: TENANTS,
  series,
  bytes,
  scrapeP50Ms: +(r('scrape: merge + text').latency.p50 ?? 0).toFixed(2),
  scrapeP99Ms: +(r('scrape: merge + text').latency.p99 ?? 0).toFixed(2),
  actorSnapshotMeanMs: +r('actor snapshot').latency.mean.toFixed(3),
};
console.log(`${series} series, ${bytes} bytes; scrape p50 ${figures.scrapeP50Ms} ms p99 ${figures.scrapeP99Ms} ms; actor snapshot ${figures.actorSnapshotMeanMs} ms`);
console.log(JSON.stringify(figures));
