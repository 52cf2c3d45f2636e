/**
 * The main thread's own CPU time, as a Clock (milliseconds), to charge each
 * tenant's frames what they really cost (cpu-budget.ts). Wall time also
 * counts the time other processes held the core: on a loaded 2-core machine a
 * 1 ms frame preempted mid-way was charged 20 ms, and a well-behaved tenant
 * was refused THROTTLED for other processes' work.
 *
 * Node 20 has no per-thread CPU clock (process.threadCpuUsage came in Node 23;
 * process.cpuUsage sums every thread, the actors' worker threads included).
 * On Linux this reads /proc/thread-self/schedstat, kept open and re-read
 * with pread at offset 0 (about 3 µs):
 *
 *   "<sum_exec_runtime ns> <run_delay ns> <timeslices>"
 *
 * sum_exec_runtime is only brought up to date at scheduler ticks (4 ms
 * steps: useless for a 1 ms frame), but run_delay, the time the thread waited
 * on a run queue while runnable, is added exactly when the thread is
 * scheduled back in. So
 *
 *   now()  =  performance.now() − run_delay
 *
 * advances only while the thread runs (or sleeps in a system call: a frame
 * does not), and the difference of two readings is the CPU time between them.
 * Elsewhere, or when the kernel keeps no schedstats (the file reads "0 0 0"),
 * it is wall time.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import type { Clock } from '../flow/clock.js';

const wall: Clock = { now: () => performance.now() };

/** A Clock of the calling thread's CPU time (ms); call it on the thread it measures (the main thread). */
export function threadCpuClock(path = '/proc/thread-self/schedstat'): Clock & { readonly source: 'schedstat' | 'wall' } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return { now: wall.now, source: 'wall' };
  }
  const buf = Buffer.alloc(96);
  /** run_delay in ms, or undefined when the file cannot be read as expected. */
  const runDelayMs = (): number | undefined => {
    const n = readSync(fd, buf, 0, buf.length, 0);
    const sp1 = buf.indexOf(32);
    const sp2 = buf.indexOf(32, sp1 + 1);
    if (sp1 < 0 || sp2 < 0 || sp2 > n) return undefined;
    const v = Number(buf.toString('latin1', sp1 + 1, sp2));
    return Number.isFinite(v) ? v / 1e6 : undefined;
  };
  let first: number | undefined;
  try {
    first = runDelayMs();
  } catch {
    first = undefined;
  }
  const sum = first === undefined ? 0 : Number(buf.toString('latin1', 0, buf.indexOf(32)));
  if (first === undefined || (first === 0 && sum === 0)) {
    closeSync(fd);
    return { now: wall.now, source: 'wall' };
  }
  let last = first;
  return {
    source: 'schedstat',
    now: () => {
      try {
        last = runDelayMs() ?? last;
      } catch {
        // Keep the last reading: the clock then runs as wall time.
      }
      return performance.now() - last;
    },
  };
}
