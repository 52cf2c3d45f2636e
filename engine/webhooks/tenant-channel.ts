/**
 * One lane of a tenant's webhook delivery: its events, in order, one POST at
 * a time, from memory while the receiver keeps up, from a Redis list when it
 * does not. A tenant has `concurrency` lanes (default 4), events spread over
 * them by message id (laneOf), so one message's events stay in order while
 * POSTs to a distant receiver overlap: a lane carries maxBatch events per
 * round trip (500 per 50 ms = 10,000 events/s), four lanes 40,000.
 *
 *   ev entry ─▶ buffer (memory; its entries stay pending on ev)
 *                 │ POST from the buffer's head ─▶ 2xx: XACK on ev (batched)
 *                 │ the oldest part moves to the list (dispatcher's append: RPUSH + XACK, one MULTI):
 *                 │   all of it while the receiver is failing; past bufferMax otherwise
 *                 ▼
 *   whq:{tenant}:{node}  list, always older than the buffer ─LRANGE head─ POST ─▶ 2xx: LTRIM
 *      a failed POST from the buffer goes to the list's head (LPUSH + XACK, one MULTI)
 *      retryable failure: back off (exponential, jitter, capped); events past retryForSec → dead letters
 *      refused (other 3xx/4xx) → dead letters at once, and on to the next batch
 *   The list is drained first; once empty (and no append on its way), the buffer again.
 *
 * Invariant: everything in the list is older than everything in the buffer,
 * so order holds across both (the list is appended from the buffer's head,
 * and a failed batch, the oldest of all, goes to the list's head). A POST
 * with less than a full batch waits until lingerMs after the tenant's
 * previous POST (any lane): under load each POST carries many events (few
 * requests, little CPU on both sides) and lanes fill up and overlap only when
 * the receiver is slow, while an event after a quiet spell goes at once.
 *
 * An entry of ev is acknowledged only once its event was answered 2xx or is
 * in the list (or the dead letters): a crash re-reads what was in memory from
 * ev's pending entries, so nothing is lost; what was posted but not yet
 * acknowledged is posted again (at least once; receivers drop repeats by
 * `eid`). Memory per tenant is bounded (bufferMax plus one batch per lane): a receiver
 * that is down or slow costs Redis memory, never engine memory, and never
 * holds other tenants back (each tenant has its own loop).
 */
import type { Redis } from 'ioredis';
import type { Clock } from '../flow/clock.js';
import type { PostOutcome, Poster } from './post-webhook.js';
import { retryDelayMs } from './retry-policy.js';
import { callbackOf, deadLetter, eventTime, sameTarget, webhookBatch, type DeadLetterReason } from './webhook-batch.js';
import type { WebhookMetrics } from './webhook-metrics.js';

export interface WebhookTenant {
  readonly id: string;
  readonly url: string;
  readonly secret: string;
  readonly timeoutMs: number;
  readonly maxBatch: number;
  readonly retryForSec: number;
  readonly backoffMs: { readonly min: number; readonly max: number };
  readonly maxQueued: number;
  readonly maxDeadLetters: number;
  /** A POST with less than a full batch waits until this long after the previous one started (ms). */
  readonly lingerMs: number;
  /** Lanes: POSTs in flight at once (laneOf keeps one message's events in one lane). */
  readonly concurrency: number;
}

/** An events-stream entry of a tenant with a webhook: its public eid (s<K>-<ms>-<seq>: shard and stream id) and the event as posted. */
export interface PendingEvent {
  readonly eid: string;
  readonly event: string;
}

/** What a channel needs from its dispatcher. */
export interface ChannelHost {
  readonly redis: Redis;
  readonly clock: Clock;
  readonly post: Poster;
  readonly metrics: WebhookMetrics | undefined;
  /** Aborted when the dispatcher stops: POSTs in flight end, nothing more is written. */
  readonly stopSignal: AbortSignal;
  readonly random: () => number;
  ackLater(events: ReadonlyArray<{ readonly eid: string }>): void;
  /**
   * Runs `build`'s commands on the tenant's lists in one MULTI and acknowledges
   * `events` on the events streams: in that MULTI on a single Redis; after it
   * on a cluster (other slots). Returns the replies of `build`'s commands.
   */
  commitAndAck(build: (m: ReturnType<Redis['multi']>) => void, events: ReadonlyArray<{ readonly eid: string }>): Promise<unknown[]>;
  /** Moves what channels give up (takeSpill) to their lists; resolves once that and any earlier append is done. */
  flushAppends(): Promise<void>;
  log(level: 'info' | 'warn' | 'error', msg: string): void;
}

