/**
 * In-memory stand-ins for the operator actor's ports, for unit tests on a
 * ManualClock: FakeActorStore (the queue and the message state,
 * engine/actors/actor-store.ts) and FakeSession (one SMPP bind, the
 * SmscSession port). They keep what a test asserts on: every pull's credit,
 * the entries this actor holds unsettled, what was recorded and how often,
 * every submit_sm and every deliver_sm_resp. A store call can be made to
 * fail, or held until the test lets it go.
 *
 * The store's queue is one stream: its refs are `e<n>`; pending entries page
 * in the order they were taken, as Redis pages a consumer's pending list.
 */
import { EventEmitter } from 'node:events';
import type { ActorStore, FailureRecord, QueuedPart, ReceiptOutcome, ReceiptRecord, ReceiptResults, SubmitRecord, TakenEntries } from '../../engine/actors/actor-store.js';
import type { IncomingDeliver, SmscSession } from '../../engine/actors/operator-actor.js';
import { RetryableError, type SwitchyardError } from '../../engine/errors.js';
import type { TimerClock } from '../../engine/flow/clock.js';
import type { OutgoingSubmit } from '../../engine/smpp/index.js';

type StoreCall = 'pull' | 'pending' | 'takeOver' | 'keepUnsent' | 'drop' | 'submitted' | 'failed' | 'receipts';

let nextRef = 0;

/** A queued part valid for an hour from `nowMs`. */
export function part(nowMs: number, o: Partial<QueuedPart> = {}): QueuedPart {
  const n = nextRef++;
  return {
    ref: `e${n}`, id: `msg${n}`, part: 1, total: 1, to: `4790${String(100000 + n)}`, from: 'Acme',
    validUntilSec: Math.floor(nowMs / 1000) + 3600, dataCoding: 0, esmClass: 0, shortMessage: Buffer.from(`text ${n}`, 'latin1'), tenant: 'acme', ...o,
  };
}

export function parts(nowMs: number, count: number, o: Partial<QueuedPart> = {}): QueuedPart[] {
  return Array.from({ length: count }, () => part(nowMs, o));
}

