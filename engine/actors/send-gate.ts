/**
 * The operator actor's last check before a submit_sm: is the entry's tenant
 * paused, or has its number opted out since the message was queued? The
 * answer comes from memory (a Set look-up and a fixed-size Bloom filter,
 * opt-out-filter.ts; nothing when both are empty), kept current by one
 * small Redis poll a few times a second
 * (ParkingStore.poll: the paused set by version, opt-out changes by stream
 * cursor). Entries the view catches are handed to parking/lua/divert.lua in a batch,
 * which decides again atomically (park, stop, or send after all), so a
 * stale view can delay an entry but never park or stop one wrongly.
 *
 * Freshness is part of the contract with the pause call: `fresh` is false
 * when the last successful poll was sent more than SELF_STOP_MS ago, and the
 * actor sends nothing then (see parking-store.ts, "Pause handshake").
 * Freshness and the poll timer run on the injected clock; the opt-out
 * filter's times are the wall clock (Date.now()), as they are compared with
 * the ids of the opt-out change stream, which Redis stamps.
 *
 * The gate knows an entry by its `ref` (actor-store.ts): stream ids repeat
 * across an SMSC's streams, and letting one entry through on another's
 * clearance would send a paused tenant's or an opted-out number's message.
 */
import type { TimerClock, TimerHandle } from '../flow/clock.js';
import { DivertResult, SELF_STOP_MS, type PollResult } from '../parking/parking-store.js';
import type { QueuedPart } from './actor-store.js';
import { OptOutFilter } from './opt-out-filter.js';

/** What the gate needs of its store: ParkingStore implements it for the entries RedisActorStore reads. */
export interface GateStore<E extends QueuedPart> {
  poll(consumer: string, appliedVersion: string, cursor: string, count: number): Promise<PollResult>;
  /** Decides again, atomically, for each entry held back: park it, stop it, or send it after all. */
  divert(entries: ReadonlyArray<E>): Promise<DivertResult[]>;
}

export interface SendGateOptions {
  readonly pollMs: number;
  /** How far back opt-outs matter: the longest a message can wait in a queue (ms). */
  readonly optOutHorizonMs: number;
  /** Bits per generation of the opt-out filter (power of two; default 2^24). */
  readonly filterBits?: number;
}

const POLL_COUNT = 1000;

export class SendGate<E extends QueuedPart = QueuedPart> {
  private paused = new Set<string>();
  /** Numbers that opted out within the horizon (any tenant or the global list). */
  private readonly optedOut: OptOutFilter;
  private version = '-1'; // none applied yet: the first poll loads the set
  private cursor: string;
  private freshUntil = 0;
  private timer: TimerHandle | undefined;
  private polling = false;
  private batch: E[] = [];
  private flushing = 0;
  private flushScheduled = false;
  /** Entries (refs) parking/lua/divert.lua sent back: the next check lets them through (the view was stale). */
  private readonly cleared = new Set<string>();
  parked = 0;
  stopped = 0;

  constructor(
    private readonly store: GateStore<E>,
    private readonly consumer: string,
    private readonly clock: TimerClock,
    private readonly o: SendGateOptions,
    /** Entries to send after all (parking/lua/divert.lua said neither paused nor opted out). */
    private readonly giveBack: (entries: E[]) => void,
    private readonly log: (level: 'warn', msg: string) => void,
  ) {
    this.cursor = `${Math.max(0, Date.now() - o.optOutHorizonMs)}-0`;
    this.optedOut = new OptOutFilter(o.filterBits ?? 2 ** 24, o.optOutHorizonMs, Date.now());
  }

  /** Loads the view (the first poll, until caught up with every opt-out within the horizon) and polls from then on. */
  async start(): Promise<void> {
    await this.poll(Number.MAX_SAFE_INTEGER);
    this.timer = this.clock.setInterval(() => void this.poll(), this.o.pollMs);
  }

  stop(): void {
    this.clock.clear(this.timer);
  }

  /** False when the view is too old to send on (Redis unreachable for SELF_STOP_MS). */
  get fresh(): boolean {
    return this.clock.now() < this.freshUntil;
  }

  /** Entries held back and not yet decided in Redis. */
  get pending(): number {
    return this.batch.length + this.flushing;
  }

  /**
   * True when the entry must not be sent now: it goes to the divert batch.
   * Cheap on the common path: two size checks.
   */
  intercept(e: E): boolean {
    if (this.paused.size === 0 && this.optedOut.empty) return false;
    if (!this.paused.has(e.tenant) && (this.optedOut.empty || !this.optedOut.has(e.to))) return false;
    if (this.cleared.delete(e.ref)) return false;
    this.batch.push(e);
    this.scheduleFlush();
    return true;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.batch.length === 0) return;
    const items = this.batch;
    this.batch = [];
    this.flushing += items.length;
    this.store.divert(items).then(
      (res) => {
        this.flushing -= items.length;
        const back: E[] = [];
        for (let i = 0; i < items.length; i++) {
          const r = res[i];
          if (r === DivertResult.Parked) this.parked++;
          else if (r === DivertResult.Stopped) this.stopped++;
          else {
            const e = items[i] as E;
            this.cleared.add(e.ref);
            back.push(e);
          }
        }
        if (back.length > 0) this.giveBack(back);
      },
      (err: Error) => {
        // The entries stay pending in their queue's group: try again shortly.
        this.flushing -= items.length;
        this.log('warn', `holding back ${items.length} entries failed, will retry: ${err.message}`);
        this.clock.setTimeout(() => {
          this.batch.push(...items);
          this.scheduleFlush();
        }, 500);
      },
    );
  }

  /** One poll; a backlog of opt-out changes is read in pages of POLL_COUNT, at most `rounds` of them. */
  private async poll(rounds = 100): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      for (let round = 0; round < rounds; round++) {
        const sentAt = this.clock.now();
        const r = await this.store.poll(this.consumer, this.version, this.cursor, POLL_COUNT);
        this.freshUntil = sentAt + SELF_STOP_MS;
        const now = Date.now();
        for (const c of r.optOuts) {
          this.cursor = c.eid;
          // Removals are left to parking/lua/divert.lua's re-check; a Bloom filter cannot forget one number.
          if (c.add) this.optedOut.add(c.number, now);
        }
        const changed = r.paused !== undefined;
        if (changed) {
          this.paused = new Set(r.paused);
          this.version = r.version;
        }
        // What this actor now applies is confirmed by the next poll (it records version and cursor): at once.
        if (!changed && r.optOuts.length === 0) break;
      }
      this.optedOut.tick(Date.now());
    } catch (err) {
      this.log('warn', `send gate poll failed: ${(err as Error).message}`);
    } finally {
      this.polling = false;
    }
  }
}
