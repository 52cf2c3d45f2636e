/**
 * Micro-benchmark of NumberingPlan.lookup, the number → network step of every
 * routing decision: `tsc -p tsconfig.build.json && node dist/bench/numbering-plan.bench.js`.
 *
 *   synthetic-100k  a generated plan of 100,000 prefixes (5 to 9 digits, 400
 *                   networks) and 10,000 fixed pseudo-random 11-12 digit
 *                   numbers, 80 % inside a range and 20 % anywhere
 *   shipped         config/numbering-plan.csv and 10,000 numbers made the same
 *                   way from its own prefixes
 *
 * The router's budget is 2,000,000 decisions/s on one core, 500 ns each, so a
 * lookup should stay well under 150 ns. One lookup costs less than reading the
 * clock, so each task iteration runs BATCH lookups over the number list in
 * order and the figures are divided by BATCH (as in text.bench.ts). The numbers
 * go through JSON first, so they are flat strings as ingress hands them over.
 * Also reported: the time fromCsv takes to build each plan.
 *
 * Prints a table, then as the LAST line one JSON object with the figures.
 */
import { readFileSync } from 'node:fs';
import { Bench, hrtimeNow } from 'tinybench';
import { batchedRows } from './batched-rows.js';
import { NumberingPlan } from '../router/numbering-plan.js';

const BATCH = 1000;
const NUMBERS = 10_000;

/** Deterministic LCG (numerical recipes constants): same plan and numbers on every run. */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

function digits(rand: (n: number) => number, count: number): string {
  let out = '';
  for (let i = 0; i < count; i++) out += String(rand(10));
  return out;
}

/** 100,000 distinct prefixes under 40 country codes, as CSV. */
function syntheticCsv(): string {
  const rand = rng(1);
  const codes = Array.from({ length: 40 }, (_, i) => String(20 + i * 2)); // "20".."98", 2-digit country codes
  const rows = new Set<string>();
  const lines = ['prefix,country,mcc,mnc,operator'];
  while (rows.size < 100_000) {
    const prefix = (codes[rand(codes.length)] as string) + digits(rand, 3 + rand(5));
    if (rows.has(prefix)) continue;
    rows.add(prefix);
    const net = rand(400);
    lines.push(`${prefix},ZZ,${200 + (net % 100)},${String(net % 97).padStart(2, '0')},Operator ${net}`);
  }
  return lines.join('\n') + '\n';
}

/** 80 % of the numbers extend one of the plan's prefixes; 20 % are random. */
function numbersFor(plan: NumberingPlan, seed: number): string[] {
  const rand = rng(seed);
  const prefixes = [...plan.entries()].map(([p]) => p);
  const out: string[] = [];
  for (let i = 0; i < NUMBERS; i++) {
    const length = 11 + rand(2);
    const start = rand(5) < 4 ? (prefixes[rand(prefixes.length)] as string) : String(1 + rand(9));
    out.push(start.length >= length ? start : start + digits(rand, length - start.length));
  }
  return JSON.parse(JSON.stringify(out)) as string[];
}

function timed<T>(f: () => T): [T, number] {
  const t0 = performance.now();
  const v = f();
  return [v, performance.now() - t0];
}

const syntheticText = syntheticCsv();
const [synthetic, syntheticBuildMs] = timed(() => NumberingPlan.fromCsv(syntheticText, 'synthetic.csv'));
const shippedText = readFileSync(new URL('../../config/numbering-plan.csv', import.meta.url), 'utf8');
const [shipped, shippedBuildMs] = timed(() => NumberingPlan.fromCsv(shippedText, 'config/numbering-plan.csv'));

const cases = [
  { key: 'synthetic-100k', plan: synthetic, numbers: numbersFor(synthetic, 2) },
  { key: 'shipped', plan: shipped, numbers: numbersFor(shipped, 3) },
];

const hitRate = (plan: NumberingPlan, numbers: string[]): number => numbers.filter((n) => plan.lookup(n) !== undefined).length / numbers.length;

let sink = 0;
const bench = new Bench({ name: 'numbering-plan', time: 1000, warmupTime: 250, now: hrtimeNow });
for (const c of cases) {
  const { plan, numbers } = c;
  let i = 0;
  bench.add(`${c.key}: ${plan.size} prefixes, ${numbers.length} numbers, ${Math.round(hitRate(plan, numbers) * 100)} % hits`, () => {
    for (let k = 0; k < BATCH; k++) {
      const n = plan.lookup(numbers[i] as string);
      if (n !== undefined) sink += n.mcc.length;
      i = i + 1 === numbers.length ? 0 : i + 1;
    }
  });
}

await bench.run();

const rows = batchedRows(bench, BATCH, 1);
console.table(rows);
if (sink === 0) console.log('(sink is zero: nothing matched)');

const opsOf = (i: number): number => rows[i]?.['ops/s'] ?? 0;
const nsOf = (i: number): number => rows[i]?.['mean ns'] ?? 0;
console.log(
  JSON.stringify({
    bench: 'numbering-plan',
    node: process.version,
    batch: BATCH,
    syntheticPrefixes: synthetic.size,
    syntheticBuildMs: Math.round(syntheticBuildMs),
    syntheticLookupsPerSec: opsOf(0),
    syntheticMeanNs: nsOf(0),
    shippedPrefixes: shipped.size,
    shippedBuildMs: Math.round(shippedBuildMs),
    shippedLookupsPerSec: opsOf(1),
    shippedMeanNs: nsOf(1),
  }),
);