/** Shared by a tenant's lanes: when its last POST started (lingerMs counts from it). */
export interface TenantPace {
  lastPostAt: number;
}

export interface ChannelState {
  readonly tenant: string;
  /** Lanes (one per channel; a tenant's state sums them). */
  readonly lanes: number;
  readonly url: string;
  /** direct: posting from memory; queued: the Redis list holds events (the receiver failed or fell behind). */
  readonly mode: 'direct' | 'queued';
  /** Events in the Redis list (last known). */
  readonly queued: number;
  readonly deadLetters: number;
  /** Events held in memory (read, not yet posted or queued). */
  readonly inMemory: number;
  /** Consecutive failed attempts of the batch at the head. */
  readonly failures: number;
  /** When the next attempt is due (ms), while backing off. */
  readonly nextAttemptAt: number | null;
  readonly lastError: string | null;
  readonly delivered: number;
}

const REDIS_RETRY_MS = 1000;
/** Elements per LPUSH/RPUSH/XACK command (bounded argument lists). */
const CHUNK = 5000;

function chunks<T>(list: ReadonlyArray<T>): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += CHUNK) out.push(list.slice(i, i + CHUNK));
  return out;
}

/** Runs a MULTI and throws the first error in it (ioredis reports them per command). */
export async function execOrThrow(m: ReturnType<Redis['multi']>): Promise<unknown[]> {
  const res = await m.exec();
  if (res === null) throw new Error('transaction aborted');
  return res.map(([err, v]) => {
    if (err) throw err;
    return v;
  });
}

export class TenantChannel {
  /** Events of this tenant inside an append that Redis has not confirmed yet. */
  spilling = 0;
  /** Length of the Redis list as of the latest reply on the dispatcher's connection (replies come in order). */
  queueLen = 0;
  deadLetters = 0;
  /** Read from ev, not posted yet (pending on ev); newer than everything in the list. */
  private buffer: PendingEvent[] = [];
  /** The batch being posted from the buffer, or persisted after it failed (pending on ev). */
  private inflight: PendingEvent[] | undefined;
  private failures = 0;
  private nextAttemptAt = 0;
  private lastError: string | undefined;
  private delivered = 0;
  private batchLimit: number;
  private readonly bufferMax: number;
  private wakeUp: (() => void) | undefined;
  /** What the loop waits for: new events (idle), a full batch (lingering), or only time/stop/kick. */
  private waiting: 'idle' | 'linger' | 'timer' | undefined;
  private stopped = false;
  private loopDone: Promise<void> | undefined;
  /** For logs: the tenant, and the lane when it has several. */
  private readonly name: string;
  /** Last time each kind of warning was logged (at most one a second each: a receiver refusing everything must not flood the log). */
  private readonly logged = new Map<string, number>();
  /** Spilling because the receiver is slower than the traffic (logged once per episode). */
  private behind = false;

  constructor(
    readonly cfg: WebhookTenant,
    private readonly host: ChannelHost,
    readonly lane: number,
    readonly queueKey: string,
    readonly deadKey: string,
    private readonly pace: TenantPace = { lastPostAt: -Infinity },
  ) {
    this.batchLimit = cfg.maxBatch;
    this.name = cfg.concurrency === 1 && lane === 0 ? cfg.id : `${cfg.id}/${lane}`;
    // Room for several batches while one is in flight (absorbs a receiver's hiccup of a few hundred ms at
    // full rate); past it the receiver is behind and Redis holds the rest.
    this.bufferMax = Math.max(10 * cfg.maxBatch, 2000);
  }

  start(): void {
    this.loopDone ??= this.run();
  }

