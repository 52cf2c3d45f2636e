/**
 * One SMPP session over a TCP socket, for either side (ESME client or SMSC
 * server). It replaces the `smpp` package's Session, whose limits we measured
 * and read in its source: no window, no response timeout (pending callbacks
 * are never failed, even on close), socket.write backpressure ignored, one
 * write() per PDU, no TCP no-delay, and a malformed PDU leaves the session deaf
 * (`_extractPDUs` returns without resetting `_busy`).
 *
 *   socket ─data─▶ rx ─▶ framer (16 ≤ command_length ≤ maxPduBytes)   [stops while reading is paused]
 *                    ├─ response ─▶ pending[seq] callback (window slot freed)
 *                    ├─ deliver_sm / data_sm ─▶ held until open() ─▶ fast codec ─▶ 'deliver_sm'
 *                    │      (tracked until the owner answers; no listener or no answer in time: 0x64)
 *                    ├─ submit_sm (SMSC side) ─▶ fast codec ─▶ 'submit_sm'
 *                    ├─ enquire_link, unbind ─▶ answered here
 *                    ├─ what the peer may not ask of this side (ESME side: bind_*, submit_*,
 *                    │      query_sm, cancel_sm, replace_sm, outbind) ─▶ refused here, with a reason
 *                    ├─ other request (SMSC side) ─▶ smpp.PDU ─▶ 'request'
 *                    └─ undecodable ─▶ its resp (or generic_nack) with the status naming the
 *                                      faulty field, 'bad_pdu', skip (resync by length)
 *   submit()/respond() ─▶ out queue ─▶ one socket.write per tick (coalesced),
 *                          paused while the socket is backpressured
 *
 * Every request the peer sends gets exactly one response (alert_notification,
 * which SMPP gives none, aside). Receipts an SMSC flushes in the same TCP read
 * as its bind_resp are the reason for holding: the owner attaches its
 * deliver_sm listener only after bind() resolves, a few microtasks after that
 * read was dispatched, so the connection keeps what came until the owner says
 * open() (or attaches a 'deliver_sm' listener).
 *
 * Bounded per peer: reading stops (socket.pause, the rest of a read kept
 * unparsed) while the output not yet taken by the peer is over maxOutputBytes,
 * or while maxInboundPending requests wait for the owner's answer. A peer that
 * leaves the output over the bound for a whole response timeout is dropped
 * with a 'warn' saying so: an SMSC that floods enquire_link and never reads
 * cannot grow this process.
 *
 * Response timeouts use one sweep timer per connection, not a timer per PDU
 * (undici's low-precision timers idea): pending requests sit in a Map in send
 * order, all with the same timeout, so the sweep stops at the first one that is
 * not yet due. Inbound requests waiting for the owner are swept the same way.
 * A sweep that comes over a second late (the process was stopped or paused)
 * is skipped: timers run before sockets are read, and the resps that came
 * meanwhile must be read before anything times out (else their messages would
 * be resent: duplicates).
 *
 * Fencing (the `fence` option, bind leases of engine/fleet/): checked when the
 * output is written; false drops the queued submit_sm unwritten (SMPP_FENCED).
 */
import { EventEmitter } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import smpp, { type PDU } from 'smpp';
import { RetryableError, SmppPduError, SmppStatus, SwitchyardError } from '../errors.js';
import {
  CommandId, HEADER_LEN, decodeDataSm, decodeDeliverSm, decodeSubmitSm, decodeSubmitSmResp, encodeDeliverSm,
  encodeEmpty, encodeResp, encodeSubmitSm, type DeliverSm, type SarInfo, type ShortMessageBody,
} from './pdu-codec.js';

export interface SmppConnectionOptions {
  /** Unanswered submit_sm / deliver_sm this side may have outstanding. */
  readonly window: number;
  readonly responseTimeoutMs: number;
  /** Send enquire_link after this much silence; 0 disables. */
  readonly enquireLinkMs?: number;
  readonly maxPduBytes?: number;
  /**
   * 'esme' (default for bind()): refuses the requests only an ESME may make
   * (binds, submits, queries...) itself; 'smsc' (the simulator) hands them to
   * the owner as 'request'.
   */
  readonly role?: 'esme' | 'smsc';
  /** Keep inbound deliver_sm/data_sm until open() (bind() sets this). */
  readonly holdInbound?: boolean;
  /** Output the peer has not taken (queued + in the socket) beyond which reading stops. Default 1 MiB. */
  readonly maxOutputBytes?: number;
  /** Inbound requests waiting for the owner's answer beyond which reading stops. Default 1,000. */
  readonly maxInboundPending?: number;
  /**
   * Checked when the output is written (ESME side; bind leases, engine/fleet/): false means
   * this bind's lease may have run out (the process was paused between queueing and writing):
   * its submit_sm are not written (their callbacks fail SMPP_FENCED) and the rest goes.
   */
  readonly fence?: () => boolean;
}

