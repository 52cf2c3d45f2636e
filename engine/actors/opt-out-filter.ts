/**
 * The numbers that opted out recently, as the operator actors need them: a
 * fixed-size Bloom filter (no false negatives, rare false positives), in two
 * generations so that old entries age out without re-reading anything.
 *
 *   add(n)  → sets k bits in `current`
 *   has(n)  → all k bits set in `current` or in `previous`
 *   every `generationMs`: previous = current, current = empty
 *
 * An entry stays at least one generation (set to the longest a message can
 * wait in a queue) and at most two. Memory is 2 × bits / 8 bytes whatever
 * the number of opt-outs: a bulk import of a million numbers costs nothing
 * more than ten (a Map of them cost ~300 bytes per number in every actor).
 * A false positive only sends the entry through the atomic re-check in Redis
 * (parking/lua/divert.lua), which lets it go. Removals are not applied (the re-check
 * handles them). Tenants are not kept either: the re-check knows them.
 * Hashing: FNV-1a and a second FNV variant, combined (Kirsch-Mitzenmacher).
 */
const K = 4;

function fnv1a(s: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class OptOutFilter {
  private current: Uint32Array;
  private previous: Uint32Array;
  private readonly mask: number;
  private rotatedAt: number;
  private added = 0;

  constructor(
    /** Bits per generation, a power of two (default 2^24: 2 MiB, ~1% false positives at 1.7 M numbers). */
    bits: number,
    private readonly generationMs: number,
    now: number,
  ) {
    if (bits < 64 || (bits & (bits - 1)) !== 0) throw new RangeError('bits must be a power of two >= 64');
    this.mask = bits - 1;
    this.current = new Uint32Array(bits >>> 5);
    this.previous = new Uint32Array(bits >>> 5);
    this.rotatedAt = now;
  }

  /** Numbers added since the start (for stats). */
  get size(): number {
    return this.added;
  }

  /** True while nothing was ever added: lets the caller skip hashing. */
  get empty(): boolean {
    return this.added === 0;
  }

  private rotate(now: number): void {
    if (now - this.rotatedAt < this.generationMs) return;
    const gens = Math.floor((now - this.rotatedAt) / this.generationMs);
    this.previous = gens === 1 ? this.current : new Uint32Array(this.current.length);
    this.current = new Uint32Array(this.current.length);
    this.rotatedAt += gens * this.generationMs;
  }

  add(number: string, now: number): void {
    this.rotate(now);
    const h1 = fnv1a(number, 0x811c9dc5);
    const h2 = fnv1a(number, 0x050c5d1f) | 1;
    for (let i = 0; i < K; i++) {
      const bit = (h1 + Math.imul(i, h2)) & this.mask;
      this.current[bit >>> 5] = (this.current[bit >>> 5] as number) | (1 << (bit & 31));
    }
    this.added++;
  }

  has(number: string): boolean {
    const h1 = fnv1a(number, 0x811c9dc5);
    const h2 = fnv1a(number, 0x050c5d1f) | 1;
    return this.in(this.current, h1, h2) || this.in(this.previous, h1, h2);
  }

  private in(bits: Uint32Array, h1: number, h2: number): boolean {
    for (let i = 0; i < K; i++) {
      const bit = (h1 + Math.imul(i, h2)) & this.mask;
      if (((bits[bit >>> 5] as number) & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }

  /** Ages generations out (called from the poll, so that has() stays branch-light). */
  tick(now: number): void {
    this.rotate(now);
  }
}
