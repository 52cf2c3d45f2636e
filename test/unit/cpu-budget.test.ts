/** The per-tenant main-thread budget (engine/ingress/cpu-budget.ts), on a simulated clock. */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../engine/flow/clock.js';
import { CpuBudget, LoopUsers } from '../../engine/ingress/cpu-budget.js';

describe('CpuBudget', () => {
  it('allows frames until one second\'s worth of time is spent, then refills at msPerSec', () => {
    const clock = new ManualClock(1000);
    const b = new CpuBudget(100, clock);
    expect(b.allows()).toBe(true);
    b.charge(60);
    expect(b.allows()).toBe(true);
    b.charge(40);
    expect(b.allows()).toBe(false);
    // 100 ms per second: 1 ms of clock gives back 0.1 ms.
    clock.advance(10);
    expect(b.allows()).toBe(true);
  });

  it('a frame that costs more than the balance puts the tenant in debt, paid back by the clock', () => {
    const clock = new ManualClock(0);
    const b = new CpuBudget(250, clock);
    b.charge(750); // balance -500: two seconds of refill
    clock.advance(1999);
    expect(b.allows()).toBe(false);
    clock.advance(2);
    expect(b.allows()).toBe(true);
  });

  it('an idle tenant saves at most one second\'s worth (the burst)', () => {
    const clock = new ManualClock(0);
    const b = new CpuBudget(100, clock);
    clock.advance(60_000);
    expect(b.allows()).toBe(true);
    b.charge(100);
    expect(b.allows()).toBe(false);
  });

  it('binds only while another tenant uses the loop: alone a tenant may use it all, with at most a second of debt', () => {
    const clock = new ManualClock(0);
    const loop = new LoopUsers();
    const busy = new CpuBudget(100, clock, loop);
    const other = new CpuBudget(100, clock, loop);
    // alone: over its budget and still allowed; its debt stops at one second's worth
    busy.charge(500);
    expect(busy.allows()).toBe(true);
    // another tenant uses the loop: now the budget binds, and the debt is what one second refills
    other.charge(1);
    expect(busy.allows()).toBe(false);
    expect(other.allows()).toBe(true);
    clock.advance(500);
    other.charge(1);
    expect(busy.allows()).toBe(false);
    clock.advance(501);
    expect(busy.allows()).toBe(true);
    // in debt again while the other tenant was seen within the second: refused, no floor
    busy.charge(500);
    expect(busy.allows()).toBe(false);
    // the other tenant gone for over a second: the budget no longer binds
    clock.advance(600);
    expect(busy.allows()).toBe(true);
  });
});
