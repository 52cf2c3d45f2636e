/**
 * E.164 normalisation and validation of destination numbers with
 * libphonenumber-js (full metadata). Parsing costs ~20 µs per number on this
 * machine (bench/RESULTS.md), so results are kept in a bounded cache: bulk
 * traffic repeats recipients, and a hit costs one Map look-up.
 */
import { parsePhoneNumberWithError } from 'libphonenumber-js/max';

export type NumberResult = { ok: true; e164: string; country: string | undefined } | { ok: false; error: string };

const CACHE_MAX = 200_000;
const cache = new Map<string, NumberResult>();

function parse(input: string): NumberResult {
  const raw = input.trim();
  if (!/^\+?[0-9 ()./-]{3,24}$/.test(raw))
    return { ok: false, error: `"${input.slice(0, 40)}" is not a phone number (digits with an optional leading "+")` };
  const withPlus = raw.startsWith('+') ? raw : '+' + raw.replace(/^00/, '');
  try {
    const p = parsePhoneNumberWithError(withPlus);
    if (!p.isValid()) return { ok: false, error: `${p.number} is not a valid number${p.country ? ' for ' + p.country : ''}` };
    return { ok: true, e164: p.number.slice(1), country: p.country };
  } catch (err) {
    return { ok: false, error: `"${input.slice(0, 40)}" cannot be read as an international number: ${(err as Error).message}` };
  }
}

/** Returns E.164 digits (no '+') or a refusal text for INVALID_NUMBER. */
export function normalizeNumber(input: string): NumberResult {
  let r = cache.get(input);
  if (r === undefined) {
    r = parse(input);
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string);
    cache.set(input, r);
  }
  return r;
}

/** Empties the cache (the warm-up leaves it as it found it). */
export function clearNumberCache(): void {
  cache.clear();
}
