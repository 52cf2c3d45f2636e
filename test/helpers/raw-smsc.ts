/**
 * A test SMSC on raw sockets (test/helpers/raw-smpp.ts), behaving as the
 * real SMSCs the issue reports do, and NOT built on the engine's SMPP classes
 * (the project's simulator shares SmppConnection with the engine):
 *
 * - receipts and MO messages wait in an outbox while no session is bound
 *   (the engine is down) and are kept until answered with status 0;
 * - on a bind it writes bind_resp AND as much of the outbox as the window
 *   allows in ONE socket write, as SMSCs that flush held receipts do;
 * - at most `deliverWindow` deliver_sm per session are unanswered; one never
 *   answered holds its slot for the session's life (no redelivery on a live
 *   session), one answered with an error goes back to the outbox;
 * - each submit_sm is kept with its raw bytes (byte-by-byte checks) and gets a
 *   receipt after `receiptDelayMs` with the stat `outcome` gives it (a function
 *   of the submit, so a message sent twice after a crash gets the same stat).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { cstr, dataSm, deliverSm, Framer, header, Id, pdu, readSubmitSm, receiptDeliverSm, TAG, tlv, type RawSubmit } from './raw-smpp.js';

const STATE = { DELIVRD: 2, EXPIRED: 3, UNDELIV: 5 } as const;

export type Stat = 'DELIVRD' | 'UNDELIV' | 'EXPIRED';

export interface RawSmscOptions {
  /** Unanswered deliver_sm per session. */
  readonly deliverWindow?: number;
  readonly receiptDelayMs?: number;
  readonly outcome?: (s: RawSubmit) => Stat;
  /** Receipts as deliver_sm (default) or as data_sm (TLVs only: receipted_message_id, message_state). */
  readonly receiptsAs?: 'deliver_sm' | 'data_sm';
  /** Handles a frame itself (fuzz); return true to skip the default handling. */
  readonly onFrame?: (session: RawSession, frame: Buffer) => boolean;
}

interface OutboxItem {
  readonly kind: 'receipt' | 'mo';
  /** Builds the PDU for a sequence number. */
  readonly build: (sequence: number) => Buffer;
  readonly key: string;
}

export interface RawSession {
  readonly sock: Socket;
  bound: boolean;
  seq: number;
  readonly unanswered: Map<number, OutboxItem>;
  /** Every frame this session received, in order. */
  readonly frames: Buffer[];
  write(b: Buffer): void;
}

export class RawSmsc {
  port = 0;
  private server: Server | undefined;
  readonly sessions = new Set<RawSession>();
  readonly submits: RawSubmit[] = [];
  private readonly outbox: OutboxItem[] = [];
  private idCounter = 0x5000;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Outcome reported per message text, and receipts answered 0 per stat. */
  readonly reported = new Map<string, Stat>();
  readonly stats = { binds: 0, burstWrites: 0, burstDelivers: 0, deliverSent: 0, answeredOk: 0, answeredError: 0, moAnswered: 0, maxUnanswered: 0, responses: new Map<number, number>() };
  private readonly o: Required<Omit<RawSmscOptions, 'onFrame'>> & Pick<RawSmscOptions, 'onFrame'>;

  constructor(o: RawSmscOptions = {}) {
    this.o = { deliverWindow: 10, receiptDelayMs: 0, outcome: () => 'DELIVRD', receiptsAs: 'deliver_sm', ...o };
  }

