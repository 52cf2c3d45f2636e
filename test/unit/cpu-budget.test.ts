/** The per-tenant main-thread budget (engine/ingress/cpu-budget.ts) and its CPU clock, on a simulated clock. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../engine/flow/clock.js';
import { LoopShare, type CpuBudget } from '../../engine/ingress/cpu-budget.js';
import { threadCpuClock } from '../../engine/ingress/thread-cpu-clock.js';

/** A tenant that sends a frame of `cost` ms every `every` ms (a flooder: every 1 ms); run() fills in the counts. */
interface Sender {
  readonly b: CpuBudget;
  readonly cost: number;
  readonly every: number;
  used: number;
  refused: number;
  sent: number;
}
const sender = (b: CpuBudget, cost: number, every: number): Sender => ({ b, cost, every, used: 0, refused: 0, sent: 0 });

/** Runs senders on a simulated loop for `ms` milliseconds, 1 ms per step: a frame is charged when allowed, else counted refused. */
function run(clock: ManualClock, ms: number, tenants: Sender[]): Sender[] {
  for (const t of tenants) Object.assign(t, { used: 0, refused: 0, sent: 0 });
  for (let i = 0; i < ms; i++) {
    for (const t of tenants) {
      if (i % t.every !== 0) continue;
      t.sent++;
      if (t.b.allows()) {
        t.b.charge(t.cost);
        t.used += t.cost;
      } else t.refused++;
    }
    clock.advance(1);
  }
  return tenants;
}

describe('CpuBudget', () => {
  it('a tenant alone on the loop is never refused, and its debt stops at one second\'s worth', () => {
    const clock = new ManualClock(0);
    const share = new LoopShare(500, clock);
    const b = share.budget();
    const [t] = run(clock, 3000, [sender(b, 50, 10)]); // 5,000 ms/s of demand
    expect(t?.refused).toBe(0);
    // Another tenant arrives: the debt it carries is one second's worth at most (the rate alone: C).
    const other = share.budget();
    other.charge(1);
    expect(b.allows()).toBe(false);
    clock.advance(1001);
    other.charge(1);
    expect(b.allows()).toBe(true);
  });

  it('a well-behaved tenant under its equal share (C / 2) is never refused while another floods', () => {
    const clock = new ManualClock(0);
    const share = new LoopShare(500, clock);
    const good = sender(share.budget(), 6, 25); // 240 ms/s, under 250
    const flood = sender(share.budget(), 20, 1); // as much as it is allowed
    run(clock, 10_000, [good, flood]);
    expect(good.refused).toBe(0);
    expect(good.used).toBe(good.sent * 6);
    // The flooder got what the good tenant left of C (260 ms/s), plus at most a frame per refill, and the rest was refused.
    const floodPerSec = flood.used / 10;
    expect(floodPerSec).toBeGreaterThan(200);
    expect(floodPerSec).toBeLessThan(500 - 240 + 40);
    expect(flood.refused).toBeGreaterThan(9000);
  });

  it('the share follows the busy tenants: four flooders get about C / 4 each, two left C / 2 each', () => {
    const clock = new ManualClock(0);
    const share = new LoopShare(400, clock);
    const ts = Array.from({ length: 4 }, () => (sender(share.budget(), 5, 1)));
    run(clock, 5000, ts);
    // The first second gives out the starting balances; from then on each gets about 100 ms/s.
    run(clock, 5000, ts);
    expect(share.busyTenants).toBe(4);
    for (const t of ts) expect(Math.abs(t.used / 5 - 100)).toBeLessThan(15);
    // Two stop: after a second they no longer count, and the two left share C.
    const left = ts.slice(0, 2);
    run(clock, 2000, left);
    run(clock, 5000, left);
    expect(share.busyTenants).toBe(2);
    for (const t of left) expect(Math.abs(t.used / 5 - 200)).toBeLessThan(25);
  });

  it('a share another tenant leaves unused is not wasted: beside a light tenant a heavy one gets C minus its use', () => {
    const clock = new ManualClock(0);
    const share = new LoopShare(500, clock);
    const light = sender(share.budget(), 1, 100); // 10 ms/s
    const heavy = sender(share.budget(), 5, 1);
    run(clock, 2000, [light, heavy]);
    run(clock, 5000, [light, heavy]);
    expect(light.refused).toBe(0);
    // Not its equal share (250) but what the light tenant left: 490 ms/s.
    expect(heavy.used / 5).toBeGreaterThan(450);
    expect(heavy.used / 5).toBeLessThan(510);
  });

  it('when the thread waits for a core the rates scale with the share of the second it could run, not the burst a tenant may hold', () => {
    const clock = new ManualClock(0);
    // Other processes hold the cores 70 % of the time: the thread's CPU clock runs at 30 % of the wall clock.
    const cpu = { now: () => clock.now() * 0.3 };
    const share = new LoopShare(500, clock, cpu);
    const ts = [sender(share.budget(), 5, 1), sender(share.budget(), 5, 1)];
    run(clock, 3000, ts);
    run(clock, 5000, ts);
    expect(share.loopCapacity).toBeCloseTo(150, 5);
    for (const t of ts) expect(Math.abs(t.used / 5 - 75)).toBeLessThan(10);
    // A light tenant's frames that queued while the thread waited arrive together: 90 ms every 2 s, 45 ms/s
    // on average, under its scaled share (75) and more than a scaled cap would hold (75); the cap is 100 ms.
    const light = share.budget();
    const flood = sender(share.budget(), 5, 1);
    for (let i = 0; i < 10_000; i++) {
      if (i % 2000 === 0) for (let k = 0; k < 9; k++) {
        expect(light.allows()).toBe(true);
        light.charge(10);
      }
      run(clock, 1, [flood]);
    }
  });

  it('while contended the balance holds at most MAX_BURST_MS, refills at the rate, and a frame\'s debt is paid back by the clock', () => {
    const clock = new ManualClock(0);
    const share = new LoopShare(500, clock);
    const a = share.budget();
    const b = share.budget();
    // Both busy for two full seconds, each using little: the rates settle at C minus the other's use.
    for (let i = 0; i < 2000; i++) {
      if (i % 100 === 0) {
        a.charge(0.5);
        b.charge(0.5);
      }
      clock.advance(1);
    }
    expect(a.rate()).toBeCloseTo(495, 0);
    expect(a.allows()).toBe(true);
    // One costly frame: 1,090 ms, two seconds of refill at 495 ms/s after the 100 ms (MAX_BURST_MS) it held.
    a.charge(100 + 990);
    b.charge(0.5);
    expect(a.allows()).toBe(false);
    for (let i = 0; i < 1990; i++) {
      if (i % 100 === 0) b.charge(0.5);
      clock.advance(1);
    }
    expect(a.allows()).toBe(false);
    for (let i = 0; i < 20; i++) {
      if (i % 10 === 0) b.charge(0.5);
      clock.advance(1);
    }
    expect(a.allows()).toBe(true);
  });
});

