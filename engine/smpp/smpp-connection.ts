/**
 * One SMPP session over a TCP socket, for either side (ESME client or SMSC
 * server). It replaces the `smpp` package's Session, whose limits we measured
 * and read in its source: no window, no response timeout (pending callbacks
 * are never failed, even on close), socket.write backpressure ignored, one
 * write() per PDU, no TCP no-delay, and a malformed PDU leaves the session deaf
 * (`_extractPDUs` returns without resetting `_busy`).
 *
 *   socket ─data─▶ framer (16 ≤ command_length ≤ maxPduBytes)
 *                    ├─ response ─▶ pending[seq] callback (window slot freed)
 *                    ├─ deliver_sm / submit_sm ─▶ fast codec ─▶ event
 *                    ├─ enquire_link ─▶ answered here
 *                    ├─ other request ─▶ smpp.PDU ─▶ 'request'
 *                    └─ undecodable ─▶ generic_nack, 'bad_pdu', skip (resync by length)
 *   submit()/respond() ─▶ out queue ─▶ one socket.write per tick (coalesced),
 *                          paused while the socket is backpressured
 *
 * Response timeouts use one sweep timer per connection, not a timer per PDU
 * (undici's low-precision timers idea): pending requests sit in a Map in send
 * order, all with the same timeout, so the sweep stops at the first one that is
 * not yet due.
 */
import { EventEmitter } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import smpp, { type PDU } from 'smpp';
import { RetryableError, SmppStatus, SwitchyardError } from '../errors.js';
import {
  CommandId, HEADER_LEN, decodeDeliverSm, decodeSubmitSm, decodeSubmitSmResp, encodeDeliverSm,
  encodeEmpty, encodeResp, encodeSubmitSm, type DeliverSm, type SarInfo, type ShortMessageBody,
} from './pdu-codec.js';

