/**
 * Builds prom-client metrics from the one list in metric-names.ts, and merges
 * the registries of every thread into one exposition. prom-client's released
 * AggregatorRegistry serves the cluster module; its static `aggregate()` over
 * `getMetricsAsJSON()` results is what serves worker threads here: each actor
 * sends its registry's JSON with its stats (twice a second and on every bind
 * change), and the main thread merges the latest of each with its own.
 */
import { AggregatorRegistry, Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { METRICS, type MetricKey, type MetricSpec } from './metric-names.js';

export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const WEBHOOK_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14_400, 86_400];
const DELIVERY_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 14_400, 86_400];

type Built<K extends MetricKey> = (typeof METRICS)[K]['type'] extends 'counter' ? Counter : (typeof METRICS)[K]['type'] extends 'gauge' ? Gauge : Histogram;
export type MetricSet<K extends MetricKey> = { [P in K]: Built<P> };

/** The metrics of one thread kind, registered in `registry`. */
export function buildMetrics<K extends MetricKey>(keys: ReadonlyArray<K>, registry: Registry): MetricSet<K> {
  const out = {} as Record<string, Counter | Gauge | Histogram>;
  for (const k of keys) {
    const s: MetricSpec = METRICS[k];
    const base = { name: s.name, help: s.help, labelNames: [...s.labels], registers: [registry] };
    out[k] = s.type === 'counter' ? new Counter(base) : s.type === 'gauge' ? new Gauge(base) : new Histogram({ ...base, buckets: k === 'deliveryLatency' ? DELIVERY_BUCKETS : k === 'webhookLatency' ? WEBHOOK_BUCKETS : LATENCY_BUCKETS });
  }
  return out as MetricSet<K>;
}

export function keysOf(thread: MetricSpec['thread']): MetricKey[] {
  return (Object.keys(METRICS) as MetricKey[]).filter((k) => METRICS[k].thread === thread);
}

/** Only what adds up across incarnations: counters and histograms (a dead actor's gauges are gone with it). */
export function cumulativeOnly(json: MetricsJson): MetricsJson {
  return json.filter((m) => String(m.type) === 'counter' || String(m.type) === 'histogram');
}

/** Merges JSON snapshots (sums by name, labels and series) into one registry. */
export function merge(parts: ReadonlyArray<MetricsJson>): Registry {
  return AggregatorRegistry.aggregate(parts.filter((p) => p.length > 0));
}