export interface SubmitResp {
  readonly commandStatus: number;
  readonly messageId: string;
}

export type RespCallback = (err: SwitchyardError | null, resp?: SubmitResp) => void;

interface Pending {
  readonly cb: RespCallback;
  readonly deadline: number;
  readonly counts: boolean; // holds a window slot
}

/** An inbound request the owner has to answer (deliver_sm, data_sm). */
interface Inbound {
  readonly respId: number;
  readonly deadline: number;
  /** Requests under this sequence number (a peer reusing one before it was answered). */
  n: number;
}

/** A submit_sm to send; `sar` adds the SAR concatenation TLVs (SMSCs configured `concatenation: "sar"`). */
export type OutgoingSubmit = ShortMessageBody & { readonly sar?: SarInfo };

export interface BindOptions extends SmppConnectionOptions {
  readonly host: string;
  readonly port: number;
  readonly systemId: string;
  readonly password: string;
  readonly systemType?: string;
  readonly connectTimeoutMs?: number;
}

export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;
export const DEFAULT_MAX_INBOUND_PENDING = 1000;

/**
 * Requests an SMSC has no business sending to an ESME, and the status they are
 * refused with in their own response: binds on a bound session 0x05
 * (ESME_RALYBND), the rest 0x03 (ESME_RINVCMDID: this side does not take them).
 */
const REFUSED_FROM_SMSC = new Map<number, number>([
  [CommandId.bind_receiver, SmppStatus.ESME_RALYBND],
  [CommandId.bind_transmitter, SmppStatus.ESME_RALYBND],
  [CommandId.bind_transceiver, SmppStatus.ESME_RALYBND],
  [CommandId.submit_sm, SmppStatus.ESME_RINVCMDID],
  [CommandId.submit_multi, SmppStatus.ESME_RINVCMDID],
  [CommandId.query_sm, SmppStatus.ESME_RINVCMDID],
  [CommandId.cancel_sm, SmppStatus.ESME_RINVCMDID],
  [CommandId.replace_sm, SmppStatus.ESME_RINVCMDID],
]);

let writesTotal = 0;
/** socket.write calls made by all connections (for the coalescing test and benchmarks). */
export const socketWrites = (): number => writesTotal;

const hex8 = (n: number): string => '0x' + (n >>> 0).toString(16).padStart(8, '0');

/** A sweep this late (ms) means the process was not running: it waits for the input to be read first. */
const OVERSLEPT_MS = 1000;

export class SmppConnection extends EventEmitter {
  readonly socket: Socket;
  readonly window: number;
  private readonly timeoutMs: number;
  private readonly maxPdu: number;
  private readonly role: 'esme' | 'smsc';
  private readonly maxOutput: number;
  private readonly maxInbound: number;
  private readonly pending = new Map<number, Pending>();
  /** Inbound requests given to the owner and not answered yet, in arrival order. */
  private readonly inbound = new Map<number, Inbound>();
  private inboundCount = 0;
  /** Inbound requests kept until open(), and since when; 'bad_pdu' and 'warn' events of that time. */
  private held: Buffer[] | undefined;
  private heldSince = 0;
  private heldNotices: Array<['bad_pdu' | 'warn', string]> = [];
  private windowUsed = 0;
  private seq = 0;
  private rx: Buffer | undefined;
  private out: Buffer[] = [];
  private outBytes = 0;
  private flushScheduled = false;
  private backpressured = false;
  private closed = false;
  private parsing = false;
  private readPaused = false;
  private parseScheduled = false;
  /** Since when the output has been over maxOutputBytes (0: it is not). */
  private overSince = 0;
  private lastRx = Date.now();
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly enquireMs: number;
  private readonly fence: (() => boolean) | undefined;
  private readonly sweepEvery: number;
  private lastSweep: number;
  /** submit_sm dropped unwritten because the fence said no (see SmppConnectionOptions.fence). */
  fencedSubmits = 0;
  /** When the peer last sent a request (not a response): the SMPP server's idle timeout reads it. */
  lastRequestAt = Date.now();
  /** The peer's system_id once bound (server side). */
  systemId = '';
  bound = false;

