/**
 * The supervisor: starts one operator actor per SMSC as a long-running piscina
 * task, watches it, and restarts it with backoff when it crashes or its worker
 * thread dies. A crash loses nothing: the actor's unacknowledged stream entries
 * stay pending in Redis and the restarted actor (same consumer name) re-reads
 * them first.
 */
import { EventEmitter } from 'node:events';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { workerScript } from '../worker-script.js';
import type { ActorReport, ActorSmscConfig, ActorStats, ActorTask } from './messages.js';

export interface SupervisorOptions {
  readonly threads: number;
  readonly redisUrl: string;
  readonly keyPrefix: string;
  readonly nodeId: string;
  readonly reclaimIdleMs: number;
  readonly stateFlushMs: number;
  readonly receiptGraceSec: number;
  readonly eventsMaxLen: number;
  readonly finalRetentionSec: number;
  readonly restartBackoffMs: { readonly min: number; readonly max: number };
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
}

export class Supervisor extends EventEmitter {
  private readonly pool: Piscina;
  private readonly actors = new Map<string, ActorHandle>();
  private stopping = false;

  constructor(private readonly o: SupervisorOptions) {
    super();
    this.pool = new Piscina({
      filename: workerScript('./actor-worker.js', import.meta.url),
      minThreads: o.threads,
      maxThreads: o.threads,
      idleTimeout: Number.MAX_SAFE_INTEGER,
      // Actors are long-lived tasks: each thread hosts several.
      concurrentTasksPerWorker: 1024,
      maxQueue: 'auto',
    });
    this.pool.on('error', (err: Error) => this.emit('log', 'error', '*', `worker pool error: ${err.message}`));
  }

  start(smscs: ReadonlyArray<ActorSmscConfig>): void {
    for (const smsc of smscs) {
      const h: ActorHandle = { smsc, port: undefined, threadId: undefined, running: false, restarts: 0, startedAt: 0, stats: undefined, done: undefined };
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
        this.emit('stats', r.stats);
      } else this.emit('log', r.level, r.smsc, r.msg);
    });
    const task: ActorTask = {
      smsc: h.smsc,
      redisUrl: this.o.redisUrl,
      keyPrefix: this.o.keyPrefix,
      consumer: `${this.o.nodeId}:${h.smsc.id}`,
      reclaimIdleMs: this.o.reclaimIdleMs,
      stateFlushMs: this.o.stateFlushMs,
      receiptGraceSec: this.o.receiptGraceSec,
      eventsMaxLen: this.o.eventsMaxLen,
      finalRetentionSec: this.o.finalRetentionSec,
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
