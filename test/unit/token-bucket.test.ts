import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../engine/flow/clock.js';
import { TokenBucket } from '../../engine/flow/token-bucket.js';

describe('TokenBucket', () => {
  it('never lets a sliding second exceed the limit', () => {
    const clock = new ManualClock(0);
    const limit = 500;
    const b = new TokenBucket(limit, clock);
    const takes: number[] = [];
    for (let t = 0; t < 5000; t++) {
      while (b.tryTake(1)) takes.push(clock.now());
      clock.advance(1);
    }
    let max = 0;
    let lo = 0;
    for (let hi = 0; hi < takes.length; hi++) {
      while ((takes[hi] as number) - (takes[lo] as number) >= 1000) lo++;
      max = Math.max(max, hi - lo + 1);
    }
    expect(max).toBeLessThanOrEqual(limit);
    // and it does not waste the budget: at least 95% of the limit over 5 s
    expect(takes.length).toBeGreaterThan(limit * 5 * 0.95);
  });

  it('reports how long to wait for a token', () => {
    const clock = new ManualClock(0);
    const b = new TokenBucket(100, clock, 1);
    expect(b.tryTake(1)).toBe(true);
    expect(b.tryTake(1)).toBe(false);
    const w = b.waitMs(1);
    expect(w).toBeGreaterThan(0);
    clock.advance(w);
    expect(b.tryTake(1)).toBe(true);
  });

  it("api mode: a client's rate limit takes a one-second burst at once and the limit sustained", () => {
    const clock = new ManualClock(0);
    const b = new TokenBucket(1000, clock, undefined, 'api');
    // a bulk sender's frame of 1,000 at once is taken whole (an SMSC-mode bucket would take 20)
    let first = 0;
    while (b.tryTake(1)) first++;
    expect(first).toBe(1000);
    // then 1,000 a second, no more
    let taken = 0;
    for (let t = 0; t < 10_000; t++) {
      clock.advance(1);
      while (b.tryTake(1)) taken++;
    }
    expect(taken).toBeGreaterThanOrEqual(9_990);
    expect(taken).toBeLessThanOrEqual(10_000);
  });
});
