/**
 * Micro-benchmark of normalizeNumber, the E.164 validation on the ingress hot
 * path: `npm run bench:number` (runs dist/bench/number.bench.js).
 *
 *   miss  a number the engine has not seen: libphonenumber-js (full metadata)
 *         parses and validates it, and the result enters the bounded cache
 *   hit   a repeat recipient: one Map look-up
 *
 * The miss case walks a pool of distinct valid mobile numbers of six countries
 * larger than the cache, so every call is a real parse (the cache is emptied
 * whenever the pool wraps). Each task iteration runs BATCH calls; figures are
 * per call. Prints a table, then as the LAST line one JSON object.
 */
import { Bench, hrtimeNow } from 'tinybench';
import { batchedRows } from './batched-rows.js';
import { clearNumberCache, normalizeNumber } from '../engine/ingress/normalize-number.js';

const BATCH = 100;
const POOL = 50_000;

// Mobile ranges of six countries; numbers that libphonenumber-js finds invalid
// (unallocated sub-ranges) are skipped, so the pool holds POOL valid numbers.
const shapes: ReadonlyArray<(k: number) => string> = [
  (k) => '+479' + String(1000000 + (k % 9000000)).slice(-7), // NO
  (k) => '+4915112' + String(100000 + (k % 900000)), // DE
  (k) => '+336' + String(10000000 + (k % 90000000)).slice(-8), // FR
  (k) => '+44797' + String(1000000 + (k % 9000000)).slice(-7), // GB
  (k) => '+4670' + String(1000000 + (k % 9000000)).slice(-7), // SE
  (k) => '+3933' + String(10000000 + (k % 90000000)).slice(-8), // IT
];
// Numbers come off the wire through JSON.parse: flat strings, as in the ingress.
const pool: string[] = [];
for (let i = 0; pool.length < POOL; i++) {
  const n = JSON.parse(JSON.stringify((shapes[i % shapes.length] as (k: number) => string)(i * 7919))) as string;
  if (normalizeNumber(n).ok) pool.push(n);
}
clearNumberCache();

let sink = 0;
let next = 0;
const bench = new Bench({ name: 'number', time: 1500, warmupTime: 300, now: hrtimeNow });
bench.add('miss: parse + validate (libphonenumber-js/max)', () => {
  for (let i = 0; i < BATCH; i++) {
    if (next === POOL) {
      next = 0;
      clearNumberCache();
    }
    if (normalizeNumber(pool[next++] as string).ok) sink++;
  }
});
const hot = pool.slice(0, 1000);
bench.add('hit: cached repeat recipient', () => {
  for (let i = 0; i < BATCH; i++) if (normalizeNumber(hot[(sink + i) % 1000] as string).ok) sink++;
}, { beforeAll: () => hot.forEach((n) => normalizeNumber(n)) });

await bench.run();

const rows = batchedRows(bench, BATCH);
console.table(rows);
if (sink === 0) throw new Error('nothing validated: the benchmark measured nothing');
const opsOf = (i: number): number => rows[i]?.['ops/s'] ?? 0;
const nsOf = (i: number): number => rows[i]?.['mean ns'] ?? 0;
console.log(JSON.stringify({ bench: 'number', node: process.version, batch: BATCH, pool: POOL, missOpsPerSec: opsOf(0), missMeanNs: nsOf(0), hitOpsPerSec: opsOf(1), hitMeanNs: nsOf(1) }));
