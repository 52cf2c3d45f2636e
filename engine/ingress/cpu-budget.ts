/**
 * Main-thread time per tenant (issue 11: 50 hostile clients of one tenant held
 * the event loop for seconds, and every other tenant's acks waited behind
 * them). Each tenant has a budget of `msPerSec` milliseconds of main-thread
 * time per second for its WebSocket frames and HTTP submits: the ingress
 * measures what each frame really cost (JSON parse, per-item validation,
 * number parsing, the answers) and charges it here; while the balance is
 * spent, the tenant's frames are refused THROTTLED BEFORE they are parsed,
 * at a cost of one answer. So whatever a tenant sends, it takes at most its
 * share of the loop (plus the one frame that ran it into debt; a frame is
 * bounded by maxFrameBytes and maxBatchItems).
 *
 *   balance  ≤ msPerSec (one second's worth: a burst)
 *   refill   msPerSec per second of the clock
 *   charge   the measured cost of each frame; the balance may go below 0
 *   allows   balance > 0
 *
 * The budget is a share of a contended loop, not a cap on a lone tenant:
 * with a LoopUsers registry (the ingress passes one for all tenants), a
 * tenant over its budget is refused only while another tenant used the loop
 * in the last second; alone it may use the whole loop (its TPS still bounds
 * its submits), and its debt is then kept to one second's worth, so that it
 * is not refused for long once another tenant arrives. (Measured on the
 * AMD EPYC box of bench/RESULTS.md: one well-behaved tenant at 1,500 msg/s
 * used about 250 ms/s and, capped, lost 7 % of its submits to THROTTLED.)
 *
 * Measured time rather than counted frames or items: a frame's cost depends on
 * what is in it (a 500-item batch of invalid numbers costs a thousand pings),
 * and time also covers paths added later. Async work after a submit was
 * accepted (the enqueue, its ack) is not charged: it is bounded by the
 * tenant's TPS.
 */
import type { Clock } from '../flow/clock.js';

/** Which tenants used the main thread lately: the two most recent distinct ones are enough to tell. */
export class LoopUsers {
  private a: { b: CpuBudget; at: number } | undefined;
  private other: { b: CpuBudget; at: number } | undefined;

  charged(b: CpuBudget, at: number): void {
    if (this.a?.b === b) this.a.at = at;
    else {
      this.other = this.a;
      this.a = { b, at };
    }
  }

  /** True when a tenant other than `b`'s used the loop at or after `since`. */
  othersSince(b: CpuBudget, since: number): boolean {
    const o = this.a?.b === b ? this.other : this.a;
    return o !== undefined && o.at >= since;
  }
}

export class CpuBudget {
  private balance: number;
  private at: number;

  constructor(
    private readonly msPerSec: number,
    private readonly clock: Clock,
    private readonly loop?: LoopUsers,
  ) {
    this.balance = msPerSec;
    this.at = clock.now();
  }

  /** True while the tenant has main-thread time left, or (with a LoopUsers) no other tenant uses the loop. */
  allows(): boolean {
    const now = this.clock.now();
    if (now > this.at) {
      this.balance = Math.min(this.msPerSec, this.balance + ((now - this.at) * this.msPerSec) / 1000);
      this.at = now;
    }
    return this.balance > 0 || (this.loop !== undefined && !this.loop.othersSince(this, now - 1000));
  }

  /** Charges a frame's measured cost (ms). */
  charge(ms: number): void {
    this.balance -= ms;
    if (this.loop === undefined) return;
    const now = this.clock.now();
    this.loop.charged(this, now);
    // Alone on the loop: at most one second's worth of debt.
    if (!this.loop.othersSince(this, now - 1000)) this.balance = Math.max(this.balance, -this.msPerSec);
  }
}
