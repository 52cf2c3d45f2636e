/** The per-tenant main-thread budget (engine/ingress/cpu-budget.ts) and its CPU clock, on a simulated clock. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../engine/flow/clock.js';
import { LoopShare, WASTE_FLOOR_MS, type CpuBudget } from '../../engine/ingress/cpu-budget.js';
import { threadCpuClock } from '../../engine/ingress/thread-cpu-clock.js';

/**
 * A tenant that sends a frame of `cost` ms every `every` ms (a flooder: every 1 ms); run() fills in the counts.
 * `useful(n)`: whether its n-th frame hands a message to the queue (default: every one).
 */
interface Sender {
  readonly b: CpuBudget;
  readonly cost: number;
  readonly every: number;
  readonly useful: (n: number) => boolean;
  used: number;
  refused: number;
  sent: number;
  /** The most milliseconds it ran back to back (frames allowed in consecutive steps). */
  longestRun: number;
}
const sender = (b: CpuBudget, cost: number, every: number, useful: (n: number) => boolean = () => true): Sender => ({ b, cost, every, useful, used: 0, refused: 0, sent: 0, longestRun: 0 });

/** Runs senders on a simulated loop for `ms` milliseconds, 1 ms per step: a frame is charged when allowed, else counted refused. */
function run(clock: ManualClock, ms: number, tenants: Sender[]): Sender[] {
  for (const t of tenants) Object.assign(t, { used: 0, refused: 0, sent: 0, longestRun: 0 });
  const run = new Map<Sender, number>();
  for (let i = 0; i < ms; i++) {
    for (const t of tenants) {
      if (i % t.every !== 0) continue;
      t.sent++;
      if (t.b.allows()) {
        t.b.charge(t.cost, t.useful(t.sent));
        t.used += t.cost;
        run.set(t, (run.get(t) ?? 0) + t.cost);
        t.longestRun = Math.max(t.longestRun, run.get(t) ?? 0);
      } else {
        t.refused++;
        run.set(t, 0);
      }
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

  it('a tenant whose frames achieve nothing gets WASTE_FLOOR_MS a second in bursts of a few ms, not what the others leave', () => {
    const clock = new ManualClock(0);
    const share = new LoopShare(500, clock);
    const light = sender(share.budget(), 1, 100); // 10 ms/s, every frame useful
    const junk = sender(share.budget(), 1, 1, () => false); // every frame refused (bad JSON, template bombs)
    run(clock, 2000, [light, junk]);
    run(clock, 5000, [light, junk]);
    expect(light.refused).toBe(0);
    // Beside the same light tenant a useful flooder gets ~490 ms/s (above); this one the floor.
    expect(junk.used / 5).toBeGreaterThanOrEqual(WASTE_FLOOR_MS - 1);
    expect(junk.used / 5).toBeLessThanOrEqual(WASTE_FLOOR_MS + 2);
    // Its balance holds 1 ms: never more than a frame or two of the loop back to back.
    expect(junk.longestRun).toBeLessThanOrEqual(2);
  });

  it('leftovers go by the useful share: half useful keeps its equal share, 90 % useful gets most of what a light tenant leaves', () => {
    const clock = new ManualClock(0);
    const share = new LoopShare(500, clock);
    const light = sender(share.budget(), 1, 100);
    const half = sender(share.budget(), 5, 1, (n) => n % 2 === 0);
    run(clock, 2000, [light, half]);
    run(clock, 5000, [light, half]);
    expect(light.refused).toBe(0);
    expect(Math.abs(half.used / 5 - 250)).toBeLessThan(30);

    const clock2 = new ManualClock(0);
    const share2 = new LoopShare(500, clock2);
    const light2 = sender(share2.budget(), 1, 100);
    const most = sender(share2.budget(), 5, 1, (n) => n % 10 !== 0);
    run(clock2, 2000, [light2, most]);
    run(clock2, 5000, [light2, most]);
    expect(light2.refused).toBe(0);
    // (C − 10) × (2 × 0.9 − 1) = 392 ms/s.
    expect(most.used / 5).toBeGreaterThan(360);
    expect(most.used / 5).toBeLessThan(440);
  });

  it('neutral charges (connections) spend the balance but do not count toward the useful share', () => {
    const clock = new ManualClock(0);
    const share = new LoopShare(500, clock);
    const b = share.budget();
    b.charge(10, false);
    expect(b.usefulShare()).toBe(0);
    b.charge(100, 'neutral');
    expect(b.usefulShare()).toBe(0);
    b.charge(10, true);
    expect(b.usefulShare()).toBeCloseTo(0.5, 5);
    // Only connections so far: too little judged to say, counted useful.
    const fresh = share.budget();
    fresh.charge(50, 'neutral');
    expect(fresh.usefulShare()).toBe(1);
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
