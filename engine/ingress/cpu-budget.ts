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
 * Measured time rather than counted frames or items: a frame's cost depends on
 * what is in it (a 500-item batch of invalid numbers costs a thousand pings),
 * and time also covers paths added later. Async work after a submit was
 * accepted (the enqueue, its ack) is not charged: it is bounded by the
 * tenant's TPS.
 */
import type { Clock } from '../flow/clock.js';

export class CpuBudget {
  private balance: number;
  private at: number;

  constructor(
    private readonly msPerSec: number,
    private readonly clock: Clock,
  ) {
    this.balance = msPerSec;
    this.at = clock.now();
  }

  /** True while the tenant has main-thread time left. */
  allows(): boolean {
    const now = this.clock.now();
    if (now > this.at) {
      this.balance = Math.min(this.msPerSec, this.balance + ((now - this.at) * this.msPerSec) / 1000);
      this.at = now;
    }
    return this.balance > 0;
  }

  /** Charges a frame's measured cost (ms). */
  charge(ms: number): void {
    this.balance -= ms;
  }
}
