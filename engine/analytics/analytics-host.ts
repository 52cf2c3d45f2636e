/**
 * Runs the analytics process (sink-process.ts) and is the engine's door to
 * it: keeps what it reports (for /readyz, /v1/status and /metrics), hands
 * the live feed's rollups and the flagged-number deltas to their listeners,
 * and forwards analytics queries to its Unix socket (`request`). A process
 * that dies is restarted after a second: the sink's consumer group keeps its
 * place, so nothing is lost or doubled by the restart.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RollupFrame } from '../../analytics/live-rollup.js';
import { workerScript } from '../worker-script.js';
import type { FlagDeltaMessage } from './flagged-numbers.js';
import type { SinkReport, SinkWorkerData } from './sink-process.js';

export interface AnalyticsState {
  ready: boolean;
  inserted: number;
  batches: number;
  failures: number;
  lagMs: number;
  lastBatchSize: number;
  restarts: number;
  /** Stream entries the sink has not read yet (-1 unknown). */
  backlog: number;
  /** RSS of the analytics process (embedded ClickHouse included), MB. */
  rssMb: number;
  /** Numbers flagged by bad-number detection. */
  flagged: number;
  queries: number;
  /** CSV report pages read from ClickHouse so far (this incarnation). */
  reportPages: number;
  /** Stats reports received from the analytics process (one a second). */
  reports: number;
}

/** Who asks: the admin, or a tenant. */
export type AnalyticsScope = 'admin' | `tenant:${string}`;

/** The environment of the analytics process: PATH, HOME, locale, temp dir, Node's own variables. */
function childEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (/^(PATH|HOME|USER|LANG|LC_\w+|TZ|TMPDIR|NODE_\w+|LOG_LEVEL)$/.test(k)) out[k] = v;
  return out;
}

export class AnalyticsHost {
  readonly state: AnalyticsState = { ready: false, inserted: 0, batches: 0, failures: 0, lagMs: 0, lastBatchSize: 0, restarts: 0, backlog: -1, rssMb: 0, flagged: 0, queries: 0, reportPages: 0, reports: 0 };
  private worker: ChildProcess | undefined;
  private stopping = false;
  /** Counts of earlier incarnations, so the totals never go backwards. */
  private base = { inserted: 0, batches: 0, failures: 0 };
  private readonly socketDir: string;
  private readonly socketPath: string;
  private readonly rollupListeners: Array<(scope: string, frame: RollupFrame) => void> = [];
  private readonly flagListeners: Array<(d: FlagDeltaMessage) => void> = [];
  private readonly detectWaiters: Array<() => void> = [];
  private readonly drainWaiters = new Map<string, Array<{ ok: (n: number) => void; fail: (e: Error) => void }>>();

  constructor(
    private readonly data: Omit<SinkWorkerData, 'socketPath'>,
    private readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void,
  ) {
    // A directory only this user can enter: whoever reaches the socket is trusted with the scope header.
    this.socketDir = mkdtempSync(join(tmpdir(), 'sy-analytics-'));
    this.socketPath = join(this.socketDir, 'q.sock');
  }

  onRollup(fn: (scope: string, frame: RollupFrame) => void): void {
    this.rollupListeners.push(fn);
  }

  onFlagged(fn: (d: FlagDeltaMessage) => void): void {
    this.flagListeners.push(fn);
  }

  /** Runs one bad-number detection round now (tests, admin); resolves when its delta has been applied. */
  detectNow(): Promise<void> {
    if (this.worker?.connected !== true) return Promise.reject(new Error('analytics is not running'));
    const done = new Promise<void>((ok) => this.detectWaiters.push(ok));
    this.worker.send({ type: 'detect' });
    return done;
  }

