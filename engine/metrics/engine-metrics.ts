/**
 * The main (ingress) thread's metrics and the /metrics exposition: this
 * thread's registry merged with every actor's latest snapshot (sent from its
 * worker thread) and what crashed incarnations counted before them. Queue
 * gauges are read from Redis at scrape time (one pipelined round trip:
 * XLEN and XINFO GROUPS per partition); counters fed by the ingress are
 * incremented where things happen; the rest is read from the engine's parts
 * when scraped.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Redis } from 'ioredis';
import type { RouteHealth } from '../../router/index.js';
import type { IngressObserver } from '../ingress/ingress-server.js';
import type { Keys } from '../queue/keys.js';
import type { EventsStreamStats } from '../queue/events-trimmer.js';
import { GROUP } from '../queue/keys.js';
import { buildMetrics, keysOf, merge, type MetricsJson } from './registry.js';

export interface EngineMetricSources {
  readonly redis: Redis;
  readonly keys: Keys;
  readonly smscs: ReadonlyArray<{ readonly id: string }>;
  readonly health: () => RouteHealth;
  readonly wsConnections: () => number;
  readonly framesIn: () => number;
  readonly statusPushes: () => number;
  readonly failoverMoved: () => number;
  readonly reloads: () => { ok: number; refused: number };
  readonly actorParts: () => MetricsJson[];
  readonly analytics: () => { ready: boolean; inserted: number; failures: number; lagMs: number; lastBatchSize: number; backlog: number; rssMb: number; flagged: number } | undefined;
  /** The events stream's length and its consumer groups' lag (engine/queue/events-trimmer.ts). */
  readonly eventsStream?: () => EventsStreamStats;
  /** Scheduler and cancel counts of this node (engine/lifecycle/). */
  readonly lifecycle?: () => { queued: number; expired: number; cancels: Readonly<Record<string, number>> };
  readonly now?: () => number;
}

export class EngineMetrics implements IngressObserver {
  readonly registry = new Registry();
  private readonly m = buildMetrics(keysOf('main'), this.registry);
  private readonly seen = { framesIn: 0, statusPushes: 0, failoverMoved: 0, ok: 0, refused: 0, sinkInserted: 0, sinkFailures: 0 };
  private readonly seenLifecycle = new Map<string, number>();

  constructor(private readonly src: EngineMetricSources) {
    collectDefaultMetrics({ register: this.registry, labels: { thread: 'main' } });
  }

  accepted(tenant: string): void {
    this.m.accepted.inc({ tenant });
  }

  refused(tenant: string, code: string): void {
    this.m.refused.inc({ tenant, code });
  }

  ack(ms: number): void {
    this.m.ackLatency.observe(ms / 1000);
  }

  enqueue(ms: number): void {
    this.m.enqueueLatency.observe(ms / 1000);
  }

  held(tenant: string, reason: string): void {
    this.m.moderationHeld.inc({ tenant, reason });
  }

  actorRestarted(smsc: string): void {
    this.m.workerRestarts.inc({ smsc });
  }

  /** The Prometheus text exposition of every thread. */
  async expose(): Promise<string> {
    await this.refresh();
    // prom-client's nodejs_active_*_total are gauges named like counters (promtool flags them);
    // the same figures are exported as nodejs_active_handles / _requests / _resources.
    const mine = (await this.registry.getMetricsAsJSON()).filter((x) => !/^nodejs_active_\w+_total$/.test(x.name));
    return await merge([mine, ...this.src.actorParts()]).metrics();
  }