  /** Ends the loop after the current step (a POST in flight ends when the dispatcher aborts it). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.loopDone;
  }

  /** An event read from ev for this tenant. */
  accept(e: PendingEvent): void {
    this.buffer.push(e);
    if (this.waiting === 'idle' || (this.waiting === 'linger' && this.buffer.length >= this.batchLimit)) this.wake();
  }

  /**
   * The oldest buffered events to move to the list now: all of them while the
   * receiver is failing (they may wait for hours: Redis keeps them, not ev's
   * pending list), else what is past bufferMax (down to half of it).
   */
  takeSpill(): PendingEvent[] {
    const n = this.failures > 0 ? this.buffer.length : this.buffer.length > this.bufferMax ? this.buffer.length - (this.bufferMax >> 1) : 0;
    if (n === 0) return [];
    if (this.failures === 0 && !this.behind) this.host.log('info', `webhooks [${this.name}]: receiver behind (${this.buffer.length} events waiting); the oldest move to Redis`);
    this.behind = this.failures === 0;
    this.spilling += n;
    return this.buffer.splice(0, n);
  }

  /** An append is done (ok: in the list) or failed (the events go back to the buffer's head, in order). */
  spilled(events: PendingEvent[], ok: boolean): void {
    this.spilling -= events.length;
    if (!ok) this.buffer = events.concat(this.buffer);
  }

  /** Events were put in the Redis list by someone else (a dead-letter replay): drain it; retryNow cuts a backoff short. */
  kick(retryNow: boolean): void {
    this.queueLen = Math.max(this.queueLen, 1);
    if (retryNow) this.nextAttemptAt = 0;
    this.wake();
  }

  /** Ids of the ev entries this channel holds in memory. */
  held(into: Set<string>): void {
    for (const list of [this.buffer, this.inflight ?? []]) for (const e of list) into.add(e.eid);
  }

  state(): ChannelState {
    return {
      tenant: this.cfg.id,
      lanes: 1,
      url: this.cfg.url,
      mode: this.queueLen > 0 || this.failures > 0 ? 'queued' : 'direct',
      queued: this.queueLen,
      deadLetters: this.deadLetters,
      inMemory: this.buffer.length + (this.inflight?.length ?? 0),
      failures: this.failures,
      nextAttemptAt: this.failures > 0 ? this.nextAttemptAt : null,
      lastError: this.lastError ?? null,
      delivered: this.delivered,
    };
  }

  /** Logs a warning unless one of this kind was logged in the last second. */
  private warn(kind: string, msg: string): void {
    const now = this.host.clock.now();
    if (now - (this.logged.get(kind) ?? -Infinity) < 1000) return;
    this.logged.set(kind, now);
    this.host.log('warn', msg);
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    this.waiting = undefined;
    w?.();
  }

  /** Waits for wake() (new events when idle, a full batch when lingering, kick, stop) or ms. */
  private async sleep(why: 'idle' | 'linger' | 'timer', ms?: number): Promise<void> {
    if (this.stopped) return;
    await new Promise<void>((ok) => {
      const t = ms === undefined ? undefined : setTimeout(() => this.wake(), ms);
      this.waiting = why;
      this.wakeUp = () => {
        if (t !== undefined) clearTimeout(t);
        ok();
      };
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.step();
      } catch (err) {
        if (this.stopped) break;
        this.lastError = `redis: ${(err as Error).message}`;
        this.warn('redis', `webhooks [${this.name}]: ${this.lastError}; retrying in ${REDIS_RETRY_MS} ms`);
        await this.sleep('timer', REDIS_RETRY_MS);
      }
    }
  }

  private async step(): Promise<void> {
    const now = this.host.clock.now();
    if (this.failures > 0 && now < this.nextAttemptAt) return await this.sleep('timer', this.nextAttemptAt - now);
    if (this.queueLen > 0) return await this.fromList();
    // Events on their way to the list are older than the buffer: they go first, from the list.
    if (this.spilling > 0) return await this.host.flushAppends();
    if (this.buffer.length === 0) return await this.sleep('idle');
    const due = this.pace.lastPostAt + this.cfg.lingerMs;
    if (this.buffer.length < this.batchLimit && now < due) return await this.sleep('linger', due - now);
    await this.fromBuffer();
  }

