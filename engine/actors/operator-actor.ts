/**
 * The operator actor: one per SMSC, living in a worker thread. It owns that
 * SMSC's binds, their windows, the TPS token bucket and the entries it took
 * from its queue; nothing outside reaches into its state (DESIGN.md §3–§5).
 *
 *   store.pull(credit) ──▶ buffer ──▶ bind k (window W)
 *        ▲                                  │ submit_sm
 *        │  store.submitted: settles the    ▼
 *        │  entry, part sent, dlr map  submit_sm_resp
 *        └──────────── submitted batch ◀────┘
 *   deliver_sm (receipt) ─▶ receipt batch ─▶ store.receipts ─▶ deliver_sm_resp
 *
 * The actor depends on ports it declares: its queue and the message state
 * (ActorStore, actor-store.ts; Redis in engine/queue/redis-actor-store.ts),
 * its binds (SmscSession, below) and time (TimerClock: its timers and clock
 * readings go through it, so the unit tests run it on a manual clock; batching
 * to the end of the tick stays setImmediate, which is not time). The send
 * gate brings its own store port (GateStore); the MO recorder its own store.
 *
 * Credit = free window slots over all bound sessions, capped by the token
 * bucket: the actor never pulls more than it can send now, so a slow SMSC's
 * backlog stays in the store. Entries stay unsettled in the store until
 * their submit_sm_resp (or a final failure) is recorded: a crashed actor loses
 * nothing, and its restart re-reads its own pending entries. deliver_sm_resp is
 * sent only after the store has the receipt, so the SMSC retries receipts that a
 * crash interrupted.
 *
 * Before each submit the send gate (send-gate.ts) may hold an entry back: its
 * tenant is paused or its number opted out after it was queued. A deliver_sm
 * (or data_sm) that is not a receipt is a mobile-originated message
 * (engine/mo/). Every one is answered; a session hands over nothing before
 * the actor has attached its listeners and opened it (receipts that came in
 * the bind_resp's own TCP read were held until then).
 *
 * Per SMSC the submit_sm carries the sender's TON/NPI by its class
 * (addresses.ts) and GSM-7 parts in the SMSC's alphabet (engine/text
 * smsc-alphabet.ts: queue entries hold unpacked septets, transcoded here).
 * A bind that dies young does not reset its reconnect backoff, and why the
 * SMSC's PDUs were refused is logged, rate-limited.
 */
import { EventEmitter } from 'node:events';
import { classifySubmitStatus } from '../errors.js';
import type { SwitchyardError } from '../errors.js';
import type { TimerClock, TimerHandle } from '../flow/clock.js';
import { LatencyHistogram } from '../flow/latency-histogram.js';
import { TokenBucket } from '../flow/token-bucket.js';
import type { OutgoingSubmit } from '../smpp/index.js';
import type { ActorStore, FailureRecord, QueuedPart, ReceiptRecord, SubmitRecord } from './actor-store.js';
import type { ActorSmscConfig, ActorStats, BindState } from './messages.js';
import type { ActorMetrics } from '../metrics/actor-metrics.js';
import { normalizeSmscId, readReceipt, receiptKey } from './receipt.js';
import { senderTonNpi, type TonNpi } from './addresses.js';
import { ALPHABET_DATA_CODING, decodeShortMessage, transcodeGsmPart, type SmscAlphabet } from '../text/index.js';
import { SendGate, type GateStore } from './send-gate.js';
import type { MoRecorder } from '../mo/mo-recorder.js';
import type { MoDeliver } from '../mo/read-mo.js';

/** What the actor needs of one SMPP bind (the adapter wraps SmppConnection). */
export interface SmscSession extends EventEmitter {
  readonly freeSlots: number;
  readonly inFlight: number;
  readonly writable: boolean;
  submit(sm: OutgoingSubmit, cb: (err: SwitchyardError | null, resp?: { commandStatus: number; messageId: string }) => void): boolean;
  /** Answers a deliver_sm or data_sm (the session knows which it was). */
  replyDeliverSm(sequence: number, commandStatus: number): void;
  /** Starts handing over inbound deliver_sm/data_sm: those that came with the bind response were held until now. */
  open(): void;
  readonly isClosed: boolean;
  close(): void;
  // events: 'deliver_sm' (IncomingDeliver), 'close', 'bad_pdu' (string: why a PDU was refused), 'warn' (string)
}

/** A deliver_sm as the actor gets it: a receipt (TLVs, text) or an MO message (the MoDeliver fields). */
export interface IncomingDeliver extends MoDeliver {
  readonly sequence: number;
  readonly receiptedMessageId?: string;
  readonly messageState?: number;
  /** A data_sm: no short_message, the text (if any) in message_payload. */
  readonly dataSm?: true;
}

export type SessionFactory = (smsc: ActorSmscConfig, bindIndex: number) => Promise<SmscSession>;

/**
 * The bind-slot leases of this SMSC when several engine nodes share its
 * account (engine/fleet/): which of the configured binds this actor may open
 * and submit on. Without it every bind is this actor's.
 */
