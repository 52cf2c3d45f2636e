/**
 * Micro-benchmark of encodeMessage, the per-message text work on the ingress
 * hot path: `npm run bench:text` (runs dist/bench/text.bench.js).
 *
 *   gsm60   60-character GSM-7 text, one part (the fast path)
 *   gsm300  300-character GSM-7 text with one escape, two concatenated parts
 *   ucs2-60 60-unit UCS-2 text (Cyrillic and one emoji), one part
 *   translit 60-unit Cyrillic text with smart quotes transliterated to GSM-7, then encoded
 *            (what a tenant with `transliterate` pays for a text that would be UCS-2)
 *   template a 3-variable template rendered for one recipient (per recipient of a bulk frame)
 *
 * One call takes well under a microsecond, about what reading the clock
 * twice costs, so tinybench timing every call would mostly measure the clock.
 * Each task iteration therefore runs BATCH calls and the figures are divided
 * by BATCH: ops/s and mean are per call; p99 is the p99 of the per-call
 * average over a batch (it hides a single slow call, e.g. a GC pause, inside
 * its batch of 100). Results are consumed into a sink so the calls cannot be
 * optimised away.
 *
 * Prints a table, then as the LAST line one JSON object with the figures.
 */
import { Bench, hrtimeNow } from 'tinybench';
import { batchedRows } from './batched-rows.js';
import { renderTemplate } from '../engine/ingress/render-template.js';
import { encodeMessage, transliterateToGsm } from '../engine/text/index.js';

const BATCH = 100;

// Realistic texts. A typical multipart text has few escapes; this one has
// one (€), so 301 septets in two parts. Each goes through JSON, as ingress
// texts do, so that it is a flat string rather than a slice or a rope.
const viaJson = (s: string): string => JSON.parse(JSON.stringify(s)) as string;
const GSM60 = 'Your verification code is 482913. It expires in 10 minutes..';
const GSM300 = (
  'Dear customer, your parcel 4821-XK from Acme Store is out for delivery today between 14:00 and 18:00. ' +
  'The driver will call you 30 minutes before arrival. A fee of 2,50€ applies to a second attempt. ' +
  'To change the day or leave it with a neighbour, reply CHANGE, or visit acme.example/track?p=4821XK now.'
).slice(0, 300);
const UCS2_60 = 'Ваш код подтверждения 482913, действует 10 минут. Спасибо 🙂';

const cases: ReadonlyArray<{ key: string; text: string }> = [
  { key: 'gsm60', text: viaJson(GSM60) },
  { key: 'gsm300', text: viaJson(GSM300) },
  { key: 'ucs2-60', text: viaJson(UCS2_60) },
];

/** Task name from what the text actually encodes to, so the table cannot mislabel it. */
function describeCase(text: string): string {
  const m = encodeMessage(text, { concatRef: 0, maxParts: 10 });
  const sizes = m.parts.map((p) => p.shortMessage.length).join('+');
  return `${m.encoding} ${text.length} units, ${m.parts.length} part${m.parts.length > 1 ? 's' : ''} (${sizes} octets)`;
}

let sink = 0;
let ref = 0;
const bench = new Bench({ name: 'text', time: 1000, warmupTime: 250, now: hrtimeNow });
for (const c of cases) {
  const text = c.text;
  bench.add(`${c.key}: ${describeCase(text)}`, () => {
    for (let i = 0; i < BATCH; i++) {
      ref = (ref + 1) & 0xff;
      const m = encodeMessage(text, { concatRef: ref, maxParts: 10 });
      sink += m.parts.length;
    }
  });
}

const TRANSLIT = viaJson('Ваш код подтверждения: 482913 – «действует» 10 минут. Спасибо');
bench.add(`translit: ${TRANSLIT.length} units Cyrillic → GSM-7, encoded`, () => {
  for (let i = 0; i < BATCH; i++) {
    const m = encodeMessage(transliterateToGsm(TRANSLIT) ?? TRANSLIT, { concatRef: 1, maxParts: 10 });
    sink += m.parts.length;
  }
});
const TEMPLATE = 'Hi {{name}}, your code is {{code}}. {{footer|Reply STOP to opt out}}';
const VARS = Array.from({ length: BATCH }, (_, i) => ({ name: 'Customer ' + i, code: 100000 + i }));
bench.add('template: 3 placeholders rendered for one recipient', () => {
  for (let i = 0; i < BATCH; i++) {
    const t = renderTemplate(TEMPLATE, VARS[i]);
    sink += typeof t === 'string' ? t.length : 0;
  }
});

await bench.run();

const rows = batchedRows(bench, BATCH);
console.table(rows);
if (sink === 0) console.log('(sink is zero: nothing ran)');

const opsOf = (i: number): number => rows[i]?.['ops/s'] ?? 0;
const nsOf = (i: number): number => rows[i]?.['mean ns'] ?? 0;
console.log(
  JSON.stringify({
    bench: 'text',
    node: process.version,
    batch: BATCH,
    gsm60OpsPerSec: opsOf(0),
    gsm60MeanNs: nsOf(0),
    gsm300OpsPerSec: opsOf(1),
    gsm300MeanNs: nsOf(1),
    ucs2OpsPerSec: opsOf(2),
    ucs2MeanNs: nsOf(2),
    translitMeanNs: nsOf(3),
    templateMeanNs: nsOf(4),
  }),
);
