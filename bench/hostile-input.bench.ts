/**
 * Micro-benchmark of what hostile submits cost the ingress thread (issue 11):
 * `npm run bench:hostile` (runs dist/bench/hostile-input.bench.js).
 *
 *   bomb100    a template of 100 placeholders with a 230 KB variable, refused MESSAGE_TOO_LONG
 *              before rendering (it rendered 23 M characters and encoded them)
 *   bomb1600   the bomb: {{a}} × 1,600 with a 245 KB variable, refused INVALID_TEMPLATE
 *              (over the placeholder cap; a refused template is not cached, so every call parses it)
 *   frame      a whole batch frame's items: 500 recipients × the bomb100 `common`, through
 *              parseSubmit as the ingress runs them (the per-frame CPU figure)
 *   text200k   a 200 KB text refused MESSAGE_TOO_LONG by its length (encoding it cost 6 ms)
 *   longTo     a 100,000-character `to` refused INVALID_NUMBER unread (it was cached)
 *
 * Inputs come through JSON.parse, as ingress input does (flat strings).
 * Prints a table, then as the LAST line one JSON object with the figures.
 */
import { Bench, hrtimeNow } from 'tinybench';
import { batchedRows } from './batched-rows.js';
import { normalizeNumber } from '../engine/ingress/normalize-number.js';
import { maxTextChars, parseSubmit } from '../engine/ingress/parse-submit.js';
import { renderTemplate } from '../engine/ingress/render-template.js';

const viaJson = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
const LIMITS = { minValiditySec: 60, maxValiditySec: 86_400, maxScheduleSec: 86_400, maxTextChars: maxTextChars(10) };
const bomb100 = viaJson({ template: '{{a}}'.repeat(100), vars: { a: 'y'.repeat(230_000) } });
const bomb1600 = viaJson({ template: '{{a}}'.repeat(1600), vars: { a: 'x'.repeat(245_000) } });
const items = viaJson(Array.from({ length: 500 }, (_, i) => ({ ref: String(i), to: '+4791234567' })));
const common = viaJson({ op: 'submit', from: 'Acme', ...bomb100 });
const text200k = viaJson({ op: 'submit', ref: 't', to: '+4791234567', from: 'Acme', text: 'z'.repeat(200_000) });
const longTo = viaJson('+47' + '1'.repeat(100_000));

let refused = 0;
const count = (r: unknown) => {
  if (typeof r === 'object' && r !== null && 'code' in r) refused++;
};
const bench = new Bench({ name: 'hostile-input', time: 1000, warmupTime: 200, now: hrtimeNow });
bench.add('bomb100: 100 placeholders × 230 KB, refused before rendering', () => count(renderTemplate(bomb100.template, bomb100.vars, LIMITS.maxTextChars)));
bench.add('bomb1600: {{a}} × 1,600, refused at compile', () => count(renderTemplate(bomb1600.template, bomb1600.vars, LIMITS.maxTextChars)));
bench.add('frame: 500 recipients × bomb100 in common, parseSubmit each', () => {
  for (const it of items) count(parseSubmit({ ...common, ...it }, LIMITS));
});
bench.add('text200k: 200 KB text refused by its length', () => count(parseSubmit(text200k, LIMITS)));
bench.add('longTo: 100,000-character "to" refused unread', () => {
  if (!normalizeNumber(longTo).ok) refused++;
});

await bench.run();
const rows = batchedRows(bench, 1);
console.table(rows);
if (refused === 0) throw new Error('nothing was refused: the benchmark measured nothing');
const us = (i: number) => Math.round((rows[i]?.['mean ns'] ?? 0) / 100) / 10;
console.log(JSON.stringify({ bench: 'hostile-input', node: process.version, bomb100MeanUs: us(0), bomb1600MeanUs: us(1), frame500MeanUs: us(2), text200kMeanUs: us(3), longToMeanUs: us(4) }));