export class FakeActorStore implements ActorStore {
  /** New entries, not taken by anyone yet. */
  readonly queue: QueuedPart[] = [];
  /** Entries other (dead) actors left unsettled: takeOver hands them over. */
  readonly abandoned: QueuedPart[] = [];
  /** Refs `pull` reports unreadable (entries that cannot be parsed). */
  readonly unreadableInQueue: string[] = [];
  /** Parts recorded as sent (by `submitted`, or before the test: a resp recorded before a crash). */
  readonly sentRefs = new Set<string>();
  /** Every call, in order. */
  readonly calls: StoreCall[] = [];
  /** The credit of every pull. */
  readonly pulls: number[] = [];
  /** The size of every page `pending` handed out. */
  readonly pages: number[] = [];
  readonly submittedLog: SubmitRecord[] = [];
  readonly failedLog: FailureRecord[] = [];
  readonly receiptLog: ReceiptRecord[] = [];
  readonly dropped: string[] = [];
  /** How many of the next calls of each kind fail ("store down"). */
  readonly failNext: Partial<Record<StoreCall, number>> = {};
  /** What each receipt comes to. */
  receiptOutcome: (r: ReceiptRecord) => ReceiptOutcome = () => 'applied';
  /** Checked at every pull (e.g. credit against free window slots). */
  onPull: ((max: number) => void) | undefined;
  opened = false;
  /** Taken by this actor and not settled: ref -> entry and its place in the pending list. */
  private readonly held = new Map<string, { entry: QueuedPart; seq: number }>();
  private seq = 0;
  private readonly holds = new Map<StoreCall, Promise<void>>();
  private readsLost: (() => void) | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly clock: TimerClock) {}

  /** Entries of this actor not settled yet (refs, in the order taken). */
  get pendingRefs(): string[] {
    return [...this.held.keys()];
  }

  /** Queues new entries (wakes a waiting pull). */
  add(...entries: QueuedPart[]): void {
    this.queue.push(...entries);
    this.wake?.();
  }

  /** Entries this actor had taken before the test starts (a restart finds them pending). */
  takenBefore(...entries: QueuedPart[]): void {
    for (const e of entries) this.take(e);
  }

  /** The connection dropped and came back: replies to pulls may be lost. */
  loseReads(): void {
    this.readsLost?.();
  }

  /** Holds every call of a kind until the returned function is called. */
  hold(kind: StoreCall): () => void {
    let release: () => void = () => undefined;
    this.holds.set(kind, new Promise<void>((ok) => (release = ok)));
    return () => {
      this.holds.delete(kind);
      release();
    };
  }

  async open(): Promise<void> {
    this.opened = true;
  }

  async pull(max: number): Promise<TakenEntries> {
    await this.enter('pull');
    this.pulls.push(max);
    this.onPull?.(max);
    if (this.queue.length === 0 && this.unreadableInQueue.length === 0) {
      // Nothing new: wait (a blocking read) until entries come or 100 ms pass.
      await new Promise<void>((ok) => {
        const t = this.clock.setTimeout(() => {
          this.wake = undefined;
          ok();
        }, 100);
        this.wake = () => {
          this.clock.clear(t);
          this.wake = undefined;
          ok();
        };
      });
    }
    const entries = this.queue.splice(0, max);
    for (const e of entries) this.take(e);
    const unreadable = this.unreadableInQueue.splice(0);
    for (const ref of unreadable) this.held.set(ref, { entry: part(0, { ref }), seq: this.seq++ });
    return { entries, unreadable };
  }

  async *pending(pageSize: number): AsyncIterable<TakenEntries> {
    let after = -1;
    for (;;) {
      await this.enter('pending');
      const page = [...this.held.values()].filter((h) => h.seq > after).slice(0, pageSize);
      if (page.length > 0) after = (page[page.length - 1] as { seq: number }).seq;
      this.pages.push(page.length);
      yield { entries: page.map((h) => h.entry), unreadable: [] };
      if (page.length < pageSize) return;
    }
  }

  onReadsLost(listener: () => void): void {
    this.readsLost = listener;
  }

  async *takeOver(): AsyncIterable<ReadonlyArray<QueuedPart>> {
    await this.enter('takeOver');
    const claimed = this.abandoned.splice(0);
    for (const e of claimed) this.take(e);
    // Like XAUTOCLAIM, which claims idle entries of any consumer: the ones this actor holds come back too.
    yield [...this.held.values()].map((h) => h.entry);
  }

  async keepUnsent(entries: ReadonlyArray<QueuedPart>): Promise<QueuedPart[]> {
    await this.enter('keepUnsent');
    const unsent: QueuedPart[] = [];
    for (const e of entries) {
      if (this.sentRefs.has(e.ref)) this.held.delete(e.ref);
      else unsent.push(e);
    }
    return unsent;
  }

  /** Entries handed back (an actor that lost every bind's lease): they leave this actor, pending for others. */
  readonly handedBack: QueuedPart[] = [];

  async handBack(entries: ReadonlyArray<QueuedPart>): Promise<void> {
    for (const e of entries) {
      this.held.delete(e.ref);
      this.handedBack.push(e);
    }
  }

  async drop(refs: ReadonlyArray<string>): Promise<void> {
    await this.enter('drop');
    for (const ref of refs) {
      this.held.delete(ref);
      this.dropped.push(ref);
    }
  }

  async submitted(items: ReadonlyArray<SubmitRecord>): Promise<number> {
    await this.enter('submitted');
    for (const it of items) {
      this.submittedLog.push(it);
      this.sentRefs.add(it.entry.ref);
      this.held.delete(it.entry.ref);
    }
    return 0;
  }

  async failed(items: ReadonlyArray<FailureRecord>): Promise<void> {
    await this.enter('failed');
    for (const it of items) {
      this.failedLog.push(it);
      this.held.delete(it.entry.ref);
    }
  }

  async receipts(items: ReadonlyArray<ReceiptRecord>): Promise<ReceiptResults> {
    await this.enter('receipts');
    this.receiptLog.push(...items);
    return { outcomes: items.map((r) => this.receiptOutcome(r)), latencyMs: items.map(() => 1000) };
  }

  private take(e: QueuedPart): void {
    this.held.set(e.ref, { entry: e, seq: this.seq++ });
  }

  /** Records the call, waits while it is held, fails it if told to. */
  private async enter(kind: StoreCall): Promise<void> {
    this.calls.push(kind);
    const held = this.holds.get(kind);
    if (held !== undefined) await held;
    const n = this.failNext[kind] ?? 0;
    if (n > 0) {
      this.failNext[kind] = n - 1;
      throw new Error(`store down (${kind})`);
    }
  }
}

