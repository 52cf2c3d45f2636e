/**
 * Main-thread time per tenant (issue 11: 50 hostile clients of one tenant held
 * the event loop for seconds, and every other tenant's acks waited behind
 * them). The ingress measures what each WebSocket frame and HTTP submit of a
 * tenant costs the main thread (JSON parse, per-item validation, number
 * parsing, the answers: its CPU time on the thread, thread-cpu-clock.ts) and
 * charges it to the tenant's CpuBudget; while a budget is spent, the tenant's
 * frames are refused THROTTLED BEFORE they are parsed, at the cost of one
 * pre-rendered answer. So whatever a tenant sends, it takes at most its share
 * of the loop (plus the one frame that ran it into debt; a frame is bounded by
 * maxFrameBytes and maxBatchItems).
 *
 * The share follows how many tenants use the loop: all tenants' frames
 * together may take C = server.ingressCpuMsPerSec of each second while they
 * contend (the rest of the thread is the engine's own: enqueues, acks, status
 * pushes, readers), and each busy tenant may use
 *
 *   rate     max(C' / n, C' − what the other tenants used: the larger of their last full second
 *            and this one so far); C' = C × the share of the last second the thread could run
 *            n: tenants whose frames used the loop in the last second (at least 2 while contended)
 *   balance  ≤ min(C / n, MAX_BURST_MS = 100): the most one burst may take back to back; refilled
 *            at rate, charged each frame's cost (it may go below 0: the frame that ran it into
 *            debt is paid back by the clock)
 *   allows   balance > 0, or no other tenant used the loop in the last second
 *
 * When other processes hold the cores, the loop has less to give: the rates
 * use C scaled by the share of the last second the thread could run (its CPU
 * clock against the wall clock), or a flooder's share of CPU time would be
 * more of the thread than it can get. The balance's cap is not scaled: frames
 * that queued while the thread waited arrive as a burst (with the cap scaled
 * too, a well-behaved tenant well under its share was refused 115 of 19,525
 * submits at a load average of 22 on 2 cores).
 *
 * A tenant whose frames mostly achieve nothing gets less (issue 11: 50 hostile
 * clients of one tenant, every frame refused, took the half of the loop a
 * well-behaved tenant left unused, and the latter's ack p99 grew 4.6×). Each
 * charge says whether the frame handed at least one message to the queue
 * (useful) or not (refused: bad JSON, template bombs, invalid items, over its
 * TPS); over the last full second and this one, the tenant's useful share of
 * its time u sets (connections are charged but not judged: they count in
 * neither part)
 *
 *   rate     max(WASTE_FLOOR_MS, C' / n × min(1, 2u), (C' − others) × (2u − 1))
 *   balance  ≤ max(1 ms, the cap above × min(1, 2u))
 *
 * (u = 1: the rules above.) What the others leave goes only to tenants whose
 * time is mostly useful, the equal share shrinks once less than half is, and
 * a tenant sending only refused frames gets WASTE_FLOOR_MS a second in
 * bursts of a millisecond or two (its frames past that are refused THROTTLED
 * unread). Continuous in u, so a tenant near a threshold does not flap.
 *
 * So a tenant under its equal share C' / n whose frames are mostly useful is
 * never refused, whatever the others send, and a share another tenant leaves unused is not wasted (max-min
 * fairness, water-filling, in its one-second-lagged form). Alone on the loop a
 * tenant is not held to any share (its TPS still bounds its submits), and its
 * debt is then kept to one second's worth, so that it is not refused for long
 * once another tenant arrives.
 *
 * The windows: usage is summed per wall-clock second; once a second (at the
 * first call of a new second: O(tenants) then, O(1) otherwise) the registry
 * counts the busy tenants and sums what they used. The last two distinct
 * tenants charged are kept apart to answer "alone?" without waiting for that.
 *
 * Measured time rather than counted frames or items: a frame's cost depends on
 * what is in it (a 500-item batch of invalid numbers costs a thousand pings),
 * and time also covers paths added later. Async work after a submit was
 * accepted (the enqueue, its ack) is not charged: it is bounded by the
 * tenant's TPS. (A fixed 250 ms/s per tenant, charged in wall time, refused
 * 2.8 % of a well-behaved tenant's submits at 1,500 msg/s on a loaded 2-core
 * box while a hostile tenant flooded: wall time charged it for the time other
 * processes held the core, and 250 ms/s was about what it needed.)
 */
import type { Clock } from '../flow/clock.js';

