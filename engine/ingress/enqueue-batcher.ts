/**
 * Collects accepted messages during one event-loop tick and writes them to
 * Redis in one script call (queue/lua/enqueue.lua: one round trip, atomic, idempotent), then calls each submitter back.
 * The ack to the client is sent only from that callback: ack means in Redis.
 */
import { LatencyHistogram } from '../flow/latency-histogram.js';
import type { EnqueueOutcome, NewMessage, RedisStore } from '../queue/redis-store.js';

/** Called with where the message went (its status in the ack; or a repeat of an idempotency key) once Redis has it. */
export type EnqueueCallback = (err: Error | null, outcome?: EnqueueOutcome) => void;

export class EnqueueBatcher {
  private msgs: NewMessage[] = [];
  private cbs: EnqueueCallback[] = [];
  private scheduled = false;
  private inFlight = 0;
  /** Time from the flush to Redis's answer, per batch. */
  readonly latency = new LatencyHistogram();
  batches = 0;

  constructor(
    private readonly store: RedisStore,
    private readonly maxBatch = 2_000,
  ) {}

  /** Told each enqueue call's duration (metrics). */
  onLatency: ((ms: number) => void) | undefined;

  add(m: NewMessage, cb: EnqueueCallback): void {
    this.msgs.push(m);
    this.cbs.push(cb);
    if (this.msgs.length >= this.maxBatch) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Batches being written right now (for readiness and shutdown). */
  get pending(): number {
    return this.inFlight + this.msgs.length;
  }

  readonly flush = (): void => {
    this.scheduled = false;
    if (this.msgs.length === 0) return;
    const msgs = this.msgs;
    const cbs = this.cbs;
    this.msgs = [];
    this.cbs = [];
    this.inFlight += msgs.length;
    this.batches++;
    const t0 = performance.now();
    this.store.enqueue(msgs).then(
      (disp) => {
        this.latency.record(performance.now() - t0);
        this.onLatency?.(performance.now() - t0);
        this.inFlight -= msgs.length;
        for (let i = 0; i < cbs.length; i++) (cbs[i] as EnqueueCallback)(null, disp[i]);
      },
      (err: Error) => {
        this.inFlight -= msgs.length;
        for (const cb of cbs) cb(err);
      },
    );
  };
}