  /** Retries a Redis write until it succeeds; gives up only when stopping (the entries stay pending on ev). */
  private async persist(write: () => Promise<void>): Promise<void> {
    for (;;) {
      try {
        return await write();
      } catch (err) {
        if (this.stopped) return;
        this.warn('redis', `webhooks [${this.name}]: redis: ${(err as Error).message}; retrying in ${REDIS_RETRY_MS} ms`);
        await this.sleep('timer', REDIS_RETRY_MS);
      }
    }
  }

  private async attempt(events: ReadonlyArray<string>): Promise<PostOutcome> {
    const retry = this.failures > 0;
    const now = this.host.clock.now();
    this.pace.lastPostAt = now;
    const out = await this.host.post({
      // A per-message callback (issue 15): the batch's events share it (sameTarget), signed with the tenant's secret.
      url: callbackOf(events[0] as string) ?? this.cfg.url,
      tenant: this.cfg.id,
      secret: this.cfg.secret,
      body: webhookBatch(this.cfg.id, events),
      attempt: this.failures + 1,
      timeoutMs: this.cfg.timeoutMs,
      stop: this.host.stopSignal,
      now,
    });
    if (this.host.stopSignal.aborted) return out;
    // A single event that is too large can never go: refused.
    const result = out.result === 'too_large' && events.length === 1 ? 'refused' : out.result;
    this.host.metrics?.attempt(this.cfg.id, result, retry);
    return result === out.result ? out : { ...out, result };
  }

  private onDelivered(events: ReadonlyArray<string>): void {
    this.delivered += events.length;
    if (this.failures > 0) this.host.log('info', `webhooks [${this.name}]: receiver answers again after ${this.failures} failed attempt(s)`);
    this.failures = 0;
    this.lastError = undefined;
    this.host.metrics?.delivered(this.cfg.id, events, this.host.clock.now());
  }

  /** A failed attempt: halve the batch (413) or back off. */
  private onFailure(out: PostOutcome, n: number): void {
    this.lastError = out.error ?? out.result;
    if (out.result === 'too_large') {
      this.batchLimit = Math.max(1, Math.floor(n / 2));
      this.host.log('warn', `webhooks [${this.name}]: receiver refused a batch of ${n} as too large (413); sending at most ${this.batchLimit} per POST`);
      return;
    }
    this.failures++;
    const delay = retryDelayMs(this.failures, this.cfg.backoffMs, this.host.random, out.retryAfterMs ?? 0);
    this.nextAttemptAt = this.host.clock.now() + delay;
    this.warn('attempt', `webhooks [${this.name}]: attempt ${this.failures} failed (${this.lastError}); next attempt in ${delay} ms`);
  }

  private async fromBuffer(): Promise<void> {
    const batch = this.buffer.splice(0, this.buffer.length <= 1 ? this.batchLimit : sameTarget(this.buffer.slice(0, this.batchLimit).map((e) => e.event), this.batchLimit));
    this.inflight = batch;
    try {
      const events = batch.map((e) => e.event);
      const out = await this.attempt(events);
      if (this.host.stopSignal.aborted) return; // still pending on ev: read again after the restart
      if (out.result === 'ok') {
        this.host.ackLater(batch);
        this.onDelivered(events);
      } else if (out.result === 'refused') {
        await this.persist(() => this.deadLetterFromEv(batch, out));
      } else if (out.result === 'too_large') {
        this.onFailure(out, batch.length);
        this.buffer = batch.concat(this.buffer); // again at once, in smaller batches
      } else {
        // The oldest of all: to the list's head; the rest of the buffer follows it (spilled while failing).
        this.onFailure(out, batch.length);
        await this.persist(() => this.queueAtHead(batch));
        this.inflight = undefined;
        await this.host.flushAppends();
      }
    } finally {
      this.inflight = undefined;
    }
  }

