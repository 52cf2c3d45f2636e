/**
 * The per-call figures of a tinybench run whose tasks each make `batch` calls
 * (calls of well under a microsecond are timed in batches, or tinybench would
 * mostly measure the clock): ops/s and mean per call, p99 of the per-call
 * average over a batch. Printed as a table by the micro-benchmarks.
 */
import type { Bench } from 'tinybench';

export interface BatchedRow {
  readonly name: string;
  readonly 'ops/s': number;
  readonly 'mean ns': number;
  readonly 'p99 ns': number;
  readonly samples: number;
}

export function batchedRows(bench: Bench, batch: number, meanDecimals = 0): BatchedRow[] {
  const scale = 10 ** meanDecimals;
  return bench.tasks.map((t) => {
    const r = t.result;
    if (r === undefined) throw new Error(`task ${t.name} has no result`);
    return {
      name: t.name,
      'ops/s': Math.round(r.throughput.mean * batch),
      'mean ns': Math.round(((r.latency.mean * 1e6) / batch) * scale) / scale,
      'p99 ns': Math.round(((r.latency.p99 ?? Number.NaN) * 1e6) / batch),
      samples: r.latency.samples.length,
    };
  });
}
