/** The manual clock's timers: what the actor's unit tests rely on when they advance time. */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../engine/flow/clock.js';

describe('ManualClock', () => {
  it('fires timeouts in due order, each at its own time, and only once', () => {
    const c = new ManualClock(1000);
    const fired: string[] = [];
    c.setTimeout(() => fired.push(`b@${c.now()}`), 20);
    c.setTimeout(() => fired.push(`a@${c.now()}`), 10);
    c.setTimeout(() => fired.push(`c@${c.now()}`), 20);
    c.advance(9);
    expect(fired).toEqual([]);
    c.advance(100);
    expect(fired).toEqual(['a@1010', 'b@1020', 'c@1020']);
    expect(c.now()).toBe(1109);
    c.advance(100);
    expect(fired.length).toBe(3);
    expect(c.pendingTimers).toBe(0);
  });

  it('repeats intervals until cleared, and fires timers set by a callback within the same advance', () => {
    const c = new ManualClock(0);
    const ticks: number[] = [];
    const h = c.setInterval(() => {
      ticks.push(c.now());
      if (c.now() === 10) c.setTimeout(() => ticks.push(-c.now()), 3);
    }, 5);
    c.advance(22);
    expect(ticks).toEqual([5, 10, -13, 15, 20]);
    c.clear(h);
    c.advance(100);
    expect(ticks.length).toBe(5);
  });

  it('clear cancels a timeout; clearing undefined or a fired one is harmless', () => {
    const c = new ManualClock(0);
    let n = 0;
    const h = c.setTimeout(() => n++, 5);
    const g = c.setTimeout(() => n++, 1);
    c.advance(1);
    c.clear(h);
    c.clear(g);
    c.clear(undefined);
    c.advance(10);
    expect(n).toBe(1);
  });
});