  start(): void {
    rmSync(this.socketPath, { force: true });
    const w = fork(workerScript('./sink-process.js', import.meta.url), [], {
      // Only what a Node process needs, not the engine's secrets (API keys, SMSC passwords): the
      // analytics process gets its own settings, ClickHouse credentials included, in its config.
      env: { ...childEnv(process.env), SWITCHYARD_SINK_CONFIG: JSON.stringify({ ...this.data, socketPath: this.socketPath }) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // SWITCHYARD_SINK_NODE_ARGS: Node flags for the analytics process only (e.g. "--cpu-prof" to profile it).
      execArgv: (process.env.SWITCHYARD_SINK_NODE_ARGS ?? '').split(' ').filter((x) => x !== ''),
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
        this.state.backlog = r.backlog;
        this.state.rssMb = r.rssMb;
        this.state.flagged = r.flagged;
        this.state.queries = r.queries;
        this.state.reportPages = r.reportPages;
        this.state.reports++;
      } else if (r.type === 'rollups') {
        for (const f of r.frames) for (const fn of this.rollupListeners) fn(f.scope, f.frame);
      } else if (r.type === 'flagged') {
        this.state.flagged = Math.max(0, this.state.flagged + r.add.length - r.remove.length);
        for (const fn of this.flagListeners) fn(r);
      } else if (r.type === 'detected') {
        for (const ok of this.detectWaiters.splice(0)) ok();
      } else if (r.type === 'drained') {
        const waiters = this.drainWaiters.get(r.consumer) ?? [];
        this.drainWaiters.delete(r.consumer);
        for (const w of waiters) {
          if (r.error === undefined) w.ok(r.events);
          else w.fail(new Error(r.error));
        }
      } else this.log(r.level, r.msg);
    });
    w.on('error', (err) => this.log('error', `analytics process failed: ${err.message}`));
    w.on('exit', (code, signal) => {
      if (!this.stopping) this.log('error', `analytics process exited (${signal ?? code}); restarting in 1 s`);
      this.state.ready = false;
      for (const [, ws] of this.drainWaiters) for (const x of ws) x.fail(new Error('the analytics process exited'));
      this.drainWaiters.clear();
      if (this.stopping) return;
      this.base = { inserted: this.state.inserted, batches: this.state.batches, failures: this.state.failures };
      this.state.restarts++;
      setTimeout(() => !this.stopping && this.start(), 1000);
    });
  }

  /** Whether the analytics process runs (ready): it can take over a dead node's sink. */
  get running(): boolean {
    return this.state.ready && this.worker?.connected === true;
  }

  /**
   * Has the analytics process finish another (dead) node's sink batch and
   * delete that consumer (engine/fleet/takeover.ts); resolves with the events
   * it inserted or found inserted. Rejects when the process goes away first.
   */
  drain(consumer: string): Promise<number> {
    const w = this.worker;
    if (w?.connected !== true || !this.state.ready) return Promise.reject(new Error('analytics is not running'));
    return new Promise((ok, fail) => {
      const list = this.drainWaiters.get(consumer) ?? [];
      list.push({ ok, fail });
      this.drainWaiters.set(consumer, list);
      if (list.length === 1) w.send({ type: 'drain', consumer });
    });
  }

  /** The analytics process's pid (tests, benchmarks). */
  get pid(): number | undefined {
    return this.worker?.pid;
  }

  /**
   * Forwards a query (path and query string of the query server) with the
   * caller's scope; resolves with the streaming response, rejects when the
   * analytics process is not there.
   */
  request(pathAndQuery: string, scope: AnalyticsScope, signal?: AbortSignal): Promise<IncomingMessage> {
    if (!this.state.ready) return Promise.reject(new Error('analytics is starting or restarting'));
    return new Promise((ok, fail) => {
      const req = httpRequest({ socketPath: this.socketPath, path: pathAndQuery, method: 'GET', headers: { 'x-switchyard-scope': scope }, ...(signal ? { signal } : {}) }, ok);
      req.on('error', fail);
      req.end();
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const w = this.worker;
    const cleanup = () => rmSync(this.socketDir, { recursive: true, force: true });
    if (w === undefined || w.exitCode !== null || w.signalCode !== null) return cleanup();
    const exited = new Promise((ok) => w.once('exit', ok));
    if (w.connected) w.send({ type: 'stop' });
    await Promise.race([exited, new Promise((ok) => setTimeout(ok, 5000))]);
    if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    cleanup();
  }
}
