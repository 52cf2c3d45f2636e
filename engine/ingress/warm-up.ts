/**
 * Warms the accept path before the engine takes traffic. A cold engine runs
 * its first thousands of submits in V8's interpreter and parses each
 * country's number metadata the first time it sees it; without this, the
 * first second after a start or deploy had ack p99 of 200-500 ms
 * (bench/RESULTS.md). This runs the real path (parse, number validation,
 * encoding, routing) on libphonenumber's example mobile number of every
 * country, enqueues nothing, and leaves the number cache as it found it.
 */
import { getCountries, getExampleNumber } from 'libphonenumber-js/max';
import examples from 'libphonenumber-js/mobile/examples';
import { acceptMessage, type AcceptContext } from './accept-message.js';
import { clearNumberCache } from './normalize-number.js';
import { isRefusal, parseSubmit } from './parse-submit.js';

const TEXTS = [
  'Your code is 482913. It expires in 10 minutes.',
  'Ваш код: 482913 🙂',
  'A longer notice that needs two segments, so that the concatenation path with its user data header runs as well during the warm-up: {ok} [1] ~ € @ £. '.repeat(2),
];

/** Runs `rounds` passes over every country's example number; returns how long it took (ms). */
export function warmUpAcceptPath(ctx: AcceptContext, maxValiditySec: number, rounds = 12): number {
  const t0 = performance.now();
  const numbers = getCountries().flatMap((c) => {
    const n = getExampleNumber(c, examples);
    return n === undefined ? [] : [n.number as string];
  });
  for (let r = 0; r < rounds; r++) {
    clearNumberCache();
    for (let i = 0; i < numbers.length; i++) {
      const f = parseSubmit({ op: 'submit', ref: 'warm-up', to: numbers[i], from: 'Switchyard', text: TEXTS[i % TEXTS.length] }, { minValiditySec: 1, maxValiditySec, maxScheduleSec: 1 });
      if (!isRefusal(f)) acceptMessage(ctx, '_warm-up', f, Date.now());
    }
  }
  clearNumberCache();
  return performance.now() - t0;
}
