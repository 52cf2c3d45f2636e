/**
 * The monotonic clock of lease fencing: milliseconds of CLOCK_MONOTONIC
 * (process.hrtime), the same in every thread of the process (performance.now()
 * counts from each thread's own start, so the main thread's figure would mean
 * nothing in an actor's thread). It keeps running while the process is stopped
 * (SIGSTOP, a VM paused): a process that wakes reads the time it lost, which is
 * the point of fencing with it.
 */
export function monoMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}