const WINDOW_MS = 1000;
/**
 * The most a tenant's balance holds (ms): what one burst of its frames may take
 * of the loop back to back, however large its share (a flooder whose frames
 * queued got its whole second's worth in one turn of the loop: a 0.7 s stall
 * on a loaded machine). Ample for a well-behaved tenant: a batch of 50 costs
 * a few ms, a GC pause inside one tens of ms.
 */
export const MAX_BURST_MS = 100;
/** What a tenant whose frames achieve nothing may still use while others are busy (ms per second): enough to be told why. */
export const WASTE_FLOOR_MS = 10;
/** Below this much time charged (ms, last second and this one) a tenant's frames count as useful: too little to judge. */
const JUDGE_MIN_MS = 5;

/** All tenants' budgets: how many used the loop lately, and how much. */
export class LoopShare {
  private readonly members: CpuBudget[] = [];
  private win = -1;
  /** Tenants that used the loop in the second before the current window began. */
  private busy = 0;
  /** Milliseconds all tenants' frames used in the last full window, and so far in this one. */
  private usedLast = 0;
  private usedCur = 0;
  /** Tenants charged so far in this window. */
  private busyCur = 0;
  /** The two most recent distinct tenants charged, and when. */
  private a: { b: CpuBudget; at: number } | undefined;
  private other: { b: CpuBudget; at: number } | undefined;

  /** C × the share of the last second the thread could run (see capacityFactor). */
  private capacity: number;
  private lastWall = NaN;
  private lastCpu = NaN;

  /**
   * @param loopMsPerSec C: main-thread CPU ms per second all tenants' frames may use together while they contend.
   * @param cpu the thread's CPU clock (thread-cpu-clock.ts): when given, the rates scale with the share
   *   of each second the thread could run (other processes holding the cores leave the loop less to give).
   */
  constructor(
    readonly loopMsPerSec: number,
    readonly clock: Clock,
    private readonly cpu?: Clock,
  ) {
    this.capacity = loopMsPerSec;
  }

  /** A tenant's budget, registered here. */
  budget(): CpuBudget {
    const b = new CpuBudget(this);
    this.members.push(b);
    return b;
  }

  /** Starts a new window when `now` is in a later second: each member's last window, the busy count and the sum. */
  roll(now: number): void {
    const w = Math.floor(now / WINDOW_MS);
    if (w === this.win) return;
    this.win = w;
    this.capacity = this.loopMsPerSec * this.capacityFactor(now);
    let busy = 0;
    let used = 0;
    for (const m of this.members) {
      m.rollTo(w);
      if (m.lastAt >= now - WINDOW_MS) busy++;
      used += m.usedPrev;
    }
    this.busy = busy;
    this.usedLast = used;
    this.usedCur = 0;
    this.busyCur = 0;
  }

  /**
   * The share of the time since the last window began that the thread could
   * run: CPU clock over wall clock, 1 on a quiet machine (the CPU clock runs
   * with the wall clock while the loop waits for I/O), at least 0.1.
   */
  private capacityFactor(now: number): number {
    if (this.cpu === undefined) return 1;
    const cpu = this.cpu.now();
    const dWall = now - this.lastWall;
    const dCpu = cpu - this.lastCpu;
    this.lastWall = now;
    this.lastCpu = cpu;
    if (!(dWall >= WINDOW_MS / 2)) return this.capacity / this.loopMsPerSec;
    return Math.min(1, Math.max(0.1, dCpu / dWall));
  }

  /** C as the thread can give it this second (ms per second). */
  get loopCapacity(): number {
    return this.capacity;
  }

  /** Tenants busy now: those of the last second, or those charged in this window when more. */
  private busyNow(): number {
    return Math.max(2, this.busy, this.busyCur);
  }

  /** The most one tenant's balance holds: C / busy tenants up to MAX_BURST_MS, not scaled (a burst of frames that queued while the thread waited). */
  burstCap(): number {
    return Math.min(MAX_BURST_MS, this.loopMsPerSec / this.busyNow());
  }

  /**
   * The rate (ms per second) `b` may use while it contends: its equal share,
   * or what the others left of C; what they used is the larger of their last
   * full second and this one so far (a tenant that just arrived counts at once).
   */
  rateOf(b: CpuBudget): number {
    const c = this.capacity;
    const others = Math.max(this.usedLast - b.usedPrev, this.usedCur - b.usedCurrent);
    const u = b.usefulShare();
    if (u === 1) return Math.min(c, Math.max(c / this.busyNow(), c - others));
    return Math.min(c, Math.max(WASTE_FLOOR_MS, (c / this.busyNow()) * Math.min(1, 2 * u), (c - others) * (2 * u - 1)));
  }