export interface SmppConnectionOptions {
  /** Unanswered submit_sm / deliver_sm this side may have outstanding. */
  readonly window: number;
  readonly responseTimeoutMs: number;
  /** Send enquire_link after this much silence; 0 disables. */
  readonly enquireLinkMs?: number;
  readonly maxPduBytes?: number;
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

let writesTotal = 0;
/** socket.write calls made by all connections (for the coalescing test and benchmarks). */
export const socketWrites = (): number => writesTotal;

export class SmppConnection extends EventEmitter {
  readonly socket: Socket;
  readonly window: number;
  private readonly timeoutMs: number;
  private readonly maxPdu: number;
  private readonly pending = new Map<number, Pending>();
  private windowUsed = 0;
  private seq = 0;
  private rx: Buffer | undefined;
  private out: Buffer[] = [];
  private flushScheduled = false;
  private backpressured = false;
  private closed = false;
  private lastRx = Date.now();
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly enquireMs: number;
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
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      this.backpressured = false;
      this.flush();
      this.emit('drain');
    });
    socket.on('error', (err) => this.emit('socket_error', err));
    socket.on('close', () => this.onClose());
    const sweepEvery = Math.max(10, Math.min(1000, Math.floor(this.timeoutMs / 4)));
    this.sweepTimer = setInterval(() => this.sweep(), sweepEvery);
    this.sweepTimer.unref();
  }

  /** Connects, binds as a transceiver and resolves with the bound connection. */
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
    const conn = new SmppConnection(socket, o);
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
      const hex = '0x' + resp.commandStatus.toString(16).padStart(8, '0');
      const why = resp.commandStatus === SmppStatus.ESME_RINVPASWD ? ' (invalid password)' : resp.commandStatus === SmppStatus.ESME_RINVSYSID ? ' (invalid system_id)' : '';
      throw new SwitchyardError('SMPP_BIND_FAILED', `bind to ${o.host}:${o.port} refused with command_status ${hex}${why}`);
    }
    conn.bound = true;
    conn.systemId = o.systemId;
    return conn;
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

  respondSubmit(sequence: number, status: number, messageId: string): void {
    this.queue(encodeResp(CommandId.submit_sm_resp, status, sequence, messageId));
  }

  replyDeliverSm(sequence: number, status: number): void {
    this.queue(encodeResp(CommandId.deliver_sm_resp, status, sequence, ''));
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
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed || this.backpressured || this.out.length === 0) return;
    const data = this.out.length === 1 ? (this.out[0] as Buffer) : Buffer.concat(this.out);
    this.out = [];
    writesTotal++;
    if (!this.socket.write(data)) this.backpressured = true;
  }

  // ---- receiving ----------------------------------------------------------

  private onData(chunk: Buffer): void {
    this.lastRx = Date.now();
    let buf = this.rx === undefined ? chunk : Buffer.concat([this.rx, chunk]);
    let off = 0;
    while (buf.length - off >= 4) {
      const len = buf.readUInt32BE(off);
      if (len < HEADER_LEN || len > this.maxPdu) {
        // The framing is lost: no way to find the next PDU. Say why and close.
        const seq = buf.length - off >= HEADER_LEN ? buf.readUInt32BE(off + 12) : 0;
        this.emit('bad_pdu', `command_length ${len} outside ${HEADER_LEN}..${this.maxPdu}; closing the session`);
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
    else {
      // Keep the partial PDU; copy it so the big chunk can be freed.
      buf = buf.subarray(off);
      this.rx = off > 0 ? Buffer.from(buf) : buf;
    }
  }

  private dispatch(frame: Buffer): void {
    const id = frame.readUInt32BE(4);
    const status = frame.readUInt32BE(8);
    const sequence = frame.readUInt32BE(12);
    try {
      if (id & 0x80000000) {
        const p = this.pending.get(sequence);
        if (p === undefined) {
          if (id !== CommandId.generic_nack && id !== CommandId.enquire_link_resp) this.emit('bad_pdu', `response 0x${id.toString(16)} for unknown sequence ${sequence}`);
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
          this.emit('bad_pdu', (err as Error).message);
          p.cb(new RetryableError('SMPP_BAD_PDU', `unreadable response to sequence ${sequence}: ${(err as Error).message}`));
          if (p.counts && this.windowUsed === this.window - 1) this.emit('slot');
          return;
        }
        p.cb(null, { commandStatus: status, messageId });
        if (p.counts && this.windowUsed === this.window - 1) this.emit('slot');
        return;
      }
      switch (id) {
        case CommandId.deliver_sm:
          this.emit('deliver_sm', decodeDeliverSm(frame));
          return;
        case CommandId.submit_sm:
          this.emit('submit_sm', decodeSubmitSm(frame));
          return;
        case CommandId.enquire_link:
          this.queue(encodeEmpty(CommandId.enquire_link_resp, 0, sequence));
          return;
        case CommandId.unbind:
          this.queue(encodeEmpty(CommandId.unbind_resp, 0, sequence));
          this.flush();
          this.socket.end();
          return;
        default: {
          const pdu = new smpp.PDU(Buffer.from(frame));
          if (pdu.command === 'unknown') {
            this.emit('bad_pdu', `unknown command_id 0x${id.toString(16).padStart(8, '0')}`);
            this.genericNack(sequence, SmppStatus.ESME_RINVCMDID);
            return;
          }
          this.emit('request', pdu);
        }
      }
    } catch (err) {
      // An undecodable PDU: refuse it and carry on with the next one.
      this.emit('bad_pdu', (err as Error).message);
      if (!(id & 0x80000000)) this.genericNack(sequence, SmppStatus.ESME_RINVCMDLEN);
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const [seq, p] of this.pending) {
      if (p.deadline > now) break;
      this.pending.delete(seq);
      if (p.counts) this.windowUsed--;
      p.cb(new RetryableError('SMPP_TIMEOUT', `no response to sequence ${seq} within ${this.timeoutMs} ms`));
    }
    if (this.enquireMs > 0 && this.bound && now - this.lastRx >= this.enquireMs && !this.closed) {
      this.lastRx = now; // one probe per silent period
      this.request(new smpp.PDU('enquire_link'), (err) => {
        if (err) {
          this.emit('bad_pdu', `enquire_link unanswered: ${err.message}; closing the session`);
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
    this.windowUsed = 0;
    this.out = [];
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
