/**
 * Runs the analytics sink in its own process (sink-process.ts) and keeps what
 * it reports (for /readyz, /v1/status and /metrics). A sink process that dies
 * is restarted after a second: the sink's consumer group keeps its place, so
 * nothing is lost or doubled by the restart.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { ClickHouseOptions } from '../../analytics/clickhouse.js';
import { workerScript } from '../worker-script.js';
import type { SinkReport, SinkWorkerData } from './sink-process.js';

export interface AnalyticsState {
  ready: boolean;
  inserted: number;
  batches: number;
  failures: number;
  lagMs: number;
  lastBatchSize: number;
  restarts: number;
}

export class AnalyticsHost {
  readonly state: AnalyticsState = { ready: false, inserted: 0, batches: 0, failures: 0, lagMs: 0, lastBatchSize: 0, restarts: 0 };
  private worker: ChildProcess | undefined;
  private stopping = false;
  /** Counts of earlier incarnations, so the totals never go backwards. */
  private base = { inserted: 0, batches: 0, failures: 0 };

  constructor(
    private readonly data: Omit<SinkWorkerData, 'clickhouse'> & { clickhouse: ClickHouseOptions },
    private readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void,
  ) {}

  start(): void {
    const w = fork(workerScript('./sink-process.js', import.meta.url), [], {
      env: { ...process.env, SWITCHYARD_SINK_CONFIG: JSON.stringify(this.data) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: [],
    });
    this.worker = w;
    w.on('message', (m) => {
      const r = m as SinkReport;
      if (r.type === 'ready') {
        this.state.ready = true;
        if (r.migrated.length > 0) this.log('info', `analytics: applied migrations ${r.migrated.join(', ')}`);
      } else if (r.type === 'stats') {
        this.state.inserted = this.base.inserted + r.inserted;
        this.state.batches = this.base.batches + r.batches;
        this.state.failures = this.base.failures + r.failures;
        this.state.lagMs = r.lagMs;
        this.state.lastBatchSize = r.lastBatchSize;
      } else this.log(r.level, r.msg);
    });
    w.on('error', (err) => this.log('error', `analytics process failed: ${err.message}`));
    w.on('exit', (code, signal) => {
      if (!this.stopping) this.log('error', `analytics process exited (${signal ?? code}); restarting in 1 s`);
      this.state.ready = false;
      if (this.stopping) return;
      this.base = { inserted: this.state.inserted, batches: this.state.batches, failures: this.state.failures };
      this.state.restarts++;
      setTimeout(() => !this.stopping && this.start(), 1000);
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const w = this.worker;
    if (w === undefined) return;
    if (w.exitCode !== null || w.signalCode !== null) return;
    const exited = new Promise((ok) => w.once('exit', ok));
    if (w.connected) w.send({ type: 'stop' });
    await Promise.race([exited, new Promise((ok) => setTimeout(ok, 5000))]);
    if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
  }
}
