/**
 * The Prometheus metrics of one operator actor, measured in its worker thread
 * (engine/metrics/metric-names.ts, thread 'actor'). The actor calls the
 * counters and histograms where things happen; gauges (binds, window) are set
 * from its state when a snapshot is taken. `snapshot()` returns the registry
 * as JSON for the main thread to merge into /metrics.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { ActorStats } from '../actors/messages.js';
import { buildMetrics, keysOf, type MetricsJson } from './registry.js';

export type SubmitResult = 'ok' | 'throttled' | 'temporary' | 'rejected' | 'timeout';
export type ReceiptStatus = 'delivered' | 'undelivered' | 'expired' | 'unknown' | 'unreachable';

const STATUS_OF_STATE: Readonly<Record<string, ReceiptStatus>> = { D: 'delivered', U: 'undelivered', E: 'expired', K: 'unknown', u: 'unreachable' };

export class ActorMetrics {
  readonly registry = new Registry();
  private readonly m = buildMetrics(keysOf('actor'), this.registry);

  constructor(private readonly smsc: string) {}

  submit(result: SubmitResult, latencyMs?: number): void {
    this.m.submits.inc({ smsc: this.smsc, result });
    if (latencyMs !== undefined) this.m.submitLatency.observe({ smsc: this.smsc }, latencyMs / 1000);
  }

  receipt(state: string, latencyMs: number): void {
    this.m.receipts.inc({ smsc: this.smsc, status: STATUS_OF_STATE[state] ?? 'unknown' });
    if (latencyMs >= 0 && state !== 'u') this.m.deliveryLatency.observe({ smsc: this.smsc }, latencyMs / 1000);
  }

  unmatched(): void {
    this.m.receiptsUnmatched.inc({ smsc: this.smsc });
  }

  expiredInQueue(): void {
    this.m.expiredInQueue.inc({ smsc: this.smsc });
  }

  tpsWait(): void {
    this.m.tpsWaits.inc({ smsc: this.smsc });
  }

  reconnect(): void {
    this.m.reconnects.inc({ smsc: this.smsc });
  }

  badPdu(): void {
    this.m.badPdus.inc({ smsc: this.smsc });
  }

  mo(kind: string): void {
    this.m.moReceived.inc({ smsc: this.smsc, kind });
  }

  /** Sets the gauges from the actor's state and returns the registry as JSON. */
  async snapshot(s: ActorStats, windowPerBind: number): Promise<MetricsJson> {
    let inFlight = 0;
    let bound = 0;
    for (const b of s.binds) {
      const labels = { smsc: this.smsc, bind: String(b.index) };
      this.m.bindUp.set(labels, b.up ? 1 : 0);
      this.m.bindChanged.set(labels, b.since / 1000);
      inFlight += b.inFlight;
      if (b.up) bound++;
    }
    this.m.windowInFlight.set({ smsc: this.smsc }, inFlight);
    this.m.windowSize.set({ smsc: this.smsc }, bound * windowPerBind);
    return await this.registry.getMetricsAsJSON();
  }
}

let threadRegistry: Registry | undefined;
/** The last threadMetrics result and when it was collected (performance.now ms). */
let threadLast: { at: number; json: MetricsJson } | undefined;
/**
 * How often a thread's gauges are collected (ms); the stats between reuse them.
 * prom-client's default metrics read process-wide figures too (CPU, open file
 * descriptors, RSS from /proc) before we keep two families: collected with
 * every stats report (twice a second per actor thread) that was about a
 * quarter of a core over four actor threads in a profile at 15,000 msg/s offered.
 */
export const THREAD_METRICS_EVERY_MS = 5_000;

/**
 * This worker thread's own Node.js gauges (event-loop lag, heap), labelled by
 * thread; one registry per thread however many actors it hosts. Counters and
 * process-wide figures come from the main thread only. Collected at most every
 * THREAD_METRICS_EVERY_MS (the lag figures then cover that period).
 */
export async function threadMetrics(threadId: number): Promise<MetricsJson> {
  if (threadRegistry === undefined) {
    threadRegistry = new Registry();
    collectDefaultMetrics({ register: threadRegistry, labels: { thread: `actor-${threadId}` } });
  }
  const now = performance.now();
  if (threadLast !== undefined && now - threadLast.at < THREAD_METRICS_EVERY_MS) return threadLast.json;
  const all = await threadRegistry.getMetricsAsJSON();
  const json = all.filter((m) => String(m.type) === 'gauge' && (m.name.startsWith('nodejs_eventloop_lag') || m.name.startsWith('nodejs_heap_size')));
  threadLast = { at: now, json };
  return json;
}
