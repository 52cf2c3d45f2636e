/**
 * Time as a port: rate limits, windows and expiry read the clock through this
 * interface so that tests can drive them with a simulated clock (xstate's
 * SimulatedClock idea) instead of sleeping.
 */
export interface Clock {
  /** Milliseconds, monotonic enough for rate limiting. */
  now(): number;
}

export const systemClock: Clock = { now: () => performance.timeOrigin + performance.now() };

/** A clock that moves only when told to. */
export class ManualClock implements Clock {
  constructor(private t = 0) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
