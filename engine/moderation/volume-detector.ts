/**
 * Volume anomaly detection per tenant, in memory: is the tenant sending far
 * more than it normally does? Cheap enough to ask for every message (a few
 * arithmetic operations, no allocation).
 *
 *   rate      messages in the last minute, a sliding-window estimate from two
 *             one-minute buckets: prev × (1 − elapsed share of cur) + cur
 *   baseline  the tenant's normal per-minute volume: an exponentially weighted
 *             mean of past minutes (half-life `halfLifeHours`, default a day),
 *             fed only with messages that were not held, so a held burst does
 *             not make itself normal
 *   limit     max(floorPerMinute, multiple × baseline)
 *
 * A message arriving while rate ≥ limit is held. A new tenant has no baseline:
 * its limit is the floor, and it grows only as its traffic proves normal over
 * hours (the slow half-life), so a new account cannot ramp a spam run up in
 * minutes. Baselines are saved to Redis each minute ({P}{c}:vol) and loaded at
 * start, so a restart does not make every tenant new. Each engine node
 * counts its own traffic: with N nodes behind a balancer, set the floor per node.
 */
import type { Clock } from '../flow/clock.js';

export interface VolumeRule {
  readonly multiple: number;
  readonly floorPerMinute: number;
  readonly halfLifeHours: number;
}

interface TenantVolume {
  bucket: number; // minute index of `cur`
  cur: number;
  prev: number;
  curOk: number; // of cur, not held
  baseline: number;
  readonly alpha: number;
  readonly rule: VolumeRule;
}

const MINUTE = 60_000;

export interface VolumeVerdict {
  readonly rate: number;
  readonly limit: number;
  readonly baseline: number;
}

export class VolumeDetector {
  private readonly tenants = new Map<string, TenantVolume>();

  constructor(
    rules: ReadonlyMap<string, VolumeRule>,
    private readonly clock: Clock,
  ) {
    const minute = Math.floor(clock.now() / MINUTE);
    for (const [t, rule] of rules) {
      const alpha = 1 - Math.pow(2, -1 / (rule.halfLifeHours * 60));
      this.tenants.set(t, { bucket: minute, cur: 0, prev: 0, curOk: 0, baseline: 0, alpha, rule });
    }
  }

  /** The rules from now on (the tenant directory changed): a tenant keeps its counts and baseline. */
  setRules(rules: ReadonlyMap<string, VolumeRule>): void {
    const minute = Math.floor(this.clock.now() / MINUTE);
    for (const [t, rule] of rules) {
      const alpha = 1 - Math.pow(2, -1 / (rule.halfLifeHours * 60));
      const was = this.tenants.get(t);
      this.tenants.set(t, was === undefined ? { bucket: minute, cur: 0, prev: 0, curOk: 0, baseline: 0, alpha, rule } : { ...was, alpha, rule });
    }
    for (const t of [...this.tenants.keys()]) if (!rules.has(t)) this.tenants.delete(t);
  }

  /** How many tenants are watched. */
  get watching(): number {
    return this.tenants.size;
  }

  private roll(v: TenantVolume, minute: number): void {
    if (minute === v.bucket) return;
    // Fold the finished minute, then the empty ones in between, into the baseline.
    const gap = minute - v.bucket;
    v.baseline += v.alpha * (v.curOk - v.baseline);
    if (gap > 1) v.baseline *= Math.pow(1 - v.alpha, Math.min(gap - 1, 100_000));
    v.prev = gap === 1 ? v.cur : 0;
    v.cur = 0;
    v.curOk = 0;
    v.bucket = minute;
  }

  /**
   * Counts one message of the tenant; returns the verdict when it must be
   * held, undefined when it may go (or the tenant is not watched).
   */
  check(tenant: string): VolumeVerdict | undefined {
    const v = this.tenants.get(tenant);
    if (v === undefined) return undefined;
    const now = this.clock.now();
    const minute = Math.floor(now / MINUTE);
    if (minute !== v.bucket) this.roll(v, minute);
    const elapsed = (now - minute * MINUTE) / MINUTE;
    const rate = v.prev * (1 - elapsed) + v.cur;
    const limit = Math.max(v.rule.floorPerMinute, v.rule.multiple * v.baseline);
    v.cur++;
    if (rate >= limit) return { rate: Math.round(rate), limit: Math.round(limit), baseline: Math.round(v.baseline) };
    v.curOk++;
    return undefined;
  }

  /** Baselines to save (tenant -> messages per minute). */
  baselines(): Map<string, number> {
    const out = new Map<string, number>();
    const minute = Math.floor(this.clock.now() / MINUTE);
    for (const [t, v] of this.tenants) {
      this.roll(v, minute);
      out.set(t, v.baseline);
    }
    return out;
  }

  /** Restores saved baselines (tenants not watched are ignored). */
  restore(saved: ReadonlyMap<string, number>): void {
    for (const [t, b] of saved) {
      const v = this.tenants.get(t);
      if (v !== undefined && Number.isFinite(b) && b >= 0) v.baseline = b;
    }
  }
}
