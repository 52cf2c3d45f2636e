/**
 * E.164 normalisation and validation of destination numbers with
 * libphonenumber-js (full metadata).
 *
 * What is accepted (README "WebSocket protocol"), checked by a linear scan
 * before libphonenumber sees anything:
 *
 *   [+ | 00] digits, with single separators between digits    at most 32 characters, 15 digits
 *            separators: " " "-" "." and brackets around digits ("+1 (415) 555-0100")
 *
 * A number without "+" or "00" is read as international (country code first).
 * Nothing else may appear: no leading or trailing spaces, no control
 * characters (a trailing "\n" was accepted), no leading "-" ("-4791234567"
 * was read as +4791234567), no doubled separators, no letters. These are
 * refused with INVALID_NUMBER; libphonenumber then decides whether the digits
 * are a valid number of their country.
 *
 * Parsing costs ~20 µs per number on this machine (bench/RESULTS.md), so valid
 * results are cached: bulk traffic repeats recipients, and a hit costs one Map
 * look-up. The cache is keyed by client input, so it only holds valid numbers
 * (at most 32 characters each; refusals are never cached) and is bounded in
 * bytes as well as entries (bounded-cache.ts).
 */
import { parsePhoneNumberWithError } from 'libphonenumber-js/max';
import { BoundedCache, ENTRY_OVERHEAD_BYTES, stringBytes } from './bounded-cache.js';

export type NumberResult = { ok: true; e164: string; country: string | undefined } | { ok: false; error: string };
type Valid = Extract<NumberResult, { ok: true }>;

/** Longest input read at all: 15 digits, a "+" or "00", and separators between digit groups. */
export const MAX_NUMBER_CHARS = 32;
/** E.164: at most 15 digits, country code included. */
const MAX_DIGITS = 15;
const CACHE_MAX_ENTRIES = 200_000;
const CACHE_MAX_BYTES = 32 * 2 ** 20;

const cache = new BoundedCache<Valid>(CACHE_MAX_ENTRIES, CACHE_MAX_BYTES, (key, v) => ENTRY_OVERHEAD_BYTES + stringBytes(key) + stringBytes(v.e164) + 32);

const SHAPE_HELP = 'digits with an optional leading "+"; single spaces, dashes, dots or brackets between digits; nothing before or after';

/**
 * The digits of a number written as the header describes (without the "+"),
 * or undefined when anything else is in it. One pass, no regex backtracking.
 */
function digitsOf(s: string): string | undefined {
  let i = s.charCodeAt(0) === 43 /* + */ ? 1 : 0;
  const plus = i === 1;
  let digits = '';
  // What came last: 0 start, 1 digit, 2 separator, 3 "(", 4 ")".
  let prev = 0;
  let open = false;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      digits += s[i];
      prev = 1;
    } else if (c === 32 || c === 45 || c === 46) {
      // " " "-" ".": only right after a digit or a closing bracket
      if (prev !== 1 && prev !== 4) return undefined;
      prev = 2;
    } else if (c === 40) {
      if (open || prev === 3 || prev === 4) return undefined;
      open = true;
      prev = 3;
    } else if (c === 41) {
      if (!open || prev !== 1) return undefined;
      open = false;
      prev = 4;
    } else return undefined;
  }
  if (open || (prev !== 1 && prev !== 4)) return undefined;
  return !plus && digits.startsWith('00') ? digits.slice(2) : digits;
}

function parse(input: string): NumberResult {
  if (input.length > MAX_NUMBER_CHARS)
    return { ok: false, error: `"to" has ${input.length} characters: not a phone number (at most ${MAX_NUMBER_CHARS} characters, ${MAX_DIGITS} digits)` };
  const digits = digitsOf(input);
  if (digits === undefined || digits === '') return { ok: false, error: `${JSON.stringify(input)} is not a phone number (${SHAPE_HELP})` };
  if (digits.length > MAX_DIGITS) return { ok: false, error: `${JSON.stringify(input)} has ${digits.length} digits: an international number has at most ${MAX_DIGITS}` };
  try {
    const p = parsePhoneNumberWithError('+' + digits);
    if (!p.isValid()) return { ok: false, error: `${p.number} is not a valid number${p.country ? ' for ' + p.country : ''}` };
    return { ok: true, e164: p.number.slice(1), country: p.country };
  } catch (err) {
    return { ok: false, error: `${JSON.stringify(input)} cannot be read as an international number: ${(err as Error).message}` };
  }
}

/** Returns E.164 digits (no '+') or a refusal text for INVALID_NUMBER. */
export function normalizeNumber(input: string): NumberResult {
  const hit = cache.get(input);
  if (hit !== undefined) return hit;
  const r = parse(input);
  if (r.ok) cache.set(input, r);
  return r;
}

/** Empties the cache (the warm-up leaves it as it found it). */
export function clearNumberCache(): void {
  cache.clear();
}

/** Entries and estimated bytes in the cache (tests, /v1/status). */
export function numberCacheSize(): { entries: number; bytes: number } {
  return { entries: cache.size, bytes: cache.bytes };
}
