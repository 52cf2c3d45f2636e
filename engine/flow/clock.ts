/**
 * Time as a port: rate limits, windows and expiry read the clock through this
 * interface so that tests can drive them with a simulated clock (xstate's
 * SimulatedClock idea) instead of sleeping. Code that also waits (retries,
 * backoffs, polls, ticks) takes a `TimerClock`, whose timers fire on the same
 * time: the operator actor's unit tests advance a `ManualClock` by the
 * milliseconds a throttling backoff or a flush retry takes, and nothing
 * sleeps.
 *
 * setImmediate is not time: "at the end of this turn of the event loop" stays
 * the real one everywhere, and a test gets there by awaiting a turn.
 */
export interface Clock {
  /** Milliseconds, monotonic enough for rate limiting. */
  now(): number;
}

declare const timerBrand: unique symbol;
/** What a TimerClock's setTimeout/setInterval return: pass it to `clear`, nothing else. */
export interface TimerHandle {
  readonly [timerBrand]: true;
}

/** A clock that also runs timers on its own time. */
export interface TimerClock extends Clock {
  setTimeout(fn: () => void, ms: number): TimerHandle;
  setInterval(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timeout or an interval; undefined and fired timeouts are ignored. */
  clear(handle: TimerHandle | undefined): void;
}

export const systemClock: TimerClock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms) as unknown as TimerHandle,
  setInterval: (fn, ms) => setInterval(fn, ms) as unknown as TimerHandle,
  // clearTimeout clears intervals too (Node and the HTML spec share one timer list).
  clear: (h) => clearTimeout(h as unknown as NodeJS.Timeout | undefined),
};

interface ManualTimer {
  due: number;
  /** Order of setting (or of an interval's last firing): timers due at the same time fire in this order. */
  seq: number;
  readonly fn: () => void;
  /** 0 for a timeout. */
  readonly every: number;
}

/**
 * A clock that moves only when told to. Its timers fire inside `advance`, in
 * due order, each with `now()` at its due time (a timer set by a callback
 * fires in the same advance if it falls due within it), as sinon's fake
 * timers do. Promises a callback starts settle after `advance` returns: await
 * a turn of the event loop to let them.
 */
export class ManualClock implements TimerClock {
  private readonly timers = new Map<TimerHandle, ManualTimer>();
  private seq = 0;

  constructor(private t = 0) {}

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, 0);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    // An interval of 0 would fire forever within one advance; Node clamps it to 1 ms as well.
    return this.add(fn, ms, Math.max(1, ms));
  }

  clear(handle: TimerHandle | undefined): void {
    if (handle !== undefined) this.timers.delete(handle);
  }

  /** Timers set and not yet fired or cleared (intervals count until cleared). */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [TimerHandle, ManualTimer] | undefined;
      for (const entry of this.timers) {
        const [, timer] = entry;
        if (timer.due > end) continue;
        if (next === undefined || timer.due < next[1].due || (timer.due === next[1].due && timer.seq < next[1].seq)) next = entry;
      }
      if (next === undefined) break;
      const [handle, timer] = next;
      this.t = Math.max(this.t, timer.due);
      if (timer.every > 0) {
        timer.due += timer.every;
        timer.seq = this.seq++;
      } else this.timers.delete(handle);
      timer.fn();
    }
    this.t = end;
  }

  private add(fn: () => void, ms: number, every: number): TimerHandle {
    const handle = {} as TimerHandle;
    this.timers.set(handle, { due: this.t + Math.max(0, ms), seq: this.seq++, fn, every });
    return handle;
  }
}
