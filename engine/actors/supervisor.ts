/**
 * The supervisor: starts one operator actor per SMSC as a long-running piscina
 * task, watches it, and restarts it with backoff when it crashes or its worker
 * thread dies. A crash loses nothing: the actor's unacknowledged stream entries
 * stay pending in Redis and the restarted actor (same consumer name) re-reads
 * them first.
 *
 * One actor per thread, so that a crash affects one SMSC only. What "crash"
 * means: an exception nobody catches in the actor's thread (a bug, a hostile
 * input that slipped through), running out of its heap, or the thread being
 * terminated. Each ends the whole worker thread, and piscina fails every task
 * that thread ran. With several actors per thread (concurrentTasksPerWorker
 * above 1, as before) one SMSC's fault restarted the others, and a restarted
 * actor could land on a thread hosting another SMSC, tying their fates from
 * then on. Catching the exception in the thread and guessing whose it was
 * (async context) would leave the thread running on after a fault with state
 * nobody can vouch for; a worker thread is the smallest unit Node can throw
 * away whole. So the pool has exactly one thread per SMSC and each thread
 * takes one task: piscina replaces a dead thread (minThreads) and the
 * restarted actor can only go to a free one. Piscina stays: it still owns
 * thread creation, replacement and shutdown.
 *
 * Bind leases (engine/fleet/): after each fleet tick the engine hands the
 * supervisor the slots this node holds of each SMSC (setLeases); the actor
 * gets them over its port (and a restarted actor the latest at once), and
 * says when it closed a drained slot's bind ('released').
 */
import { EventEmitter } from 'node:events';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { workerScript } from '../worker-script.js';
import { cumulativeOnly, merge, type MetricsJson } from '../metrics/registry.js';
import type { ActorReport, ActorSmscConfig, ActorStats, ActorTask } from './messages.js';
import type { ActorMoConfig } from '../mo/mo-recorder.js';
import type { RedisTarget } from '../redis/connect-redis.js';
import type { SmscLeases } from '../fleet/fleet.js';

export interface SupervisorOptions {
  /** How many actors start() will be given: the pool has a thread for each, started at once. */
  readonly actors: number;
  /** A single Redis or a cluster (connect-redis.ts): each actor thread connects itself. */
  readonly redis: RedisTarget;
  readonly keyPrefix: string;
  /** redis.shards: names the keys. */
  readonly shards: number;
  readonly nodeId: string;
  readonly reclaimIdleMs: number;
  /** Bind slots are leased (engine/fleet/): actors bind only what setLeases says this node holds. */
  readonly leased?: boolean;
  readonly drainMs?: number;
  readonly stateFlushMs: number;
  readonly metrics: boolean;
  readonly receiptGraceSec: number;
  readonly eventsMaxLen: number;
  readonly finalRetentionSec: number;
  readonly restartBackoffMs: { readonly min: number; readonly max: number };
  readonly mo: ActorMoConfig;
  readonly optOutHorizonSec: number;
}

interface ActorHandle {
  readonly smsc: ActorSmscConfig;
  port: MessagePort | undefined;
  threadId: number | undefined;
  running: boolean;
  restarts: number;
  startedAt: number;
  stats: ActorStats | undefined;
  done: Promise<unknown> | undefined;
  /** The live incarnation's latest metrics, and what earlier incarnations counted (counters, histograms). */
  metrics: MetricsJson;
  carried: MetricsJson;
}

export class Supervisor extends EventEmitter {
  private readonly pool: Piscina;
  private readonly actors = new Map<string, ActorHandle>();
  private stopping = false;
  /** The latest bind leases per SMSC (engine/fleet/): sent to the actor, and again to a restarted one. */
  private readonly leases = new Map<string, SmscLeases>();

  constructor(private readonly o: SupervisorOptions) {
    super();
    // Created here, not in start(): the threads load their code while the engine finishes starting.
    this.pool = new Piscina({
      filename: workerScript('./actor-worker.js', import.meta.url),
      minThreads: o.actors,
      maxThreads: o.actors,
      idleTimeout: Number.MAX_SAFE_INTEGER,
      // One long-lived actor per thread: a thread's death is one SMSC's restart (see the header).
      concurrentTasksPerWorker: 1,
      maxQueue: 'auto',
    });
    this.pool.on('error', (err: Error) => this.emit('log', 'error', '*', `worker pool error: ${err.message}`));
  }

  start(smscs: ReadonlyArray<ActorSmscConfig>): void {
    if (smscs.length > this.o.actors) throw new Error(`the supervisor was built for ${this.o.actors} actors, given ${smscs.length}`);
    for (const smsc of smscs) {
      const h: ActorHandle = { smsc, port: undefined, threadId: undefined, running: false, restarts: 0, startedAt: 0, stats: undefined, done: undefined, metrics: [], carried: [] };
      this.actors.set(smsc.id, h);
      this.run(h);
    }
  }

