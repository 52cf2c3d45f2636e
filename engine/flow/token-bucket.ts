/**
 * Token bucket for TPS limits (per tenant at ingress, per SMSC in the actor).
 *
 * The bucket refills continuously at `ratePerSec` up to `burst` tokens. Any 1 s
 * window then sees at most rate + burst takes, so the bucket runs at
 * `ratePerSec - burst` to keep every sliding second within the configured
 * limit, which is how SMSCs measure (they answer 0x58 beyond it).
 */
import type { Clock } from './clock.js';

export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly rate: number; // tokens per ms
  readonly burst: number;

  constructor(
    limitPerSec: number,
    private readonly clock: Clock,
    burst = Math.max(1, Math.floor(limitPerSec / 50)),
  ) {
    this.burst = Math.min(burst, Math.max(1, limitPerSec - 1));
    this.rate = Math.max(limitPerSec - this.burst, 1) / 1000;
    this.tokens = this.burst;
    this.last = clock.now();
  }

  private refill(): void {
    const now = this.clock.now();
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.rate);
      this.last = now;
    }
  }

  /** Whole tokens available now. */
  available(): number {
    this.refill();
    return Math.floor(this.tokens);
  }

  /** Takes n tokens if all are there; returns whether it did. */
  tryTake(n = 1): boolean {
    this.refill();
    if (this.tokens >= n) {
      this.tokens -= n;
      return true;
    }
    return false;
  }

  /** Milliseconds until n tokens are available (0 if now). */
  waitMs(n = 1): number {
    this.refill();
    return this.tokens >= n ? 0 : Math.ceil((n - this.tokens) / this.rate);
  }
}