  private async refresh(): Promise<void> {
    const s = this.src;
    this.m.wsConnections.set(s.wsConnections());
    this.bump('framesIn', s.framesIn(), () => this.m.wsFramesIn);
    this.bump('statusPushes', s.statusPushes(), () => this.m.statusPushes);
    this.bump('failoverMoved', s.failoverMoved(), () => this.m.failoverMoved);
    const r = s.reloads();
    if (r.ok > this.seen.ok) this.m.routingReloads.inc({ result: 'ok' }, r.ok - this.seen.ok);
    if (r.refused > this.seen.refused) this.m.routingReloads.inc({ result: 'refused' }, r.refused - this.seen.refused);
    this.seen.ok = r.ok;
    this.seen.refused = r.refused;
    const a = s.analytics();
    if (a !== undefined) {
      this.bump('sinkInserted', a.inserted, () => this.m.sinkInserted);
      this.bump('sinkFailures', a.failures, () => this.m.sinkFailures);
      this.m.sinkLag.set(a.lagMs / 1000);
      this.m.sinkBatch.set(a.lastBatchSize);
      this.m.sinkReady.set(a.ready ? 1 : 0);
      if (a.backlog >= 0) this.m.sinkBacklog.set(a.backlog);
      this.m.analyticsRss.set(a.rssMb * 2 ** 20);
      this.m.flaggedNumbers.set(a.flagged);
    }
    const ev = s.eventsStream?.();
    if (ev !== undefined) {
      this.m.eventsLength.set(ev.length);
      for (const g of ev.groups) this.m.eventsGroupLag.set({ group: g.name }, g.lag);
    }
    const life = s.lifecycle?.();
    if (life !== undefined) {
      const counts: Array<[string, typeof this.m.schedulerMoves, string, number]> = [
        ['m:queued', this.m.schedulerMoves, 'queued', life.queued],
        ['m:expired', this.m.schedulerMoves, 'expired', life.expired],
        ...Object.entries(life.cancels).map(([k, v]): [string, typeof this.m.cancels, string, number] => ['c:' + k, this.m.cancels, k, v]),
      ];
      for (const [key, metric, result, v] of counts) {
        const was = this.seenLifecycle.get(key) ?? 0;
        if (v > was) metric.inc({ result }, v - was);
        this.seenLifecycle.set(key, v);
      }
    }
    const h = s.health();
    const now = (s.now ?? Date.now)();
    h.smscs.forEach((smsc, i) => {
      const open = (h.circuitOpenUntil[i] as number) > now;
      this.m.circuitOpen.set({ smsc }, open ? 1 : 0);
      this.m.smscEligible.set({ smsc }, h.up[i] === 1 && !open ? 1 : 0);
      this.m.deliveryRate.set({ smsc }, h.deliveryRate[i] as number);
    });
    const p = s.redis.pipeline();
    p.zcard(s.keys.schedule());
    for (const c of s.smscs) for (const q of s.keys.queuesOf(c.id)) p.xlen(q).xinfo('GROUPS', q);
    const res = (await p.exec().catch(() => null)) ?? [];
    const [ez, scheduled] = res[0] ?? [new Error('no reply'), null];
    if (ez === null) this.m.scheduled.set(Number(scheduled));
    let k = 1;
    for (const c of s.smscs) {
      for (let i = 0; i < s.keys.shards.count; i++) {
        const labels = { smsc: c.id, partition: String(i) };
        const [e1, len] = res[k++] ?? [new Error('no reply'), null];
        const [e2, groups] = res[k++] ?? [new Error('no reply'), null];
        if (e1 === null) this.m.queueDepth.set(labels, Number(len));
        if (e2 === null && Array.isArray(groups)) {
          for (const g of groups as unknown[][]) {
            if (g[g.indexOf('name') + 1] !== GROUP) continue;
            this.m.queuePending.set(labels, Number(g[g.indexOf('pending') + 1] ?? 0));
            const lag = g[g.indexOf('lag') + 1];
            // Redis reports no lag after deletions it cannot account for: then depth − pending is exact here
            // (sent entries are deleted), so use that.
            this.m.queueLag.set(labels, lag === null || lag === undefined ? Math.max(0, Number(len) - Number(g[g.indexOf('pending') + 1] ?? 0)) : Number(lag));
          }
        }
      }
    }
  }

  private bump(key: 'framesIn' | 'statusPushes' | 'failoverMoved' | 'sinkInserted' | 'sinkFailures', value: number, metric: () => { inc(v: number): void }): void {
    if (value > this.seen[key]) metric().inc(value - this.seen[key]);
    this.seen[key] = value;
  }
}
