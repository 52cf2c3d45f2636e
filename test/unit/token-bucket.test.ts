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
});