  async start(port = 0): Promise<void> {
    this.server = createServer((sock) => this.accept(sock));
    await new Promise<void>((ok) => this.server?.listen(port, '127.0.0.1', () => ok()));
    const a = this.server.address();
    this.port = typeof a === 'object' && a !== null ? a.port : 0;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sessions) s.sock.destroy();
    await new Promise<void>((ok) => (this.server === undefined ? ok() : this.server.close(() => ok())));
  }

  private paused = false;

  /** Keeps receipts and MO in the outbox (submits are still answered): what an SMSC does while the ESME is away. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.pump();
  }

  get outboxSize(): number {
    return this.outbox.length;
  }

  /** Receipts and MO messages not yet answered with 0 (in the outbox or on a session). */
  get undelivered(): number {
    let n = this.outbox.length;
    for (const s of this.sessions) n += s.unanswered.size;
    return n;
  }

  get bound(): number {
    let n = 0;
    for (const s of this.sessions) if (s.bound) n++;
    return n;
  }

  /** Queues an MO message as data_sm, its text in message_payload (Latin-1 octets, data_coding 3). */
  queueDataSmMo(from: string, to: string, text: string): void {
    this.outbox.push({
      kind: 'mo', key: `mo:${text}`,
      build: (seq) => dataSm(seq, { source: from, sourceTon: 1, dest: to, destTon: 3, esmClass: 0, dataCoding: 3, tlvs: tlv(TAG.message_payload, Buffer.from(text, 'latin1')) }),
    });
    this.pump();
  }

  /** Queues an MO message from `from` to `to`: plain ASCII text (the same octets in GSM-7), or given octets and data_coding. */
  queueMo(from: string, to: string, text: string | { readonly octets: Buffer; readonly dataCoding: number }): void {
    const sm = typeof text === 'string' ? Buffer.from(text, 'latin1') : text.octets;
    const dataCoding = typeof text === 'string' ? 0 : text.dataCoding;
    this.outbox.push({
      kind: 'mo', key: `mo:${sm.toString('hex')}`,
      build: (seq) => deliverSm(seq, { source: from, sourceTon: 1, dest: to, destTon: 3, esmClass: 0, dataCoding, shortMessage: sm }),
    });
    this.pump();
  }

  private accept(sock: Socket): void {
    const framer = new Framer();
    const s: RawSession = {
      sock, bound: false, seq: 0, unanswered: new Map(), frames: [],
      write: (b) => {
        if (!sock.destroyed) sock.write(b);
      },
    };
    this.sessions.add(s);
    sock.on('data', (chunk) => {
      for (const f of framer.push(chunk)) {
        s.frames.push(f);
        if (this.o.onFrame?.(s, f) === true) continue;
        this.onFrame(s, f);
      }
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      this.sessions.delete(s);
      // What the closed session had unanswered is sent again on the next one, first.
      this.outbox.unshift(...s.unanswered.values());
      s.unanswered.clear();
    });
  }

  private onFrame(s: RawSession, f: Buffer): void {
    const h = header(f);
    if (h.id & 0x80000000) {
      this.stats.responses.set(h.id, (this.stats.responses.get(h.id) ?? 0) + 1);
      const item = s.unanswered.get(h.sequence);
      if ((h.id === Id.deliver_sm_resp || h.id === Id.data_sm_resp) && item !== undefined) {
        s.unanswered.delete(h.sequence);
        if (h.status === 0) {
          if (item.kind === 'mo') this.stats.moAnswered++;
          else this.stats.answeredOk++;
        } else {
          this.stats.answeredError++;
          this.later(100, () => {
            this.outbox.push(item);
            this.pump();
          });
        }
        this.pump();
      }
      return;
    }
    switch (h.id) {
      case Id.bind_transceiver: {
        s.bound = true;
        this.stats.binds++;
        const resp = pdu(Id.bind_transceiver_resp, 0, h.sequence, cstr('RAW-SMSC'));
        // bind_resp and the held deliver_sm in one write: they arrive in one TCP read.
        const held = this.take(s);
        if (held.length > 0) {
          this.stats.burstWrites++;
          this.stats.burstDelivers += held.length;
        }
        s.write(Buffer.concat([resp, ...held]));
        return;
      }
      case Id.submit_sm: {
        const sm = readSubmitSm(f);
        this.submits.push(sm);
        const id = (++this.idCounter).toString(16).toUpperCase();
        s.write(pdu(Id.submit_sm_resp, 0, h.sequence, cstr(id)));
        const stat = this.o.outcome(sm);
        this.reported.set(sm.shortMessage.toString('latin1'), stat);
        this.later(this.o.receiptDelayMs, () => {
          const build = this.o.receiptsAs === 'data_sm'
            ? (seq: number) => dataSm(seq, { source: sm.dest, dest: sm.source, esmClass: 0x04, tlvs: Buffer.concat([tlv(TAG.receipted_message_id, cstr(id)), tlv(TAG.message_state, Buffer.from([STATE[stat]]))]) })
            : (seq: number) => receiptDeliverSm(seq, { id, stat, source: sm.source, dest: sm.dest });
          this.outbox.push({ kind: 'receipt', key: id, build });
          this.pump();
        });
        return;
      }
      case Id.enquire_link:
        s.write(pdu(Id.enquire_link_resp, 0, h.sequence));
        return;
      case Id.unbind:
        s.write(pdu(Id.unbind_resp, 0, h.sequence));
        s.sock.end();
        return;
      default:
        s.write(pdu(Id.generic_nack, 0x03, h.sequence));
    }
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  /** Takes what a session's window allows from the outbox, as PDUs. */
  private take(s: RawSession): Buffer[] {
    const out: Buffer[] = [];
    while (!this.paused && s.bound && !s.sock.destroyed && s.unanswered.size < this.o.deliverWindow && this.outbox.length > 0) {
      const item = this.outbox.shift() as OutboxItem;
      const seq = ++s.seq;
      s.unanswered.set(seq, item);
      out.push(item.build(seq));
      this.stats.deliverSent++;
    }
    if (s.unanswered.size > this.stats.maxUnanswered) this.stats.maxUnanswered = s.unanswered.size;
    return out;
  }

  /** Sends what the bound sessions' windows allow. */
  pump(): void {
    for (const s of this.sessions) {
      const b = this.take(s);
      if (b.length > 0) s.write(Buffer.concat(b));
    }
  }
}
