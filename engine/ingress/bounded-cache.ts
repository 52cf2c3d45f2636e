/**
 * A cache keyed by client input, bounded in entries AND in bytes.
 *
 * A bound in entries alone is no bound when a client chooses the keys: the
 * number cache held 200,000 entries of whatever `to` strings clients sent,
 * 195 MB per 1,000 long frames (issue 11). Here every entry is charged an
 * estimate of what it holds (UTF-16 string bytes plus the Map slot and object
 * headers, see `stringBytes`), and the oldest entries leave first (insertion
 * order, as before: a hit costs one Map look-up and no re-insertion) until
 * both bounds hold. An entry larger than an eighth of the byte bound is not
 * kept at all, so one entry can never flush the rest. Callers keep invalid
 * input out of it: only results worth repeating are cached.
 */

/** Bytes a JS string may hold on the heap (two per UTF-16 unit, plus its header), for byte budgets. */
export function stringBytes(s: string): number {
  return 24 + 2 * s.length;
}

/** The Map slot, the key and a small result object: what an entry costs beyond its strings. */
export const ENTRY_OVERHEAD_BYTES = 80;

export class BoundedCache<V> {
  private readonly map = new Map<string, V>();
  private used = 0;

  /**
   * @param sizeOf bytes an entry costs (key included); must be the same for the
   *               same key and value, since it is computed again on eviction
   */
  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
    private readonly sizeOf: (key: string, value: V) => number,
  ) {}

  get(key: string): V | undefined {
    return this.map.get(key);
  }

  /** Adds an entry, evicting the oldest as needed; returns false when it is too large to keep. */
  set(key: string, value: V): boolean {
    const bytes = this.sizeOf(key, value);
    if (bytes > this.maxBytes / 8) return false;
    const old = this.map.get(key);
    if (old !== undefined) {
      this.used -= this.sizeOf(key, old);
      this.map.delete(key);
    }
    while (this.map.size > 0 && (this.map.size >= this.maxEntries || this.used + bytes > this.maxBytes)) {
      const [k, v] = this.map.entries().next().value as [string, V];
      this.used -= this.sizeOf(k, v);
      this.map.delete(k);
    }
    this.map.set(key, value);
    this.used += bytes;
    return true;
  }

  get size(): number {
    return this.map.size;
  }

  /** The estimated bytes held (the figure the byte bound applies to). */
  get bytes(): number {
    return this.used;
  }

  clear(): void {
    this.map.clear();
    this.used = 0;
  }
}