  /** The most `b`'s balance holds: burstCap(), less for a tenant whose time is less than half useful (at least 1 ms). */
  capOf(b: CpuBudget): number {
    return Math.max(1, this.burstCap() * Math.min(1, 2 * b.usefulShare()));
  }

  /** Records a charge of `ms` to `b` (already rolled to the current window); `first` when its first in this window. */
  charged(b: CpuBudget, at: number, ms: number, first: boolean): void {
    this.usedCur += ms;
    if (first) this.busyCur++;
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

  /** Busy tenants counted at the start of the current window (tests, stats). */
  get busyTenants(): number {
    return this.busy;
  }
}

/** One tenant's budget; made by LoopShare.budget(). */
export class CpuBudget {
  private balance: number;
  private at: number;
  private win = -1;
  private usedCur = 0;
  private chargedInWin = false;
  /** Of usedCur, what frames that handed nothing to the queue took (ms). */
  private wastedCur = 0;
  /** Of usedCur, what was charged neither useful nor wasted (connections: ms). */
  private neutralCur = 0;
  /** Of usedPrev, the same. */
  private neutralPrev = 0;
  /** Milliseconds charged in the last full window. */
  usedPrev = 0;
  /** Of usedPrev, what frames that handed nothing to the queue took (ms). */
  wastedPrev = 0;
  /** When it was last charged. */
  lastAt = -Infinity;
  /** Everything charged (ms), for stats. */
  usedTotal = 0;

  constructor(private readonly share: LoopShare) {
    this.at = share.clock.now();
    this.balance = Math.min(MAX_BURST_MS, share.loopMsPerSec / 2);
  }

  /** Milliseconds charged so far in the current window. */
  get usedCurrent(): number {
    return this.usedCur;
  }

  /** Moves the current window's usage to the last one when window `w` begins. */
  rollTo(w: number): void {
    if (w === this.win) return;
    this.usedPrev = w === this.win + 1 ? this.usedCur : 0;
    this.wastedPrev = w === this.win + 1 ? this.wastedCur : 0;
    this.neutralPrev = w === this.win + 1 ? this.neutralCur : 0;
    this.usedCur = 0;
    this.wastedCur = 0;
    this.neutralCur = 0;
    this.chargedInWin = false;
    this.win = w;
  }

  /** The share of its time (last full window and this one) its frames handed something to the queue: 1 below JUDGE_MIN_MS. */
  usefulShare(): number {
    const used = this.usedPrev + this.usedCur - this.neutralPrev - this.neutralCur;
    return used < JUDGE_MIN_MS ? 1 : 1 - (this.wastedPrev + this.wastedCur) / used;
  }

  /** The rate this tenant's balance refills at now (ms per second). */
  rate(): number {
    this.share.roll(this.share.clock.now());
    return this.share.rateOf(this);
  }

  /** True while the tenant has main-thread time left, or no other tenant uses the loop. */
  allows(): boolean {
    const now = this.share.clock.now();
    this.share.roll(now);
    const rate = this.share.rateOf(this);
    if (now > this.at) {
      // Refilled at the rate, holding at most the burst cap.
      this.balance = Math.min(this.share.capOf(this), this.balance + ((now - this.at) * rate) / 1000);
      this.at = now;
    }
    return this.balance > 0 || !this.share.othersSince(this, now - WINDOW_MS);
  }

  /**
   * Charges a frame's measured cost (ms); `useful`: it handed at least one message to the queue;
   * 'neutral': work that says nothing either way (a new connection), charged but not judged.
   */
  charge(ms: number, useful: boolean | 'neutral' = true): void {
    const now = this.share.clock.now();
    this.share.roll(now);
    this.balance -= ms;
    this.usedCur += ms;
    if (useful === false) this.wastedCur += ms;
    else if (useful === 'neutral') this.neutralCur += ms;
    this.usedTotal += ms;
    this.lastAt = now;
    this.share.charged(this, now, ms, !this.chargedInWin);
    this.chargedInWin = true;
    // Alone on the loop: at most one second's worth of debt.
    if (!this.share.othersSince(this, now - WINDOW_MS)) this.balance = Math.max(this.balance, -this.share.rateOf(this));
  }
}