  constructor(socket: Socket, o: SmppConnectionOptions) {
    super();
    this.socket = socket;
    this.window = o.window;
    this.timeoutMs = o.responseTimeoutMs;
    this.maxPdu = o.maxPduBytes ?? 16_384;
    this.enquireMs = o.enquireLinkMs ?? 0;
    this.role = o.role ?? 'smsc';
    this.maxOutput = o.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    this.maxInbound = o.maxInboundPending ?? DEFAULT_MAX_INBOUND_PENDING;
    this.fence = o.fence;
    if (o.holdInbound === true) {
      this.held = [];
      // Attaching the owner's listener opens the connection too (once the attaching code has run).
      const onListener = (event: string | symbol) => {
        if (event !== 'deliver_sm') return;
        this.off('newListener', onListener);
        queueMicrotask(() => this.open());
      };
      this.on('newListener', onListener);
    }
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      this.backpressured = false;
      this.flush();
      this.updateReading();
      this.emit('drain');
    });
    socket.on('error', (err) => this.emit('socket_error', err));
    socket.on('close', () => this.onClose());
    const sweepEvery = Math.max(10, Math.min(1000, Math.floor(this.timeoutMs / 4)));
    this.sweepEvery = sweepEvery;
    this.lastSweep = Date.now();
    this.sweepTimer = setInterval(() => this.sweep(), sweepEvery);
    this.sweepTimer.unref();
  }

  /**
   * Connects, binds as a transceiver and resolves with the bound connection.
   * Inbound deliver_sm/data_sm are held until the owner calls open() or
   * attaches a 'deliver_sm' listener: nothing the SMSC sends with (or right
   * after) its bind_resp is dispatched to nobody.
   */
  static async bind(o: BindOptions): Promise<SmppConnection> {
    const socket = netConnect({ host: o.host, port: o.port });
    const timeoutMs = o.connectTimeoutMs ?? 5000;
    await new Promise<void>((ok, fail) => {
      const t = setTimeout(() => {
        socket.destroy();
        fail(new RetryableError('SMPP_BIND_FAILED', `connect to ${o.host}:${o.port} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(t);
        ok();
      });
      socket.once('error', (err) => {
        clearTimeout(t);
        fail(new RetryableError('SMPP_BIND_FAILED', `connect to ${o.host}:${o.port} failed: ${err.message}`, { cause: err }));
      });
    });
    const conn = new SmppConnection(socket, { role: 'esme', holdInbound: true, ...o });
    const pdu = new smpp.PDU('bind_transceiver', {
      system_id: o.systemId,
      password: o.password,
      system_type: o.systemType ?? '',
      interface_version: 0x34,
    });
    // A bind that fails or gets no answer closes its socket: a half-open session
    // would hold one of the few binds an operator allows an account.
    const resp = await new Promise<{ commandStatus: number }>((ok, fail) => {
      const t = setTimeout(() => {
        conn.destroy();
        fail(new RetryableError('SMPP_BIND_FAILED', `bind to ${o.host}:${o.port} got no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      conn.request(pdu, (err, r) => {
        clearTimeout(t);
        if (err) {
          conn.destroy();
          fail(new RetryableError('SMPP_BIND_FAILED', `bind to ${o.host}:${o.port} failed: ${err.message}`, { cause: err }));
        } else ok(r as SubmitResp);
      });
    });
    if (resp.commandStatus !== 0) {
      conn.destroy();
      const why = resp.commandStatus === SmppStatus.ESME_RINVPASWD ? ' (invalid password)' : resp.commandStatus === SmppStatus.ESME_RINVSYSID ? ' (invalid system_id)' : '';
      throw new SwitchyardError('SMPP_BIND_FAILED', `bind to ${o.host}:${o.port} refused with command_status ${hex8(resp.commandStatus)}${why}`);
    }
    conn.bound = true;
    conn.systemId = o.systemId;
    return conn;
  }

  /** Dispatches the inbound requests held since the bind, and every later one as it comes. */
  open(): void {
    const held = this.held;
    if (held === undefined) return;
    this.held = undefined;
    this.heldSince = 0;
    const notices = this.heldNotices;
    this.heldNotices = [];
    for (const [event, msg] of notices) this.emit(event, msg);
    for (const frame of held) {
      if (this.closed) break;
      this.dispatchInbound(frame);
    }
    this.updateReading();
  }

  get inFlight(): number {
    return this.windowUsed;
  }

  get freeSlots(): number {
    return this.window - this.windowUsed;
  }

  /** False while closed or while the socket is backpressured: callers stop sending. */
  get writable(): boolean {
    return !this.closed && !this.backpressured;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Inbound requests held or waiting for the owner's answer. */
  get inboundPending(): number {
    return this.inboundCount;
  }

  /** Output not yet taken by the peer: queued here plus buffered in the socket (bytes). */
  get outputBytes(): number {
    return this.outBytes + this.socket.writableLength;
  }

  private nextSeq(): number {
    this.seq = this.seq >= 0x7fffffff ? 1 : this.seq + 1;
    return this.seq;
  }

  /**
   * Sends a submit_sm. Returns false (and does not call back) when the window
   * is full or the connection is closed.
   */
  submit(sm: OutgoingSubmit, cb: RespCallback): boolean {
    if (this.closed || this.windowUsed >= this.window) return false;
    const sequence = this.nextSeq();
    const frame = encodeSubmitSm(sm, sequence);
    this.track(sequence, cb, true);
    this.queue(frame);
    return true;
  }

  /** Sends a deliver_sm (SMSC side). Same window rules as submit(). */
  deliverSm(d: ShortMessageBody & Omit<DeliverSm, keyof ShortMessageBody | 'sequence'>, cb: RespCallback): boolean {
    if (this.closed || this.windowUsed >= this.window) return false;
    const sequence = this.nextSeq();
    this.track(sequence, cb, true);
    this.queue(encodeDeliverSm({ ...d, sequence }));
    return true;
  }

  /** Sends any other request through the `smpp` package's codec. */
  request(pdu: PDU, cb: RespCallback): boolean {
    if (this.closed) return false;
    pdu.sequence_number = this.nextSeq();
    this.track(pdu.sequence_number, cb, false);
    this.queue(pdu.toBuffer());
    return true;
  }

  private track(sequence: number, cb: RespCallback, counts: boolean): void {
    this.pending.set(sequence, { cb, deadline: Date.now() + this.timeoutMs, counts });
    if (counts) this.windowUsed++;
  }

  respondSubmit(sequence: number, status: number, messageId: string, respId: number = CommandId.submit_sm_resp): void {
    this.queue(encodeResp(respId, status, sequence, messageId));
  }

  /**
   * Answers an inbound deliver_sm or data_sm (with deliver_sm_resp or
   * data_sm_resp, whichever it was). An answer to a request that was already
   * answered (by the timeout below) or never came is dropped: the peer gets
   * exactly one.
   */
  replyDeliverSm(sequence: number, status: number): void {
    const r = this.inbound.get(sequence);
    if (r === undefined) return;
    if (--r.n === 0) this.inbound.delete(sequence);
    this.inboundCount--;
    this.queue(encodeResp(r.respId, status, sequence, ''));
    if (this.readPaused) this.updateReading();
  }

  /** Sends a response built with the `smpp` package (bind responses and the like). */
  respondPdu(pdu: PDU): void {
    this.queue(pdu.toBuffer());
  }

  genericNack(sequence: number, status: number): void {
    this.queue(encodeEmpty(CommandId.generic_nack, status, sequence));
  }

  private queue(frame: Buffer): void {
    if (this.closed) return;
    this.out.push(frame);
    this.outBytes += frame.length;
    if (this.outBytes > this.maxOutput) this.updateReading();
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed || this.backpressured || this.out.length === 0) return;
    if (this.fence !== undefined && !this.fence()) this.dropFencedSubmits();
    if (this.out.length === 0) return;
    const data = this.out.length === 1 ? (this.out[0] as Buffer) : Buffer.concat(this.out);
    this.out = [];
    this.outBytes = 0;
    writesTotal++;
    if (!this.socket.write(data)) {
      this.backpressured = true;
      this.updateReading();
    }
  }

  /**
   * Takes the submit_sm out of the output (a frame's command_id is its second
   * word) and fails their callbacks: they were never written, so the entries
   * behind them are unsent, and resending them elsewhere makes no duplicate.
   */
  private dropFencedSubmits(): void {
    const keep: Buffer[] = [];
    const dropped: Pending[] = [];
    for (const f of this.out) {
      if (f.readUInt32BE(4) !== CommandId.submit_sm) {
        keep.push(f);
        continue;
      }
      const p = this.pending.get(f.readUInt32BE(12));
      if (p !== undefined) {
        this.pending.delete(f.readUInt32BE(12));
        if (p.counts) this.windowUsed--;
        dropped.push(p);
      }
      this.outBytes -= f.length;
    }
    if (keep.length === this.out.length) return;
    this.out = keep;
    this.fencedSubmits += dropped.length;
    const err = new RetryableError('SMPP_FENCED', 'not written: the bind\'s lease may have run out (engine/fleet/)');
    for (const p of dropped) p.cb(err);
  }

  // ---- flow control towards the peer --------------------------------------

  /**
   * Reading stops while the peer leaves too much of our output unread or too
   * many of its requests wait for our owner; it goes on when both are back
   * under their bounds. What is already read stays in rx, unparsed.
   */
  private updateReading(): void {
    if (this.closed) return;
    const over = this.outBytes + this.socket.writableLength > this.maxOutput;
    if (over && this.overSince === 0) this.overSince = Date.now();
    else if (!over) this.overSince = 0;
    const pause = over || this.inboundCount >= this.maxInbound;
    if (pause && !this.readPaused) {
      this.readPaused = true;
      this.socket.pause();
    } else if (!pause && this.readPaused) {
      this.readPaused = false;
      this.socket.resume();
      // What was read before the pause and not parsed yet.
      if (this.rx !== undefined && !this.parseScheduled) {
        this.parseScheduled = true;
        setImmediate(() => {
          this.parseScheduled = false;
          this.parse();
        });
      }
    }
  }

  // ---- receiving ----------------------------------------------------------

  private onData(chunk: Buffer): void {
    this.lastRx = Date.now();
    this.rx = this.rx === undefined ? chunk : Buffer.concat([this.rx, chunk]);
    this.parse();
  }

  private parse(): void {
    if (this.parsing || this.closed) return;
    this.parsing = true;
    try {
      this.parseFrames();
    } finally {
      this.parsing = false;
    }
  }

  private parseFrames(): void {
    const buf = this.rx;
    if (buf === undefined) return;
    let off = 0;
    while (buf.length - off >= 4 && !this.readPaused) {
      const len = buf.readUInt32BE(off);
      if (len < HEADER_LEN || len > this.maxPdu) {
        // The framing is lost: no way to find the next PDU. Say why and close.
        const seq = buf.length - off >= HEADER_LEN ? buf.readUInt32BE(off + 12) : 0;
        this.notice('bad_pdu', `command_length ${len} outside ${HEADER_LEN}..${this.maxPdu}; closing the session`);
        this.genericNack(seq, SmppStatus.ESME_RINVCMDLEN);
        this.flush();
        this.rx = undefined;
        this.socket.end();
        setTimeout(() => this.socket.destroy(), 100).unref();
        return;
      }
      if (buf.length - off < len) break;
      const frame = buf.subarray(off, off + len);
      off += len;
      this.dispatch(frame);
      if (this.closed) return;
    }
    if (off === buf.length) this.rx = undefined;
    else if (off > 0) this.rx = Buffer.from(buf.subarray(off)); // keep the rest; copy it so the big chunk can be freed
  }

  private dispatch(frame: Buffer): void {
    const id = frame.readUInt32BE(4);
    const status = frame.readUInt32BE(8);
    const sequence = frame.readUInt32BE(12);
    if (id & 0x80000000) {
      this.onResponse(frame, id, status, sequence);
      return;
    }
    this.lastRequestAt = Date.now();
    try {
      switch (id) {
        case CommandId.deliver_sm:
        case CommandId.data_sm:
          // A customer's data_sm to the SMPP server (engine/smpp-server/), read like a deliver_sm.
          if (id === CommandId.data_sm && this.role === 'smsc' && this.listenerCount('data_sm') > 0) {
            this.emit('data_sm', decodeDataSm(frame));
            return;
          }
          if (this.role === 'esme') {
            this.inboundCount++;
            if (this.held !== undefined) {
              if (this.held.length === 0) this.heldSince = Date.now();
              this.held.push(frame);
            } else this.dispatchInbound(frame);
            if (this.inboundCount >= this.maxInbound) this.updateReading();
            return;
          }
          break;
        case CommandId.submit_sm:
          if (this.role === 'smsc') {
            this.emit('submit_sm', decodeSubmitSm(frame));
            return;
          }
          break;
        case CommandId.enquire_link:
          this.queue(encodeEmpty(CommandId.enquire_link_resp, 0, sequence));
          return;
        case CommandId.unbind:
          this.queue(encodeEmpty(CommandId.unbind_resp, 0, sequence));
          this.flush();
          this.socket.end();
          return;
        case CommandId.alert_notification:
          // SMPP 3.4 §4.12: alert_notification has no response. Nothing here needs it.
          return;
        case CommandId.outbind:
          // outbind has no response PDU either, but on a session it is a request out of place: say so.
          this.refuse(`outbind on an open session`, sequence, CommandId.generic_nack, SmppStatus.ESME_RINVCMDID);
          return;
        default:
          break;
      }
      const refusal = this.role === 'esme' ? REFUSED_FROM_SMSC.get(id) : undefined;
      if (refusal !== undefined) {
        this.refuse(`request ${hex8(id)} that an SMSC may not send to an ESME`, sequence, (id | 0x80000000) >>> 0, refusal);
        return;
      }
      const pdu = this.role === 'esme' ? undefined : new smpp.PDU(Buffer.from(frame));
      if (pdu === undefined || pdu.command === 'unknown') {
        this.refuse(`unknown command_id ${hex8(id)}`, sequence, CommandId.generic_nack, SmppStatus.ESME_RINVCMDID);
        return;
      }
      this.emit('request', pdu);
    } catch (err) {
      // An undecodable PDU: refuse it and carry on with the next one.
      const st = err instanceof SmppPduError ? err.commandStatus : SmppStatus.ESME_RINVCMDLEN;
      this.refuse((err as Error).message, sequence, CommandId.generic_nack, st);
    }
  }

  /** 'bad_pdu' and 'warn' events; until open(), kept while nobody listens (the owner attaches after bind()). */
  private notice(event: 'bad_pdu' | 'warn', msg: string): void {
    if (this.held !== undefined && this.listenerCount(event) === 0) {
      if (this.heldNotices.length < 100) this.heldNotices.push([event, msg]);
    } else this.emit(event, msg);
  }

  private refuse(why: string, sequence: number, respId: number, status: number): void {
    this.notice('bad_pdu', `${why}: answered ${respId === CommandId.generic_nack ? 'generic_nack' : hex8(respId)} with command_status ${hex8(status)}`);
    this.queue(respId === CommandId.generic_nack ? encodeEmpty(respId, status, sequence) : encodeResp(respId, status, sequence, ''));
  }

  /** A deliver_sm or data_sm for the owner (ESME side); inboundCount already counts it. */
  private dispatchInbound(frame: Buffer): void {
    const id = frame.readUInt32BE(4);
    const sequence = frame.readUInt32BE(12);
    const respId = (id | 0x80000000) >>> 0;
    let d: DeliverSm;
    try {
      d = id === CommandId.data_sm ? decodeDataSm(frame) : decodeDeliverSm(frame);
    } catch (err) {
      this.inboundCount--;
      const st = err instanceof SmppPduError ? err.commandStatus : SmppStatus.ESME_RINVCMDLEN;
      this.refuse((err as Error).message, sequence, respId, st);
      return;
    }
    const r = this.inbound.get(sequence);
    if (r !== undefined) r.n++;
    else this.inbound.set(sequence, { respId, deadline: Date.now() + this.timeoutMs, n: 1 });
    if (this.listenerCount('deliver_sm') === 0) {
      // Never silence: the SMSC keeps the message and sends it again later.
      this.notice('warn', `${id === CommandId.data_sm ? 'data_sm' : 'deliver_sm'} ${sequence} arrived with nobody to take it; answered 0x00000064 (redeliver)`);
      this.replyDeliverSm(sequence, SmppStatus.ESME_RX_T_APPN);
      return;
    }
    this.emit('deliver_sm', d);
  }

  private onResponse(frame: Buffer, id: number, status: number, sequence: number): void {
    const p = this.pending.get(sequence);
    if (p === undefined) {
      if (id !== CommandId.generic_nack && id !== CommandId.enquire_link_resp) this.notice('bad_pdu', `response ${hex8(id)} for unknown sequence ${sequence}; ignored`);
      return;
    }
    this.pending.delete(sequence);
    if (p.counts) this.windowUsed--;
    // Once taken off the pending list the request must be answered, or its
    // message would wait forever: a resp that cannot be read fails it (retried).
    let messageId = '';
    try {
      if (id === CommandId.submit_sm_resp) messageId = decodeSubmitSmResp(frame);
    } catch (err) {
      this.notice('bad_pdu', (err as Error).message);
      p.cb(new RetryableError('SMPP_BAD_PDU', `unreadable response to sequence ${sequence}: ${(err as Error).message}`));
      if (p.counts && this.windowUsed === this.window - 1) this.emit('slot');
      return;
    }
    p.cb(null, { commandStatus: status, messageId });
    if (p.counts && this.windowUsed === this.window - 1) this.emit('slot');
  }

  private sweep(): void {
    const now = Date.now();
    const overslept = now - this.lastSweep - this.sweepEvery;
    this.lastSweep = now;
    // The process did not run for a while (stopped, paused, a long GC): timers run before the sockets
    // are read, so the resps that came meanwhile would be timed out unread and their messages resent
    // (duplicates). This sweep is skipped; the next comes after the input has been read.
    if (overslept > OVERSLEPT_MS) return;
    for (const [seq, p] of this.pending) {
      if (p.deadline > now) break;
      this.pending.delete(seq);
      if (p.counts) this.windowUsed--;
      p.cb(new RetryableError('SMPP_TIMEOUT', `no response to sequence ${seq} within ${this.timeoutMs} ms`));
    }
    // Inbound requests the owner did not answer in time (Redis unreachable, say) are
    // answered 0x64 so that the SMSC redelivers them: none may hold its window for good.
    let late = 0;
    if (this.held !== undefined && this.held.length > 0 && now - this.heldSince >= this.timeoutMs) {
      // Held since the bind and the owner never opened: they are answered like late ones.
      for (const frame of this.held) {
        const id = frame.readUInt32BE(4);
        this.queue(encodeResp((id | 0x80000000) >>> 0, SmppStatus.ESME_RX_T_APPN, frame.readUInt32BE(12), ''));
      }
      late += this.held.length;
      this.inboundCount -= this.held.length;
      this.held = [];
    }
    for (const [seq, r] of this.inbound) {
      if (r.deadline > now) break;
      this.inbound.delete(seq);
      this.inboundCount -= r.n;
      for (let k = 0; k < r.n; k++) this.queue(encodeResp(r.respId, SmppStatus.ESME_RX_T_APPN, seq, ''));
      late += r.n;
    }
    if (late > 0) {
      this.notice('warn', `${late} inbound request(s) not answered within ${this.timeoutMs} ms; answered 0x00000064 (redeliver)`);
      this.updateReading();
    }
    if (this.overSince > 0 && now - this.overSince >= this.timeoutMs && !this.closed) {
      this.notice('warn', `the peer has left ${this.outputBytes} bytes of output unread for ${now - this.overSince} ms (bound ${this.maxOutput}); closing the session`);
      this.destroy();
      return;
    }
    if (this.enquireMs > 0 && this.bound && now - this.lastRx >= this.enquireMs && !this.closed) {
      this.lastRx = now; // one probe per silent period
      this.request(new smpp.PDU('enquire_link'), (err) => {
        if (err) {
          this.notice('bad_pdu', `enquire_link unanswered: ${err.message}; closing the session`);
          this.destroy();
        }
      });
    }
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    const pending = [...this.pending.values()];
    this.pending.clear();
    this.inbound.clear();
    this.inboundCount = 0;
    this.held = undefined;
    this.rx = undefined;
    this.windowUsed = 0;
    this.out = [];
    this.outBytes = 0;
    const err = new RetryableError('SMPP_CONNECTION_CLOSED', 'the SMPP session closed before the response arrived');
    for (const p of pending) p.cb(err);
    this.emit('close');
  }

  /** Unbinds politely (bounded wait), then closes. */
  close(): void {
    if (this.closed) return;
    this.request(new smpp.PDU('unbind'), () => this.socket.end());
    this.flush();
    setTimeout(() => this.socket.destroy(), 500).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