type SubmitCb = (err: SwitchyardError | null, resp?: { commandStatus: number; messageId: string }) => void;

export interface SentSubmit {
  readonly sm: OutgoingSubmit;
  /** The clock's time when it was written. */
  readonly at: number;
}

/** One bind: submits wait in its window until the test answers them. */
export class FakeSession extends EventEmitter implements SmscSession {
  /** Submits on the wire, oldest first. */
  private readonly window: Array<{ sm: OutgoingSubmit; cb: SubmitCb }> = [];
  /** Every submit_sm written, in order. */
  readonly sent: SentSubmit[] = [];
  /** Every deliver_sm_resp: the deliver_sm's sequence and the status answered. */
  readonly replies: Array<{ sequence: number; status: number }> = [];
  writable = true;
  isClosed = false;
  opened = false;
  /** Answer every submit OK at the end of the tick it was written in. */
  autoRespond = false;
  private ids = 0;

  constructor(
    private readonly size: number,
    private readonly clock: TimerClock,
  ) {
    super();
  }

  get inFlight(): number {
    return this.window.length;
  }

  get freeSlots(): number {
    return this.size - this.window.length;
  }

  /** Destination numbers of every submit written, in order. */
  get sentTo(): string[] {
    return this.sent.map((s) => s.sm.destinationAddr);
  }

  submit(sm: OutgoingSubmit, cb: SubmitCb): boolean {
    if (this.isClosed || !this.writable || this.freeSlots <= 0) return false;
    this.window.push({ sm, cb });
    this.sent.push({ sm, at: this.clock.now() });
    if (this.autoRespond) setImmediate(() => this.respond(1));
    return true;
  }

  /** Answers the oldest `n` submits on the wire with `status` (0: accepted, with a fresh message id). */
  respond(n = this.window.length, status = 0): void {
    for (const w of this.window.splice(0, n)) w.cb(null, { commandStatus: status, messageId: status === 0 ? `00a${(this.ids++).toString(16)}` : '' });
  }

  /** The oldest `n` submits get no answer in time (the connection's response timeout). */
  timeOut(n = this.window.length): void {
    for (const w of this.window.splice(0, n)) w.cb(new RetryableError('SMPP_TIMEOUT', 'no response within the response timeout'));
  }

  deliver(d: IncomingDeliver): void {
    this.emit('deliver_sm', d);
  }

  replyDeliverSm(sequence: number, commandStatus: number): void {
    this.replies.push({ sequence, status: commandStatus });
  }

  open(): void {
    this.opened = true;
  }

  /** The bind is lost: what was on the wire fails, then 'close'. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const w of this.window.splice(0)) w.cb(new RetryableError('SMPP_CONNECTION_CLOSED', 'the SMPP session closed before the response arrived'));
    this.emit('close');
  }
}
