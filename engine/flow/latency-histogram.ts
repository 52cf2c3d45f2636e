/**
 * A fixed-size log-bucket latency histogram (5% resolution from 10 µs to
 * ~100 s): recording is an index computation and an increment, no allocation,
 * so it can sit on the submit path. Quantiles are read from the buckets.
 */
const MIN_MS = 0.01;
const GROWTH = Math.log(1.05);
const BUCKETS = 340;

export class LatencyHistogram {
  private readonly counts = new Uint32Array(BUCKETS);
  count = 0;

  record(ms: number): void {
    const i = ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / MIN_MS) / GROWTH));
    this.counts[i]++;
    this.count++;
  }

  /** Upper bound of the bucket holding quantile q (0..1); 0 when empty. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const target = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i] as number;
      if (seen >= target) return MIN_MS * Math.exp(i * GROWTH);
    }
    return MIN_MS * Math.exp((BUCKETS - 1) * GROWTH);
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
  }
}