export interface BindLeasePort {
  /** Slot `index` is held, not to be given back, and its lease has not run out: bind and submit on it now. */
  usable(index: number): boolean;
  /** Slot `index` is held beyond this node's fair share: submit nothing more on it, drain, close, then `released`. */
  draining(index: number): boolean;
  /**
   * Slot `index` was this node's at the last tick, whether or not its lease has run out on the clock
   * since: a bind whose lease merely ran out (a tick late) sends nothing but stays bound, and goes on
   * when a tick renews it; one the fleet gave another node is closed.
   */
  held(index: number): boolean;
  /** A draining slot's bind is closed (or was never open): give the slot back. */
  released(index: number): void;
  /** Slots usable now: the SMSC's tps is the account's, shared by slot (rate = tps × usable / binds). */
  usableCount(): number;
  /** Called whenever the leases change (every fleet tick). */
  onChange(cb: () => void): void;
}

interface Bind {
  readonly index: number;
  session: SmscSession | undefined;
  connecting: boolean;
  since: number;
  /** Failed or short-lived binds in a row: the reconnect backoff's exponent. */
  attempts: number;
  /** The first attempt has ended (BindState.tried). */
  tried: boolean;
  /** When its lease stopped being usable (draining or lost) while bound: it closes once drained or drainMs later. */
  unusableSince: number | undefined;
  /** Its session is being closed for its lease (unbind sent): not closed twice. */
  unbinding: boolean;
  /** A reconnect is waiting out its backoff: a lease change does not start another attempt. */
  retryPending: boolean;
}

type SubmitCb = (err: SwitchyardError | null, resp?: { commandStatus: number; messageId: string }) => void;

/**
 * A session must stay up this long before its bind counts as healthy and the
 * reconnect backoff starts again from its minimum: an SMSC that accepts the
 * bind and then sends garbage (or drops us at once) is rebound with a growing
 * backoff, not at the minimum again and again.
 */
const HEALTHY_SESSION_MS = 30_000;
/** At most one log line per this period for refused PDUs (and one for session warnings), per actor. */
const LOG_EVERY_MS = 10_000;
const ESME_RX_P_APPN = 0x65;
/** ESME_RX_T_APPN: temporary application error, the SMSC redelivers later. */
const ESME_RX_T_APPN = 0x64;
const TICK_MS = 5;
/** Pending entries re-read per page after a (re)start. */
const RECOVERY_PAGE = 1000;
/** How long to wait before trying a failed read again, and a failed state write. */
const READ_RETRY_MS = 250;
const WRITE_RETRY_MS = 500;

/** SMPP absolute time "YYMMDDhhmmss000+" (UTC, tenths 0, offset 00). */
function smppTime(sec: number): string {
  const d = new Date(sec * 1000);
  const p = (n: number) => (n < 10 ? '0' + n : String(n));
  return p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) + p(d.getUTCHours()) + p(d.getUTCMinutes()) + p(d.getUTCSeconds()) + '000+';
}

const UDHI = 0x40;

/**
 * Moves a leading 8-bit concatenation UDH (05 00 03 ref total seq) into SAR
 * TLVs: short_message loses the 6 octets and esm_class its UDHI bit. Any other
 * UDH is left as it is (SAR cannot say what else it carries).
 */
function toSar(sm: { esmClass: number; shortMessage: Buffer; sar?: OutgoingSubmit['sar'] }, b: Buffer): void {
  if (b.length < 6 || b[0] !== 0x05 || b[1] !== 0x00 || b[2] !== 0x03) return;
  sm.sar = { ref: b[3] as number, total: b[4] as number, seq: b[5] as number };
  sm.shortMessage = b.subarray(6);
  sm.esmClass &= ~UDHI;
}

/** What the actor needs of the MO recorder (engine/mo/mo-recorder.ts). */
export type ActorMo = Pick<MoRecorder, 'onDeliver' | 'pending'>;

export interface OperatorActorOptions<E extends QueuedPart> {
  /** How often to ask the store for entries dead actors left (takeOver). */
  readonly takeOverEveryMs: number;
  /** How long state changes are gathered into one store call (0: at the end of the tick). */
  readonly stateFlushMs?: number;
  /** Paused tenants and opt-outs are checked before each submit (send-gate.ts); `consumer` names this actor in the pause handshake. */
  readonly gate?: { readonly store: GateStore<E>; readonly consumer: string; readonly pollMs: number; readonly optOutHorizonMs: number };
  /** Records mobile-originated messages; without it they are acknowledged and dropped. */
  readonly mo?: ActorMo;
  /** Bind-slot leases (many nodes, engine/fleet/); absent: every bind is this actor's. */
  readonly leases?: BindLeasePort;
  /** How long a bind given back or lost waits for its window's resps before it closes (ms; default 5,000). */
  readonly drainMs?: number;
}