describe('threadCpuClock', () => {
  it('is wall time minus the time the thread waited on a run queue (schedstat\'s second field)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-schedstat-'));
    try {
      const f = join(dir, 'schedstat');
      writeFileSync(f, '150776651 5000000 7\n');
      const c = threadCpuClock(f);
      expect(c.source).toBe('schedstat');
      const w0 = performance.now();
      const c0 = c.now();
      // 40 ms spent preempted, as the kernel would count it: the clock does not advance by them.
      writeFileSync(f, '160776651 45000000 9\n');
      const c1 = c.now();
      const w1 = performance.now();
      expect(c1 - c0).toBeLessThanOrEqual(w1 - w0 - 40 + 0.001);
      expect(c1 - c0).toBeGreaterThan(-40.001);
      expect(c0).toBeLessThanOrEqual(w0 - 5 + (w1 - w0) + 0.001);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('falls back to wall time without the file, or when the kernel keeps no schedstats ("0 0 0")', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-schedstat-'));
    try {
      const f = join(dir, 'schedstat');
      writeFileSync(f, '0 0 0\n');
      expect(threadCpuClock(f).source).toBe('wall');
      expect(threadCpuClock(join(dir, 'none')).source).toBe('wall');
      const w = threadCpuClock(join(dir, 'none'));
      const w0 = performance.now();
      expect(Math.abs(w.now() - w0)).toBeLessThan(1000);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('on this machine\'s kernel: reads the main thread\'s schedstat and never runs ahead of wall time', () => {
    const c = threadCpuClock();
    if (process.platform !== 'linux') return expect(c.source).toBe('wall');
    expect(c.source).toBe('schedstat');
    const w0 = performance.now();
    const c0 = c.now();
    let x = 0;
    for (let i = 0; i < 2e6; i++) x += i % 7;
    const c1 = c.now();
    const w1 = performance.now();
    expect(x).toBeGreaterThan(0);
    expect(c1 - c0).toBeGreaterThan(0);
    expect(c1 - c0).toBeLessThanOrEqual(w1 - w0 + 0.5);
  });
});