  private run(h: ActorHandle): void {
    const { port1, port2 } = new MessageChannel();
    h.port = port1;
    h.running = true;
    h.startedAt = Date.now();
    port1.on('message', (r: ActorReport) => {
      if (r.type === 'started') {
        h.threadId = r.threadId;
        this.emit('started', r.smsc, r.threadId);
      } else if (r.type === 'stats') {
        h.stats = r.stats;
        if (r.metrics !== undefined) h.metrics = r.metrics;
        if (r.threadMetrics !== undefined) this.threadMetrics.set(r.stats.threadId, r.threadMetrics);
        this.emit('stats', r.stats);
      } else if (r.type === 'released') this.emit('released', r.smsc, r.index);
      else this.emit('log', r.level, r.smsc, r.msg);
    });
    const leases = this.leases.get(h.smsc.id);
    if (leases !== undefined) port1.postMessage({ type: 'leases', leases });
    const task: ActorTask = {
      smsc: h.smsc,
      redis: this.o.redis,
      keyPrefix: this.o.keyPrefix,
      shards: this.o.shards,
      consumer: `${this.o.nodeId}:${h.smsc.id}`,
      reclaimIdleMs: this.o.reclaimIdleMs,
      leased: this.o.leased ?? false,
      drainMs: this.o.drainMs ?? 5_000,
      stateFlushMs: this.o.stateFlushMs,
      metrics: this.o.metrics,
      receiptGraceSec: this.o.receiptGraceSec,
      eventsMaxLen: this.o.eventsMaxLen,
      finalRetentionSec: this.o.finalRetentionSec,
      mo: this.o.mo,
      optOutHorizonSec: this.o.optOutHorizonSec,
      port: port2,
    };
    h.done = this.pool.run(task, { transferList: [port2] }).then(
      () => {
        h.running = false;
        port1.close();
      },
      (err: Error) => {
        h.running = false;
        port1.close();
        // The dead incarnation's counts carry over, so counters never go backwards after a restart.
        this.carryOver(h);
        if (this.stopping) return;
        // A healthy run resets the backoff.
        if (Date.now() - h.startedAt > 30_000) h.restarts = 0;
        const r = this.o.restartBackoffMs;
        const delay = Math.min(r.max, r.min * 2 ** Math.min(h.restarts, 20));
        h.restarts++;
        this.emit('crash', h.smsc.id, err, delay);
        setTimeout(() => {
          if (!this.stopping) {
            this.emit('restart', h.smsc.id, h.restarts);
            this.run(h);
          }
        }, delay);
      },
    );
  }

  private readonly threadMetrics = new Map<number, MetricsJson>();

  private carryOver(h: ActorHandle): void {
    const dead = cumulativeOnly(h.metrics);
    h.metrics = [];
    if (dead.length === 0) return;
    const pending = merge([h.carried, dead]).getMetricsAsJSON();
    void pending.then((j) => (h.carried = j));
    // Until the merge resolves (microtasks), keep both parts; merge() sums them either way.
    h.carried = [...h.carried, ...dead];
  }

  /** Every actor's metrics (live and carried over) and each live thread's gauges, for /metrics. */
  metricsParts(): MetricsJson[] {
    const out: MetricsJson[] = [];
    const liveThreads = new Set<number>();
    for (const h of this.actors.values()) {
      out.push(h.carried, h.metrics);
      if (h.running && h.stats !== undefined) liveThreads.add(h.stats.threadId);
    }
    for (const [t, m] of this.threadMetrics) if (liveThreads.has(t)) out.push(m);
    return out;
  }

  /** The bind slots this node holds of an SMSC (a fleet tick): the actor binds and submits on those only. */
  setLeases(smsc: string, leases: SmscLeases): void {
    this.leases.set(smsc, leases);
    const h = this.actors.get(smsc);
    if (h?.running === true) h.port?.postMessage({ type: 'leases', leases });
  }

  /** Latest stats reported by every actor. */
  stats(): ActorStats[] {
    const out: ActorStats[] = [];
    for (const h of this.actors.values()) if (h.stats) out.push(h.stats);
    return out;
  }

  actorState(smsc: string): { running: boolean; threadId: number | undefined; restarts: number } | undefined {
    const h = this.actors.get(smsc);
    return h && { running: h.running, threadId: h.threadId, restarts: h.restarts };
  }

  /** Fault injection (tests, chaos drills): an uncaught exception in the thread hosting an SMSC's actor. */
  crashActor(smsc: string): boolean {
    const h = this.actors.get(smsc);
    if (h === undefined || !h.running || h.port === undefined) return false;
    h.port.postMessage({ type: 'crash' });
    return true;
  }

  /** Fault injection (tests, chaos drills): terminates the worker thread hosting an SMSC's actor. */
  async killWorkerOf(smsc: string): Promise<boolean> {
    const h = this.actors.get(smsc);
    if (h?.threadId === undefined) return false;
    const w = this.pool.threads.find((t) => t.threadId === h.threadId);
    if (w === undefined) return false;
    h.threadId = undefined;
    await w.terminate();
    return true;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const h of this.actors.values()) if (h.running) h.port?.postMessage({ type: 'stop' });
    await Promise.allSettled([...this.actors.values()].map((h) => h.done));
    await this.pool.destroy();
  }
}