export class OperatorActor<E extends QueuedPart = QueuedPart> {
  private readonly binds: Bind[] = [];
  private bucket: TokenBucket;
  /** Slots usable at the last lease change (the bucket's share of the SMSC's tps). */
  private leasedSlots: number;
  /** Pulled entries not yet sent: a simple array used as a FIFO with a head index. */
  private buf: E[] = [];
  private head = 0;
  /** Entries to resend (throttled, timed out, bind lost), ahead of new ones. */
  private retry: E[] = [];
  private pausedUntil = 0;
  private throttleStreak = 0;
  /** Next look for held entries whose validity ran out while no bind is up (expireHeld). */
  private nextHeldExpiry = 0;
  private reading = false;
  private recovered = false;
  private running = false;
  private rr = 0;
  private timer: TimerHandle | undefined;
  private reclaimTimer: TimerHandle | undefined;
  private submittedBatch: Array<SubmitRecord<E>> = [];
  private failedBatch: Array<FailureRecord<E>> = [];
  private receiptBatch: Array<{ item: ReceiptRecord; session: SmscSession; sequence: number }> = [];
  private flushScheduled = false;
  private flushing = 0;
  private readonly windowTotal: number;
  /** Submitted parts whose resp is not yet in the store (batched or being written). */
  private unpersisted = 0;
  private pumpScheduled = false;
  private validityCache = { sec: 0, text: '' };
  /** How GSM-7 parts go out to this SMSC (engine/text/smsc-alphabet.ts). */
  private readonly alphabet: SmscAlphabet;
  private readonly gsmDataCoding: number;
  /** The last sender and its TON/NPI: a tenant sends from few senders. */
  private lastFrom = '';
  private lastSource: TonNpi;
  private readonly logLimits = { bad: { at: -Infinity, suppressed: 0 }, warn: { at: -Infinity, suppressed: 0 } };
  readonly events = new EventEmitter();
  /** submit_sm → submit_sm_resp, for every answered submit. */
  readonly submitLatency = new LatencyHistogram();
  private s = {
    submitted: 0, rejected: 0, expired: 0, throttled: 0, retried: 0, receipts: 0, receiptsEarly: 0, receiptsDelivered: 0, receiptsFailed: 0,
    receiptsUnmatched: 0, reconnects: 0, badPdus: 0, tokenWaits: 0,
  };

  constructor(
    private readonly smsc: ActorSmscConfig,
    private readonly store: ActorStore<E>,
    private readonly connect: SessionFactory,
    private readonly clock: TimerClock,
    private readonly opts: OperatorActorOptions<E>,
    /** Prometheus metrics of this actor (none in unit tests). */
    private readonly metrics?: ActorMetrics,
  ) {
    if (opts.gate !== undefined) {
      this.gate = new SendGate<E>(opts.gate.store, opts.gate.consumer, clock, opts.gate, (back) => {
        for (const e of back) this.retry.push(e);
        this.schedulePump();
      }, (level, msg) => this.events.emit('log', level, msg));
    }
    this.leasedSlots = opts.leases === undefined ? smsc.binds : 0;
    this.bucket = new TokenBucket(this.tpsShare(), clock);
    for (let i = 0; i < smsc.binds; i++) this.binds.push({ index: i, session: undefined, connecting: false, since: clock.now(), attempts: 0, tried: false, unusableSince: undefined, unbinding: false, retryPending: false });
    this.windowTotal = smsc.window * smsc.binds;
    this.alphabet = smsc.alphabet ?? 'gsm7';
    this.gsmDataCoding = smsc.alphabetDataCoding ?? ALPHABET_DATA_CODING[this.alphabet];
    this.lastSource = smsc.addresses.alphanumeric;
  }

  private readonly gate: SendGate<E> | undefined;

