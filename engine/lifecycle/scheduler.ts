/**
 * The scheduler: moves scheduled messages onto their SMSC queues when they are
 * due. Every engine node runs one; they need no coordination because each move
 * is one atomic script (queue/lua/schedule.lua) that takes a message out of the
 * schedule and writes its stream entries together — two nodes, or a node
 * restarted mid-move, can never move a message twice.
 *
 * It never scans: every `intervalMs` (default 100 ms, so a message goes out
 * within a second of its time) one script call asks the schedule's sorted set
 * for what is due (ZRANGEBYSCORE … LIMIT, O(log n) when nothing is), and
 * moves at most `batch` messages per call so that a campaign of a million
 * messages due at 09:00 is moved in short scripts that let every other Redis
 * client (acks, receipts) in between.
 */
import type { Clock } from '../flow/clock.js';
import type { LifecycleStore } from '../queue/lifecycle-store.js';

export interface SchedulerOptions {
  readonly intervalMs?: number;
  readonly batch?: number;
}

export class Scheduler {
  moved = 0;
  expired = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly intervalMs: number;
  private readonly batch: number;

  constructor(
    private readonly store: LifecycleStore,
    private readonly clock: Clock,
    private readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void,
    o: SchedulerOptions = {},
  ) {
    this.intervalMs = o.intervalMs ?? 100;
    this.batch = o.batch ?? 200;
  }

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** Moves everything due now (a tick already running is joined, not doubled). */
  tick(): Promise<void> {
    if (this.running !== undefined) return this.running;
    this.running = this.drain().finally(() => (this.running = undefined));
    return this.running;
  }

  private async drain(): Promise<void> {
    try {
      for (;;) {
        const r = await this.store.moveDue(Math.floor(this.clock.now()), this.batch);
        this.moved += r.moved;
        this.expired += r.expired;
        if (r.taken < this.batch || this.stopped) return;
        await new Promise((ok) => setImmediate(ok));
      }
    } catch (err) {
      this.log('warn', `scheduler: moving due messages failed, will retry: ${(err as Error).message}`);
    }
  }
}
