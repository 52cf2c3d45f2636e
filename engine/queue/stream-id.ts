/**
 * Redis stream ids ("ms-seq", two unsigned 64-bit numbers) as they come from
 * clients: a resume position (`?since=`), a page cursor (`after=`). Checked
 * here before they reach Redis, so a malformed one is a 400 with a clear code
 * and text, never a Redis error passed on as a 503.
 */

const MAX_U64 = 18446744073709551615n;
const SHAPE = /^(\d{1,20})-(\d{1,20})$/;

/** True for an id Redis accepts as a complete stream id ("1732290000000-0"). */
export function isStreamId(s: string): boolean {
  const m = SHAPE.exec(s);
  return m !== null && BigInt(m[1] as string) <= MAX_U64 && BigInt(m[2] as string) <= MAX_U64;
}

/** The id in Redis's own spelling (no leading zeros), or undefined when it is not a stream id. */
export function normalizeStreamId(s: string): string | undefined {
  const m = SHAPE.exec(s);
  if (m === null) return undefined;
  const ms = BigInt(m[1] as string);
  const seq = BigInt(m[2] as string);
  return ms <= MAX_U64 && seq <= MAX_U64 ? `${ms}-${seq}` : undefined;
}

/** Orders two stream ids in Redis's spelling (normalizeStreamId) ("ms-seq"): negative, 0 or positive. Exact beyond 2^53 as well. */
export function compareStreamId(a: string, b: string): number {
  const ai = a.indexOf('-');
  const bi = b.indexOf('-');
  const am = a.slice(0, ai);
  const bm = b.slice(0, bi);
  // Same digits count (no leading zeros from Redis): compare as strings, else by length.
  if (am !== bm) return am.length !== bm.length ? am.length - bm.length : am < bm ? -1 : 1;
  const as = a.slice(ai + 1);
  const bs = b.slice(bi + 1);
  if (as === bs) return 0;
  return as.length !== bs.length ? as.length - bs.length : as < bs ? -1 : 1;
}