  async start(): Promise<void> {
    this.running = true;
    await this.store.open();
    // The paused tenants and recent opt-outs are known before anything is sent.
    await this.gate?.start();
    this.opts.leases?.onChange(() => this.onLeases());
    for (const b of this.binds) void this.bindLoop(b);
    this.timer = this.clock.setInterval(() => this.pump(), TICK_MS);
    this.onLeases(false);
    this.reclaimTimer = this.clock.setInterval(() => void this.reclaim(), this.opts.takeOverEveryMs);
    // Entries whose pull reply was lost are pending for this actor: re-read them.
    this.store.onReadsLost(() => {
      this.recovered = false;
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((ok) => this.clock.setTimeout(ok, ms));
  }

  /** Stops pulling, waits for in-flight submits and state writes (bounded), closes binds. */
  async stop(graceMs = 5_000): Promise<void> {
    this.running = false;
    this.clock.clear(this.timer);
    this.clock.clear(this.reclaimTimer);
    this.gate?.stop();
    const deadline = this.clock.now() + graceMs;
    while (this.clock.now() < deadline && (this.binds.some((b) => (b.session?.inFlight ?? 0) > 0) || this.flushing > 0 || this.pendingWrites() > 0)) {
      this.flush();
      await this.sleep(10);
    }
    for (const b of this.binds) b.session?.close();
  }

  private pendingWrites(): number {
    return this.submittedBatch.length + this.failedBatch.length + this.receiptBatch.length + (this.gate?.pending ?? 0) + (this.opts.mo?.pending ?? 0);
  }

  stats(threadId: number): ActorStats {
    const binds: BindState[] = this.binds.map((b) => ({ index: b.index, up: b.session !== undefined, since: b.since, inFlight: b.session?.inFlight ?? 0, tried: b.tried }));
    return {
      smsc: this.smsc.id,
      threadId,
      binds,
      buffered: this.buf.length - this.head + this.retry.length,
      submitP50Ms: this.submitLatency.quantile(0.5),
      submitP99Ms: this.submitLatency.quantile(0.99),
      ...this.s,
    };
  }

  // ---- binds ---------------------------------------------------------------

  private async bindLoop(b: Bind): Promise<void> {
    b.retryPending = false;
    while (this.running && b.session === undefined) {
      // Only a slot this node holds is bound (onLeases starts the loop again when one is).
      if (this.opts.leases !== undefined && !this.opts.leases.usable(b.index)) {
        b.connecting = false;
        return;
      }
      b.connecting = true;
      try {
        const session = await this.connect(this.smsc, b.index);
        if (!this.running) {
          session.close();
          return;
        }
        b.session = session;
        b.since = this.clock.now();
        b.connecting = false;
        b.tried = true;
        // Listeners first, then open: the receipts an SMSC flushes with its bind_resp were held until now.
        session.on('deliver_sm', (d: IncomingDeliver) => this.onDeliver(session, d));
        session.on('bad_pdu', (why: string) => {
          this.s.badPdus++;
          this.metrics?.badPdu();
          this.limitedLog('bad', `bind ${b.index}: refused a PDU from the SMSC: ${why}`);
        });
        session.on('warn', (why: string) => this.limitedLog('warn', `bind ${b.index}: ${why}`));
        const onClose = () => {
          // Only a session that stayed up resets the backoff (HEALTHY_SESSION_MS).
          if (this.clock.now() - b.since >= HEALTHY_SESSION_MS) b.attempts = 0;
          b.session = undefined;
          b.unbinding = false;
          b.since = this.clock.now();
          this.s.reconnects++;
          this.metrics?.reconnect();
          this.events.emit('bind', b.index, false);
          if (this.running) {
            b.retryPending = true;
            this.clock.setTimeout(() => void this.bindLoop(b), this.backoff(this.smsc.reconnectMs, b.attempts++));
          }
        };
        session.once('close', onClose);
        session.open();
        this.events.emit('bind', b.index, true);
        // Closed already (the SMSC sent garbage with its bind_resp): its 'close' came before the listener.
        if (session.isClosed) {
          session.off('close', onClose);
          onClose();
          return;
        }
        this.pump();
        return;
      } catch (err) {
        b.connecting = false;
        // The first failed attempt is reported at once: routing counts the SMSC's down grace from it.
        if (!b.tried) {
          b.tried = true;
          this.events.emit('bind', b.index, false);
        }
        this.events.emit('log', 'warn', `bind ${b.index} to ${this.smsc.host}:${this.smsc.port} failed: ${(err as Error).message}`);
        b.retryPending = true;
        await this.sleep(this.backoff(this.smsc.reconnectMs, b.attempts++));
        b.retryPending = false;
      }
    }
  }

  /**
   * Logs at most one line per LOG_EVERY_MS per kind, saying how many were
   * left out since: a hostile SMSC can make thousands of refusals a second,
   * and each is counted (badPdus) but must not flood the log.
   */
  private limitedLog(kind: 'bad' | 'warn', msg: string): void {
    const l = this.logLimits[kind];
    const now = this.clock.now();
    if (now - l.at < LOG_EVERY_MS) {
      l.suppressed++;
      return;
    }
    const more = l.suppressed > 0 ? ` (and ${l.suppressed} more like it in the last ${Math.round((now - l.at) / 1000)} s)` : '';
    l.at = now;
    l.suppressed = 0;
    this.events.emit('log', 'warn', msg + more);
  }

  private backoff(r: { min: number; max: number }, attempt: number): number {
    const base = Math.min(r.max, r.min * 2 ** Math.min(attempt, 20));
    return Math.floor(base / 2 + Math.random() * (base / 2));
  }

  // ---- bind leases (many nodes) ----------------------------------------------

  private tpsShare(): number {
    return Math.max(1, Math.floor((this.smsc.tps * this.leasedSlots) / this.smsc.binds));
  }

  /** A fleet tick changed the leases (`fromTick`; false: the actor's start): bind the slots now held, share the tps by slot. */
  private onLeases(fromTick = true): void {
    const leases = this.opts.leases;
    if (leases === undefined || !this.running) return;
    const n = leases.usableCount();
    if (n !== this.leasedSlots) {
      // Back from holding nothing: what was handed back or kept is re-read (recover skips what this actor holds).
      if (this.leasedSlots === 0) this.recovered = false;
      this.leasedSlots = n;
      if (n > 0) this.bucket = new TokenBucket(this.tpsShare(), this.clock);
    }
    for (const b of this.binds) {
      if (b.session === undefined && !b.connecting && !b.retryPending && leases.usable(b.index)) void this.bindLoop(b);
      // Another node's slot has had its chance as far as this node goes (routing's start grace, BindState.tried).
      else if (fromTick && !b.tried && !leases.usable(b.index)) b.tried = true;
    }
    this.pump();
  }

  /**
   * Binds whose slot is not usable any more (given back above the fair
   * share, its lease lost, or run out on the clock) get no new submits
   * (nextSession); one given back or lost closes once its window is empty
   * or drainMs later, reading the resps
   * of what it had sent meanwhile. A slot given back is released once its
   * bind is closed. With no usable slot at all, the entries read and not
   * sent are handed back: they stay pending, for a node that holds a bind.
   */
  private watchLeases(leases: BindLeasePort, now: number): void {
    let usable = 0;
    for (const b of this.binds) {
      if (leases.usable(b.index)) {
        usable++;
        b.unusableSince = undefined;
        continue;
      }
      const draining = leases.draining(b.index);
      const s = b.session;
      if (s === undefined) {
        if (draining && !b.connecting) leases.released(b.index);
        continue;
      }
      // Run out on the clock but not given away: nothing is sent on it (nextSession), it stays bound until a tick says.
      if (b.unbinding || (!draining && leases.held(b.index))) continue;
      b.unusableSince ??= now;
      if (s.inFlight === 0 || now - b.unusableSince >= (this.opts.drainMs ?? 5_000)) {
        this.events.emit('log', 'info', `bind ${b.index}: ${draining ? 'slot given back (above this node\'s fair share)' : 'slot now held by another node'}: unbinding`);
        b.unusableSince = undefined;
        b.unbinding = true;
        // Given back once the session is gone: the node taking the slot must not find the SMSC's cap still full.
        if (draining) s.once('close', () => leases.released(b.index));
        s.close();
      }
    }
    if (usable === 0 && (this.retry.length > 0 || this.head < this.buf.length)) this.handBack();
  }

  private handBack(): void {
    const entries = [...this.retry, ...this.buf.slice(this.head)];
    this.retry = [];
    this.buf = [];
    this.head = 0;
    if (this.store.handBack === undefined) {
      // A store that cannot hand back: they stay this actor's, re-read when it holds a slot again.
      this.recovered = false;
      return;
    }
    this.events.emit('log', 'info', `no bind slot held: ${entries.length} entries read and not sent handed back (they stay pending)`);
    this.store.handBack(entries).catch((err: Error) => {
      this.recovered = false;
      this.events.emit('log', 'warn', `handing back ${entries.length} entries failed (they stay with this actor): ${err.message}`);
    });
  }

  // ---- sending -------------------------------------------------------------

  private nextSession(): SmscSession | undefined {
    const n = this.binds.length;
    for (let k = 0; k < n; k++) {
      const b = this.binds[(this.rr + k) % n] as Bind;
      const s = b.session;
      // The lease is checked before every submit: a slot that ran out (a paused process woke) sends nothing more.
      if (s !== undefined && s.freeSlots > 0 && s.writable && (this.opts.leases === undefined || this.opts.leases.usable(b.index))) {
        this.rr = (this.rr + k + 1) % n;
        return s;
      }
    }
    return undefined;
  }

  private nextEntry(): E | undefined {
    if (this.retry.length > 0) return this.retry.shift();
    if (this.head < this.buf.length) {
      const e = this.buf[this.head++] as E;
      if (this.head === this.buf.length) {
        this.buf = [];
        this.head = 0;
      }
      return e;
    }
    return undefined;
  }

  private peekEntry(): E {
    return (this.retry.length > 0 ? this.retry[0] : this.buf[this.head]) as E;
  }

  private validity(sec: number): string {
    if (this.validityCache.sec !== sec) this.validityCache = { sec, text: smppTime(sec) };
    return this.validityCache.text;
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Sends what window and tokens allow, then pulls more if there is credit. */
  private pump(): void {
    if (!this.running) return;
    const now = this.clock.now();
    if (this.opts.leases !== undefined) this.watchLeases(this.opts.leases, now);
    // A stale view of the paused tenants (its store unreachable) stops sending: see send-gate.ts.
    if (now >= this.pausedUntil && (this.gate === undefined || this.gate.fresh)) {
      let session: SmscSession | undefined;
      while ((this.retry.length > 0 || this.head < this.buf.length) && (session = this.nextSession()) !== undefined) {
        if (this.gate !== undefined && this.gate.intercept(this.peekEntry())) {
          this.nextEntry();
          continue;
        }
        if (!this.bucket.tryTake(1)) {
          this.s.tokenWaits++;
          this.metrics?.tpsWait();
          break;
        }
        const e = this.nextEntry() as E;
        if (e.validUntilSec * 1000 <= now) {
          this.s.expired++;
          this.metrics?.expiredInQueue();
          this.resolvedIds.add(e.ref);
          this.failedBatch.push({ entry: e, state: 'E', errCode: 'VALIDITY_EXPIRED', errText: 'validity period ran out before the message could be sent' });
          this.scheduleFlush();
          continue;
        }
        this.send(session, e);
      }
    }
    if (!this.reading && this.recovered && this.retry.length === 0 && this.head >= this.buf.length) {
      let slots = 0;
      let inFlight = 0;
      for (const b of this.binds) {
        if (b.session === undefined || !b.session.writable || (this.opts.leases !== undefined && !this.opts.leases.usable(b.index))) continue;
        slots += b.session.freeSlots;
        inFlight += b.session.inFlight;
      }
      const credit = Math.min(slots, this.bucket.available() + this.bucket.burst);
      // Pull in chunks (a quarter of the window at least, unless the tokens or an idle
      // window say otherwise): one pull per free slot would cost the store (Redis) a call per message.
      // Resps not yet in the store are bounded too, so a slow store slows the sending.
      const chunk = credit >= Math.ceil(this.windowTotal / 4) || credit < slots || inFlight === 0;
      if (credit > 0 && chunk && this.unpersisted < 4 * this.windowTotal && now >= this.pausedUntil) void this.pull(credit);
    } else if (!this.recovered && !this.reading && this.leasedSlots > 0) void this.recover();
    // No bind at all: nothing goes out, so held entries whose validity ran out end now, not when a
    // bind comes back or at validity + grace (the expiry sweep leaves entries an actor holds to it).
    if (now >= this.nextHeldExpiry && this.binds.every((b) => b.session === undefined)) this.expireHeld(now);
  }

  /** Ends (VALIDITY_EXPIRED) the pulled and retried entries whose validity has run out; at most once a second. */
  private expireHeld(now: number): void {
    this.nextHeldExpiry = now + 1000;
    const before = this.failedBatch.length;
    const keep = (e: E): boolean => {
      if (e.validUntilSec * 1000 > now) return true;
      this.s.expired++;
      this.metrics?.expiredInQueue();
      this.resolvedIds.add(e.ref);
      this.failedBatch.push({ entry: e, state: 'E', errCode: 'VALIDITY_EXPIRED', errText: 'validity period ran out before the message could be sent' });
      return false;
    };
    this.retry = this.retry.filter(keep);
    if (this.head < this.buf.length) {
      this.buf = this.buf.slice(this.head).filter(keep);
      this.head = 0;
    }
    if (this.failedBatch.length > before) this.scheduleFlush();
  }

  private send(session: SmscSession, e: E): void {
    if (e.from !== this.lastFrom) {
      this.lastFrom = e.from;
      this.lastSource = senderTonNpi(this.smsc.addresses, e.from);
    }
    const dest = this.smsc.addresses.destination;
    const sm: { -readonly [K in keyof OutgoingSubmit]: OutgoingSubmit[K] } = {
      sourceAddr: e.from,
      sourceAddrTon: this.lastSource.ton,
      sourceAddrNpi: this.lastSource.npi,
      destAddrTon: dest.ton,
      destAddrNpi: dest.npi,
      destinationAddr: e.to,
      esmClass: e.esmClass,
      registeredDelivery: 1,
      dataCoding: e.dataCoding,
      validityPeriod: this.validity(e.validUntilSec),
      shortMessage: e.shortMessage,
    };
    // Queue entries carry GSM-7 as unpacked septets; this SMSC may want it packed, in Latin-1 or in IA5.
    if (e.dataCoding === 0 && this.alphabet !== 'gsm7') {
      sm.dataCoding = this.gsmDataCoding;
      sm.shortMessage = this.transcode(e);
    }
    // Queue entries carry the 8-bit concatenation UDH; an SMSC configured for SAR gets it as TLVs instead.
    if (this.smsc.concatenation === 'sar' && (e.esmClass & UDHI) !== 0) toSar(sm, sm.shortMessage);
    const sentAt = this.clock.now();
    const cb: SubmitCb = (err, resp) => {
      const ms = this.clock.now() - sentAt;
      if (resp !== undefined) this.submitLatency.record(ms);
      this.onResp(e, err, resp, ms);
    };
    this.inFlightIds.add(e.ref);
    if (!session.submit(sm, cb)) {
      this.inFlightIds.delete(e.ref);
      this.retry.push(e);
    }
  }

  /**
   * A GSM-7 part in this SMSC's alphabet. Ingress and failover send an SMSC
   * only texts its alphabet carries; an entry that is not (queued before the
   * SMSC's alphabet was changed) goes with '?' for what the alphabet lacks,
   * logged, rather than not at all.
   */
  private transcode(e: E): Buffer {
    const t = transcodeGsmPart(this.alphabet, e.shortMessage, e.esmClass);
    if (t !== undefined) return t;
    const udhi = (e.esmClass & UDHI) !== 0;
    const text = decodeShortMessage(e.shortMessage, 0, udhi).text;
    this.limitedLog('warn', `message ${e.id} part ${e.part} has characters the SMSC's alphabet (${this.alphabet}) lacks; sent with '?' in their place`);
    const udh = udhi ? e.shortMessage.subarray(0, 1 + (e.shortMessage[0] as number)) : Buffer.alloc(0);
    const max = this.alphabet === 'ia5' ? 0x7f : 0xff;
    let plain = '';
    for (const ch of text) plain += ch.length === 1 && ch.charCodeAt(0) <= max ? ch : '?';
    return Buffer.concat([udh, Buffer.from(plain, 'latin1')]);
  }

  private onResp(e: E, err: SwitchyardError | null, resp?: { commandStatus: number; messageId: string }, latencyMs?: number): void {
    this.inFlightIds.delete(e.ref);
    if (err !== null || resp === undefined) {
      this.metrics?.submit('timeout');
      // Timeout or bind lost: the SMSC may or may not have it. Resend (at least once).
      this.s.retried++;
      this.retry.push(e);
      return;
    }
    switch (classifySubmitStatus(resp.commandStatus)) {
      case 'ok':
        this.metrics?.submit('ok', latencyMs);
        this.s.submitted++;
        this.throttleStreak = 0;
        this.submittedBatch.push({ entry: e, normId: normalizeSmscId(resp.messageId), rawId: resp.messageId });
        this.resolvedIds.add(e.ref);
        this.unpersisted++;
        this.scheduleFlush();
        // The window slot is free now: refill it without waiting for the store.
        this.schedulePump();
        break;
      case 'throttled':
        this.metrics?.submit('throttled', latencyMs);
        this.s.throttled++;
        this.s.retried++;
        this.retry.unshift(e);
        this.pausedUntil = this.clock.now() + this.backoff(this.smsc.throttleBackoffMs, this.throttleStreak++);
        break;
      case 'temporary':
        this.metrics?.submit('temporary', latencyMs);
        this.s.retried++;
        this.retry.push(e);
        this.pausedUntil = Math.max(this.pausedUntil, this.clock.now() + this.smsc.throttleBackoffMs.min);
        break;
      default:
        this.metrics?.submit('rejected', latencyMs);
        this.s.rejected++;
        this.resolvedIds.add(e.ref);
        this.failedBatch.push({
          entry: e,
          state: 'R',
          errCode: '0x' + resp.commandStatus.toString(16).padStart(8, '0'),
          errText: 'refused by the SMSC at submit',
        });
        this.scheduleFlush();
    }
  }

  // ---- pulling -------------------------------------------------------------

  private async pull(credit: number): Promise<void> {
    this.reading = true;
    try {
      const { entries, unreadable } = await this.store.pull(credit);
      for (const e of entries) this.buf.push(e);
      if (unreadable.length > 0) {
        this.events.emit('log', 'error', `dropping ${unreadable.length} malformed queue entries`);
        await this.store.drop(unreadable);
      }
    } catch (err) {
      this.events.emit('log', 'warn', `queue read failed: ${(err as Error).message}`);
      await this.sleep(READ_RETRY_MS);
    } finally {
      this.reading = false;
    }
    this.pump();
  }

  /** Entries this actor holds: buffered, to be resent, on the wire, or resolved and not yet recorded. */
  private held(): Set<string> {
    const known = new Set<string>();
    for (let i = this.head; i < this.buf.length; i++) known.add((this.buf[i] as E).ref);
    for (const e of this.retry) known.add(e.ref);
    for (const ref of this.inFlightIds) known.add(ref);
    for (const ref of this.resolvedIds) known.add(ref);
    return known;
  }

  /** After a (re)start or lost reads: re-read this actor's own pending entries first. */
  private async recover(): Promise<void> {
    this.reading = true;
    try {
      for await (const { entries, unreadable } of this.store.pending(RECOVERY_PAGE)) {
        if (unreadable.length > 0) await this.store.drop(unreadable);
        const known = this.held();
        const fresh = entries.filter((e) => !known.has(e.ref));
        for (const e of await this.store.keepUnsent(fresh)) this.buf.push(e);
      }
      this.recovered = true;
    } catch (err) {
      this.events.emit('log', 'warn', `pending recovery failed: ${(err as Error).message}`);
      await this.sleep(READ_RETRY_MS);
    } finally {
      this.reading = false;
    }
    this.pump();
  }

  /** Takes over entries other actors left unsettled (a dead engine node; the store's rule says which). */
  private async reclaim(): Promise<void> {
    if (!this.running || !this.recovered) return;
    // Entries taken over are sent by this actor: without a usable slot it would only sit on them.
    if (this.opts.leases !== undefined && this.opts.leases.usableCount() === 0) return;
    try {
      for await (const claimed of this.store.takeOver()) {
        const known = this.held();
        const fresh = claimed.filter((e) => !known.has(e.ref));
        for (const e of await this.store.keepUnsent(fresh)) this.retry.push(e);
      }
    } catch (err) {
      this.events.emit('log', 'warn', `reclaim failed: ${(err as Error).message}`);
    }
  }

  private readonly inFlightIds = new Set<string>();
  /**
   * Entries whose outcome (resp or final failure) is known but not yet in the
   * store: their part still reads "queued" there, so recovery and reclaim must
   * not take them for unsent (they would be sent twice).
   */
  private readonly resolvedIds = new Set<string>();

  // ---- receipts ------------------------------------------------------------

  /**
   * A deliver_sm or data_sm: a receipt or an MO message. Every one is
   * answered: 0 once the store has it, 0x64 (temporary: redeliver) when that
   * failed, 0x65 (permanent) when it can never be used.
   */
  private onDeliver(session: SmscSession, d: IncomingDeliver): void {
    if ((d.esmClass & 0x3c) !== 0x04) {
      // Not a delivery receipt: a mobile-originated message. Its deliver_sm_resp follows once Redis has it (mo-recorder.ts).
      if (this.opts.mo !== undefined) this.opts.mo.onDeliver(session, d);
      else session.replyDeliverSm(d.sequence, 0);
      return;
    }
    // data_sm receipts carry their text (if any) in message_payload.
    const body = d.shortMessage.length === 0 && d.messagePayload !== undefined ? d.messagePayload : d.shortMessage;
    const text = body.toString('latin1');
    const r = readReceipt({ receiptedMessageId: d.receiptedMessageId, messageState: d.messageState, text });
    if (r === undefined) {
      this.limitedLog('warn', 'a receipt without a message id (no receipted_message_id, no "id:" in its text): answered 0x00000065, it can never match');
      session.replyDeliverSm(d.sequence, ESME_RX_P_APPN);
      return;
    }
    if (r.state === undefined) {
      session.replyDeliverSm(d.sequence, 0);
      return;
    }
    this.receiptBatch.push({
      // The raw reply goes to analytics for failures (capped): a delivered receipt says nothing its row does not.
      item: { state: r.state, errCode: r.err, errText: r.stat, key: receiptKey(r.id, this.smsc.receiptIdMatch), raw: r.state === 'D' ? '' : (text === '' ? `stat:${r.stat} err:${r.err}` : text.slice(0, 255)) },
      session,
      sequence: d.sequence,
    });
    this.scheduleFlush();
  }

  // ---- state writes ---------------------------------------------------------

  /**
   * State changes are gathered for stateFlushMs and written in one store call:
   * every call costs Redis a script start and a wake-up whatever its size, and
   * on a busy machine each call's write gives the CPU away to Redis.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    const ms = this.opts.stateFlushMs ?? 0;
    if (ms > 0) this.clock.setTimeout(() => this.flush(), ms);
    else setImmediate(() => this.flush());
  }

  /**
   * Runs one state write. On failure (the store down or restarting) the items go
   * back into their batch and are written again later: their entries stay
   * unsettled meanwhile, so nothing is lost even if this actor dies first.
   */
  private persist<R>(what: string, items: ReadonlyArray<unknown>, write: () => Promise<R>, done: (r: R) => void, requeue: () => void): void {
    this.flushing++;
    write().then(
      (r) => {
        this.flushing--;
        done(r);
      },
      (err: Error) => {
        this.flushing--;
        this.events.emit('log', 'warn', `recording ${items.length} ${what} failed, will retry: ${err.message}`);
        this.clock.setTimeout(() => {
          requeue();
          this.scheduleFlush();
        }, WRITE_RETRY_MS);
      },
    );
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.submittedBatch.length > 0) {
      const items = this.submittedBatch;
      this.submittedBatch = [];
      this.persist('submits', items, () => this.store.submitted(items), (early) => {
        this.s.receiptsEarly += early;
        this.unpersisted -= items.length;
        for (const it of items) this.resolvedIds.delete(it.entry.ref);
        this.pump();
      }, () => this.submittedBatch.push(...items));
    }
    if (this.failedBatch.length > 0) {
      const items = this.failedBatch;
      this.failedBatch = [];
      this.persist('failures', items, () => this.store.failed(items), () => {
        for (const it of items) this.resolvedIds.delete(it.entry.ref);
      }, () => this.failedBatch.push(...items));
    }
    if (this.receiptBatch.length > 0) {
      const batch = this.receiptBatch;
      this.receiptBatch = [];
      this.flushing++;
      this.store.receipts(batch.map((b) => b.item)).then(
        ({ outcomes, latencyMs }) => {
          this.flushing--;
          for (let i = 0; i < batch.length; i++) {
            const r = outcomes[i];
            const b = batch[i] as (typeof batch)[number];
            if (r === 'applied' || r === 'early') {
              this.s.receipts++;
              // An early receipt (before its resp was recorded) came within the submit's own round trip: 0.
              this.metrics?.receipt(b.item.state, r === 'early' ? 0 : (latencyMs[i] ?? -1));
              if (b.item.state === 'D') this.s.receiptsDelivered++;
              else if (b.item.state !== 'u') this.s.receiptsFailed++;
            } else if (r === 'gone') {
              this.s.receiptsUnmatched++;
              this.metrics?.unmatched();
            }
            b.session.replyDeliverSm(b.sequence, 0);
          }
        },
        (err: Error) => {
          this.flushing--;
          this.events.emit('log', 'warn', `recording ${batch.length} receipts failed; SMSC will retry: ${err.message}`);
          for (const b of batch) b.session.replyDeliverSm(b.sequence, ESME_RX_T_APPN);
        },
      );
    }
  }
}
