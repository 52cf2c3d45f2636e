/**
 * The webhook dispatcher's Prometheus metrics, measured in its worker thread
 * (engine/metrics/metric-names.ts, thread 'webhooks') and sent to the main
 * thread as JSON with its stats, where /metrics merges them like the actors'.
 * Label children are cached per tenant: the per-event calls (latency) are a
 * bucket search, not a label lookup.
 */
import { collectDefaultMetrics, Registry, type Histogram } from 'prom-client';
import { buildMetrics, keysOf, type MetricsJson } from '../metrics/registry.js';
import { eventTime, type DeadLetterReason } from './webhook-batch.js';
import type { AttemptResult } from './retry-policy.js';

export class WebhookMetrics {
  readonly registry = new Registry();
  private readonly m = buildMetrics(keysOf('webhooks'), this.registry);
  private readonly latency = new Map<string, Histogram.Internal<string>>();
  private readonly thread = new Registry();

  constructor() {
    collectDefaultMetrics({ register: this.thread, labels: { thread: 'webhooks' } });
  }

  attempt(tenant: string, result: AttemptResult, retry: boolean): void {
    this.m.webhookDeliveries.inc({ tenant, result });
    if (retry) this.m.webhookRetries.inc({ tenant });
  }

  /** Events delivered at `now`, each with its age (now − when it happened). */
  delivered(tenant: string, events: ReadonlyArray<string>, now: number): void {
    this.m.webhookEvents.inc({ tenant }, events.length);
    let h = this.latency.get(tenant);
    if (h === undefined) this.latency.set(tenant, (h = this.m.webhookLatency.labels({ tenant })));
    for (let i = 0; i < events.length; i++) {
      const age = now - eventTime(events[i] as string);
      if (age >= 0) h.observe(age / 1000);
    }
  }

  deadLettered(tenant: string, reason: DeadLetterReason, n: number): void {
    if (n > 0) this.m.webhookDeadLetters.inc({ tenant, reason }, n);
  }

  /** Sets the gauges and returns this registry (and the thread's event-loop and heap gauges) as JSON. */
  async snapshot(depths: ReadonlyArray<{ tenant: string; queued: number; deadLetters: number }>, lagMs: number): Promise<MetricsJson> {
    for (const d of depths) {
      this.m.webhookQueueDepth.set({ tenant: d.tenant }, d.queued);
      this.m.webhookDeadLetterDepth.set({ tenant: d.tenant }, d.deadLetters);
    }
    this.m.webhookLag.set(lagMs / 1000);
    const own = await this.registry.getMetricsAsJSON();
    const thread = (await this.thread.getMetricsAsJSON()).filter((m) => String(m.type) === 'gauge' && (m.name.startsWith('nodejs_eventloop_lag') || m.name.startsWith('nodejs_heap_size')));
    return [...own, ...thread];
  }
}
