/**
 * Token bucket for TPS limits (per tenant at ingress, per SMSC in the actor).
 *
 * The bucket refills continuously up to `burst` tokens. Any 1 s window sees at
 * most rate + burst takes, and SMSCs count submits per sliding second at their
 * end (they answer 0x58 beyond the limit), after the network and both sides'
 * scheduling have bunched some of them together. So the bucket runs at
 * `limit - 2 × burst`: one burst for the bucket itself, one (2 % of a second's
 * sending, ~20 ms) as a margin for that bunching.
 */
import type { Clock } from './clock.js';

export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly rate: number; // tokens per ms
  readonly burst: number;

  /**
   * `mode` 'smsc' (default): a limit an SMSC enforces per sliding second, with
   * the margin above. 'api': a client-facing rate limit: `limitPerSec`
   * sustained, and a burst of up to `burst` (default one second's worth) taken
   * at once, as API rate limits usually allow (a bulk sender's batch frame).
   */
  constructor(
    limitPerSec: number,
    private readonly clock: Clock,
    burst?: number,
    mode: 'smsc' | 'api' = 'smsc',
  ) {
    if (mode === 'api') {
      this.burst = Math.max(1, burst ?? limitPerSec);
      this.rate = limitPerSec / 1000;
    } else {
      this.burst = Math.min(burst ?? Math.max(1, Math.floor(limitPerSec / 50)), Math.max(1, limitPerSec - 1));
      this.rate = Math.max(limitPerSec - 2 * this.burst, 1) / 1000;
    }
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