  private async fromList(): Promise<void> {
    const read = await this.host.redis.lrange(this.queueKey, 0, this.batchLimit - 1);
    // One POST goes to one URL: the events at the head that share the first one's (per-message callbacks, issue 15).
    const items = read.slice(0, sameTarget(read, this.batchLimit));
    if (items.length === 0) {
      this.queueLen = 0;
      this.behind = false;
      return;
    }
    const out = await this.attempt(items);
    if (this.host.stopSignal.aborted) return;
    if (out.result === 'ok') {
      await this.persist(() => this.trimQueue(items.length));
      this.onDelivered(items);
      return;
    }
    if (out.result === 'refused') {
      await this.persist(() => this.deadLetterFromQueue(items, items.length, 'refused', out));
      return;
    }
    this.onFailure(out, items.length);
    if (out.result === 'too_large') return;
    // Events retried for retryForSec since they happened leave for the dead letters (they lead the list: oldest first).
    const deadline = this.host.clock.now() - this.cfg.retryForSec * 1000;
    let k = 0;
    while (k < items.length && eventTime(items[k] as string) < deadline) k++;
    if (k > 0) await this.persist(() => this.deadLetterFromQueue(items, k, 'expired', out));
  }

  /** A failed batch from the buffer goes to the head of the list, and its ev entries are acknowledged (commitAndAck). */
  private async queueAtHead(batch: ReadonlyArray<PendingEvent>): Promise<void> {
    const res = await this.host.commitAndAck((m) => {
      // LPUSH k e3 e2 e1 leaves e1 e2 e3 at the head.
      for (const c of chunks(batch.map((e) => e.event).reverse())) m.lpush(this.queueKey, ...c);
      m.llen(this.queueKey);
    }, batch);
    this.queueLen = Number(res[res.length - 1]);
  }

  private async trimQueue(n: number): Promise<void> {
    const res = await execOrThrow(this.host.redis.multi().ltrim(this.queueKey, n, -1).llen(this.queueKey));
    this.queueLen = Number(res[1]);
  }

  private asDeadLetters(events: ReadonlyArray<string>, reason: DeadLetterReason, out: PostOutcome): string[] {
    const now = this.host.clock.now();
    return events.map((e) => deadLetter(e, now, reason, out.status, out.error ?? out.result));
  }

  private noteDeadLetters(n: number, reason: DeadLetterReason, pushedLen: number, out: PostOutcome): void {
    this.deadLetters = Math.min(pushedLen, this.cfg.maxDeadLetters);
    this.host.metrics?.deadLettered(this.cfg.id, reason, n);
    this.warn(`dead:${reason}`, `webhooks [${this.name}]: ${n} event(s) dead-lettered (${reason}: ${out.error ?? out.result}); see /v1/admin/webhooks`);
    if (pushedLen > this.cfg.maxDeadLetters) this.host.log('error', `webhooks [${this.name}]: dead-letter list over maxDeadLetters; the oldest ${pushedLen - this.cfg.maxDeadLetters} dropped`);
  }

  private async deadLetterFromEv(batch: ReadonlyArray<PendingEvent>, out: PostOutcome): Promise<void> {
    const pushes = chunks(this.asDeadLetters(batch.map((e) => e.event), 'refused', out));
    const res = await this.host.commitAndAck((m) => {
      for (const c of pushes) m.rpush(this.deadKey, ...c);
      m.llen(this.deadKey).ltrim(this.deadKey, -this.cfg.maxDeadLetters, -1);
    }, batch);
    this.noteDeadLetters(batch.length, 'refused', Number(res[pushes.length]), out);
  }

  private async deadLetterFromQueue(items: ReadonlyArray<string>, k: number, reason: DeadLetterReason, out: PostOutcome): Promise<void> {
    const m = this.host.redis.multi();
    for (const c of chunks(this.asDeadLetters(items.slice(0, k), reason, out))) m.rpush(this.deadKey, ...c);
    m.llen(this.deadKey).ltrim(this.deadKey, -this.cfg.maxDeadLetters, -1).ltrim(this.queueKey, k, -1).llen(this.queueKey);
    const res = await execOrThrow(m);
    this.queueLen = Number(res[res.length - 1]);
    this.noteDeadLetters(k, reason, Number(res[res.length - 4]), out);
  }
}
