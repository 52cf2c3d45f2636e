/**
 * Router benchmark: `npm run bench:router`.
 *
 * Full routing decisions (MNP check, longest-prefix network lookup, the
 * tenant's plan, cheapest eligible of the candidates) per second on one core,
 * with a 100,000-prefix numbering plan and 50 SMSCs: 2,000 networks, each
 * route with 3-5 candidates, 5 % of the SMSCs down and one with a queue over
 * its limit, so that decisions also skip ineligible candidates. Also measured:
 * the same over the shipped numbering plan with real numbers, and `explain`.
 * The last line of output is one JSON object with the figures.
 */
import { Bench } from 'tinybench';
import { buildRouting } from '../engine/routing/load-routing.js';
import { parseConfig } from '../config/index.js';
import { NumberingPlan, PlanRouter, RouteHealth, type RouterConfig } from '../router/index.js';
import { networkLookupOf } from '../engine/routing/load-routing.js';
import { prng } from '../engine/prng.js';

const PREFIXES = 100_000;
const SMSCS = 50;
const NETWORKS = 2_000;
const rnd = prng(7);

// 100,000 distinct prefixes of 4-8 digits over 2,000 networks (200 countries × 10 networks).
const lines = ['prefix,country,mcc,mnc,operator'];
const prefixes: string[] = [];
const seen = new Set<string>();
while (prefixes.length < PREFIXES) {
  const len = 4 + Math.floor(rnd() * 5);
  let p = String(1 + Math.floor(rnd() * 9));
  while (p.length < len) p += String(Math.floor(rnd() * 10));
  if (seen.has(p)) continue;
  seen.add(p);
  prefixes.push(p);
  const net = Math.floor(rnd() * NETWORKS);
  const mcc = String(200 + Math.floor(net / 10));
  const c = Math.floor(net / 10);
  lines.push(`${p},${String.fromCharCode(65 + (c % 26), 65 + Math.floor(c / 26))},${mcc},${String(net % 10).padStart(2, '0')},Operator ${net}`);
}
const plan = NumberingPlan.fromCsv(lines.join('\n'), 'synthetic');
const smscIds = Array.from({ length: SMSCS }, (_, i) => `smsc-${i}`);
const routes = [];
for (let net = 0; net < NETWORKS; net++) {
  const n = 3 + Math.floor(rnd() * 3);
  const candidates = Array.from({ length: n }, () => ({ smsc: smscIds[Math.floor(rnd() * SMSCS)] as string, price: Math.round(rnd() * 1000) / 10_000 }));
  routes.push({ network: `${200 + Math.floor(net / 10)}-${String(net % 10).padStart(2, '0')}`, candidates });
}
routes.push({ network: '*', candidates: [{ smsc: 'smsc-0', price: 0.1 }] });
const config: RouterConfig = {
  plans: [{ id: 'std', currency: 'EUR', qualityFloor: 0.5, routes }],
  tenants: [{ id: 'acme', plan: 'std', blockedNetworks: [], blockedSmscs: [] }],
  smscs: smscIds.map((id) => ({ id, maxQueueLag: 100_000 })),
};
const health = new RouteHealth(smscIds);
for (let i = 0; i < SMSCS; i += 20) health.setUp(`smsc-${i}`, false, Date.now());
health.setQueueLag('smsc-7', 200_000);
for (let i = 0; i < SMSCS; i++) health.setDeliveryRate(`smsc-${i}`, 0.6 + rnd() * 0.4, 1000);
const router = new PlanRouter(config, networkLookupOf(plan), health, () => undefined);

// 10,000 numbers inside the plan's ranges (E.164 digits, 10-12 long).
const numbers: string[] = [];
for (let i = 0; i < 10_000; i++) {
  let n = prefixes[Math.floor(rnd() * prefixes.length)] as string;
  const len = 10 + Math.floor(rnd() * 3);
  while (n.length < len) n += String(Math.floor(rnd() * 10));
  numbers.push(n);
}

// The shipped plan with real-looking Norwegian, German and French mobile numbers.
const shipped = buildRouting(
  parseConfig({
    tenants: [{ id: 'acme', apiKey: { env: 'X' } }],
    smscs: [{ id: 'a', port: 1, systemId: 's', password: { env: 'Y' } }, { id: 'b', port: 2, systemId: 's', password: { env: 'Y' } }],
    routing: { plans: [{ id: 'std', routes: [{ network: '242', candidates: [{ smsc: 'a', price: 0.03 }, { smsc: 'b', price: 0.04 }] }, { network: '*', candidates: [{ smsc: 'b', price: 0.05 }] }] }] },
  }, 'bench'),
  process.cwd(),
  new RouteHealth(['a', 'b']),
  () => undefined,
);
const real: string[] = [];
for (let i = 0; i < 10_000; i++) {
  const k = i % 3;
  real.push(k === 0 ? `479${String(1000000 + i).slice(-7)}` : k === 1 ? `4915${String(100000000 + i * 7).slice(-9)}` : `336${String(10000000 + i * 13).slice(-8)}`);
}

let sink = 0;
let k = 0;
const bench = new Bench({ time: 2000, warmupTime: 500 });
bench
  .add('decision, 100k prefixes, 50 SMSCs', () => {
    for (let i = 0; i < 1000; i++) {
      const d = router.route({ e164: numbers[k++ % numbers.length] as string, tenant: 'acme' });
      if (d.ok) sink += d.price;
    }
  })
  .add('decision, shipped plan', () => {
    for (let i = 0; i < 1000; i++) {
      const d = shipped.router.route({ e164: real[k++ % real.length] as string, tenant: 'acme' });
      if (d.ok) sink += d.price;
    }
  })
  .add('explain, 100k prefixes', () => {
    const x = router.explain({ e164: numbers[k++ % numbers.length] as string, tenant: 'acme' });
    sink += x.candidates.length;
  });
await bench.run();

const byName = new Map(bench.tasks.map((t) => [t.name, t.result]));
const opsOf = (name: string, per: number) => {
  const r = byName.get(name) as { throughput?: { mean: number } } | undefined;
  return Math.round((r?.throughput?.mean ?? 0) * per);
};
const figures = {
  bench: 'router',
  node: process.version,
  prefixes: plan.size,
  smscs: SMSCS,
  decisionsPerSec: opsOf('decision, 100k prefixes, 50 SMSCs', 1000),
  shippedPlanPrefixes: shipped.plan.size,
  shippedPlanDecisionsPerSec: opsOf('decision, shipped plan', 1000),
  explainPerSec: opsOf('explain, 100k prefixes', 1),
  sink: sink > 0 ? 1 : 0,
};
for (const t of bench.tasks) console.log(`${t.name}: ${JSON.stringify((t.result as { throughput?: { mean: number } }).throughput?.mean ?? 0)} runs/s`);
console.log(JSON.stringify(figures));
