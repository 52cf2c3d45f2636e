/**
 * Runs the webhook dispatcher in its worker thread (webhook-worker.ts) and
 * keeps what it reports: per-tenant state for the admin endpoints and
 * /v1/status, its metrics for /metrics. A worker that dies is restarted with
 * backoff (1 s doubling to 30 s; reset after a minute of health); its
 * consumer keeps its name, so it re-reads its pending entries and nothing is
 * lost, and the dead incarnation's counters carry over so they never go
 * backwards (as the actors' do, engine/actors/supervisor.ts).
 */
import { Worker } from 'node:worker_threads';
import { cumulativeOnly, merge, type MetricsJson } from '../metrics/registry.js';
import { workerScript } from '../worker-script.js';
import type { WebhookCommand, WebhookReport, WebhookWorkerData } from './messages.js';
import type { ChannelState } from './tenant-channel.js';

export interface WebhookHostState {
  running: boolean;
  restarts: number;
  lagMs: number;
  tenants: ChannelState[];
}

export class WebhookHost {
  readonly state: WebhookHostState = { running: false, restarts: 0, lagMs: 0, tenants: [] };
  private worker: Worker | undefined;
  private stopping = false;
  private startedAt = 0;
  private failures = 0;
  private live: MetricsJson = [];
  private carried: MetricsJson = [];
  private ready: { promise: Promise<void>; resolve: () => void } | undefined;

  constructor(
    private readonly data: WebhookWorkerData,
    private readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void,
  ) {}

  /** Starts the worker; resolves when its dispatcher reads the events stream. */
  async start(): Promise<void> {
    let resolve: () => void = () => undefined;
    const promise = new Promise<void>((ok) => (resolve = ok));
    this.ready = { promise, resolve };
    this.spawn();
    await promise;
  }

  private spawn(): void {
    const w = new Worker(workerScript('./webhook-worker.js', import.meta.url), { workerData: this.data, name: 'switchyard-webhooks' });
    this.worker = w;
    this.startedAt = Date.now();
    w.on('message', (r: WebhookReport) => {
      if (r.type === 'ready') {
        this.state.running = true;
        this.ready?.resolve();
      } else if (r.type === 'stats') {
        this.state.tenants = r.tenants;
        this.state.lagMs = r.lagMs;
        if (r.metrics !== undefined) this.live = r.metrics;
      } else if (r.type === 'log') this.log(r.level, r.msg);
    });
    w.on('error', (err) => this.log('error', `webhook worker failed: ${err.message}`));
    w.on('exit', (code) => {
      this.state.running = false;
      this.carryOver();
      if (this.stopping) return;
      if (Date.now() - this.startedAt > 60_000) this.failures = 0;
      const delay = Math.min(30_000, 1000 * 2 ** Math.min(this.failures, 5));
      this.failures++;
      this.state.restarts++;
      this.log('error', `webhook worker exited (code ${code}); restarting in ${delay} ms`);
      setTimeout(() => !this.stopping && this.spawn(), delay);
    });
  }

  private carryOver(): void {
    const dead = cumulativeOnly(this.live);
    this.live = [];
    if (dead.length === 0) return;
    const before = this.carried;
    // Until the merge resolves, keep both parts: /metrics sums them either way.
    const both = [...before, ...dead];
    this.carried = both;
    void merge([before, dead]).getMetricsAsJSON().then((j) => {
      if (this.carried === both) this.carried = j;
    });
  }

  /** Metrics of the live worker and of the ones before it, for /metrics. */
  metricsParts(): MetricsJson[] {
    return [this.carried, this.live];
  }

  private send(cmd: WebhookCommand): void {
    this.worker?.postMessage(cmd);
  }

  kick(tenant: string, retryNow: boolean): void {
    this.send({ type: 'kick', tenant, retryNow });
  }

  /** Entries were claimed for this node's consumer (takeover): the dispatcher reads its pending entries again. */
  rereadPending(): void {
    this.send({ type: 'reread' });
  }

  /** Test hook: makes the worker thread throw (it is restarted). */
  crash(): void {
    this.send({ type: 'crash' });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const w = this.worker;
    if (w === undefined || !this.state.running) {
      await w?.terminate();
      return;
    }
    const exited = new Promise((ok) => w.once('exit', ok));
    this.send({ type: 'stop' });
    const timer = setTimeout(() => void w.terminate(), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
