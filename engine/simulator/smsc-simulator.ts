/**
 * An SMSC simulator for the demo, the tests and the benchmarks. It speaks SMPP
 * 3.4 on 127.0.0.1 through the same SmppConnection class the engine uses
 * (server side; PDU definitions from the `smpp` package), and does what real
 * SMSCs do that matters to an aggregator:
 *
 * - many binds (transceiver, transmitter, receiver); bad password → 0x0E; a
 *   bind over the account's cap (maxBinds) → 0x0D, counted (bindRefusals)
 * - configurable submit_sm_resp latency; a TPS limit answered with 0x58;
 *   a per-bind window (requests beyond it are answered 0x58 and counted)
 * - an outcome mix (delivered / undelivered with error codes / expired /
 *   rejected at submit / no receipt), seeded, so runs are repeatable
 * - receipts after a configurable delay, as deliver_sm with the receipt TLVs
 *   and the Appendix B text; a receipt whose deliver_sm_resp did not come back
 *   (session closed, temporary error) is sent again later, as real SMSCs do
 * - message ids in hex, decimal or uuid form, and receipts that may give the id
 *   in another radix than the submit_sm_resp did
 * - mobile-originated messages (sendMo): GSM-7, UCS-2 or Latin-1, long ones
 *   as concatenated parts (UDH or SAR TLVs) or in message_payload, sent again
 *   until the ESME answers 0, as real SMSCs do
 *
 * Timing uses one interval that releases what is due (buckets by millisecond),
 * not a timer per message.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { PDU } from 'smpp';
import { SmppStatus } from '../errors.js';
import { formatReceiptText, type DeliverSm, type SarInfo, type ShortMessageBody, type SubmitSm } from '../smpp/pdu-codec.js';
import { encodeMessage } from '../text/index.js';
import { SmppConnection } from '../smpp/smpp-connection.js';
import { prng } from '../prng.js';

export interface Range {
  readonly min: number;
  readonly max: number;
}

export interface OutcomeWeights {
  readonly delivered: number;
  readonly undelivered: number;
  readonly expired: number;
  readonly rejected: number;
  readonly noReceipt: number;
}

export type Outcome = keyof OutcomeWeights;

export interface SmscSimulatorOptions {
  readonly systemId: string;
  readonly password: string;
  readonly host: string;
  readonly port: number;
  readonly responseLatencyMs: number | Range;
  readonly receiptDelayMs: number | Range;
  /** The counter its message ids start after (a restarted SMSC that goes on numbering: give it where the last one stopped). */
  readonly firstMessageId?: number;
  readonly outcomes: Partial<OutcomeWeights>;
  /** err: values put in undelivered receipts, chosen in turn. */
  readonly undeliveredErrors: ReadonlyArray<number>;
  /** command_status for outcome `rejected` (default ESME_RSUBMITFAIL 0x45). */
  readonly rejectStatus: number;
  /** submit_sm per sliding second accepted; beyond it 0x58. 0 = no limit. */
  readonly tps: number;
  /** Unanswered requests accepted per bind; beyond it 0x58 and a window violation. */
  readonly window: number;
  /** Sessions bound at once for the system_id (an operator's per-account cap); a bind beyond it is refused 0x0D. 0 = no cap. */
  readonly maxBinds: number;
  /** Unanswered deliver_sm the simulator keeps outstanding per bind. */
  readonly receiptWindow: number;
  readonly messageIdFormat: 'hex' | 'dec' | 'uuid';
  readonly receiptIdFormat: 'same' | 'hex' | 'dec';
  readonly seed: number;
  /** Record every accepted submit (tests). */
  readonly capture: boolean;
}

export const SIMULATOR_DEFAULTS: Omit<SmscSimulatorOptions, 'systemId' | 'password'> = {
  host: '127.0.0.1',
  port: 0,
  responseLatencyMs: 0,
  receiptDelayMs: { min: 0, max: 100 },
  outcomes: { delivered: 1 },
  undeliveredErrors: [1, 11, 34],
  rejectStatus: SmppStatus.ESME_RSUBMITFAIL,
  tps: 0,
  window: 1000,
  maxBinds: 0,
  receiptWindow: 200,
  messageIdFormat: 'hex',
  receiptIdFormat: 'same',
  seed: 1,
  capture: false,
};

export interface CapturedSubmit {
  readonly messageId: string;
  readonly systemId: string;
  readonly sourceAddr: string;
  readonly destinationAddr: string;
  readonly dataCoding: number;
  readonly esmClass: number;
  readonly registeredDelivery: number;
  readonly validityPeriod: string;
  readonly shortMessage: Buffer;
  /** SAR TLVs, when the submit carried them. */
  readonly sar?: SarInfo;
  readonly outcome: Outcome;
  readonly at: number;
}

/** An MO message to originate (sendMo). */
export interface MoSpec {
  /** The sender ("+4791234567", or an alphanumeric id). */
  readonly from: string;
  /** The number or short code it is sent to ("+4790000000", "2222"). */
  readonly to: string;
  readonly text: string;
  /** Default: GSM-7 when the text allows it, else UCS-2. */
  readonly encoding?: 'gsm7' | 'ucs2' | 'latin1';
  /** How a text too long for one part travels: UDH parts (default), SAR TLV parts, or one message_payload. */
  readonly concat?: 'udh' | 'sar' | 'payload';
  /** Send the parts last-first (reassembly must not depend on order). */
  readonly reverse?: boolean;
}

export interface SimulatorStats {
  submitsAccepted: number;
  submitsRejected: number;
  throttled: number;
  windowViolations: number;
  receiptsSent: number;
  receiptsAcked: number;
  receiptsRetried: number;
  receiptsPending: number;
  moSent: number;
  moAcked: number;
  moRetried: number;
  maxInFlightPerBind: number;
  maxSubmitsPerSecond: number;
  binds: number;
  bindRefusals: number;
  /** Binds refused because maxBinds sessions were bound already (also in bindRefusals). */
  bindsOverCap: number;
  badPdus: number;
  outcomes: Record<Outcome, number>;
}

interface SimReceipt {
  readonly systemId: string;
  readonly id: string;
  readonly stat: string;
  readonly err: string;
  readonly state: number;
  readonly dest: string;
  readonly source: string;
  readonly submitAt: number;
  readonly text: string;
}

interface Session {
  readonly conn: SmppConnection;
  systemId: string;
  rx: boolean; // may receive deliver_sm
  unanswered: number;
}

const STATE = { DELIVRD: 2, EXPIRED: 3, UNDELIV: 5 } as const;

function pick(r: number | Range, rnd: () => number): number {
  return typeof r === 'number' ? r : r.min + Math.floor(rnd() * (r.max - r.min + 1));
}

export class SmscSimulator {
  readonly o: SmscSimulatorOptions;
  readonly stats: SimulatorStats;
  readonly captured: CapturedSubmit[] = [];
  private server: Server | undefined;
  private readonly sessions = new Set<Session>();
  private readonly sockets = new Set<Socket>();
  private readonly due = new Map<number, Array<() => void>>();
  private lastTick = 0;
  private ticker: NodeJS.Timeout | undefined;
  private readonly receipts: SimReceipt[] = [];
  private readonly recent: number[] = []; // accepted submit times, last second
  private recentHead = 0;
  /** Deterministic outcomes for a given seed. */
  private readonly rnd: () => number;
  private idCounter: number;
  private refuseBinds = false;
  private throttleAll = false;
  private errTurn = 0;
  /** Receipts that may still be sent (holdReceipts / releaseReceipts); Infinity: no hold. */
  private receiptAllowance = Number.POSITIVE_INFINITY;
  private readonly weights: Array<[Outcome, number]>;
  private readonly weightTotal: number;
  port = 0;

  constructor(options: Partial<SmscSimulatorOptions> & Pick<SmscSimulatorOptions, 'systemId' | 'password'>) {
    this.o = { ...SIMULATOR_DEFAULTS, ...options };
    this.rnd = prng(this.o.seed);
    this.idCounter = this.o.firstMessageId ?? 0x1000;
    this.stats = {
      submitsAccepted: 0, submitsRejected: 0, throttled: 0, windowViolations: 0, receiptsSent: 0, receiptsAcked: 0,
      receiptsRetried: 0, receiptsPending: 0, moSent: 0, moAcked: 0, moRetried: 0, maxInFlightPerBind: 0, maxSubmitsPerSecond: 0, binds: 0, bindRefusals: 0, bindsOverCap: 0,
      badPdus: 0, outcomes: { delivered: 0, undelivered: 0, expired: 0, rejected: 0, noReceipt: 0 },
    };
    const w = { delivered: 0, undelivered: 0, expired: 0, rejected: 0, noReceipt: 0, ...this.o.outcomes };
    this.weights = (Object.keys(w) as Outcome[]).filter((k) => w[k] > 0).map((k) => [k, w[k]]);
    this.weightTotal = this.weights.reduce((s, [, x]) => s + x, 0);
  }


  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(this.port || this.o.port, this.o.host, () => ok());
    });
    const a = server.address();
    this.port = typeof a === 'object' && a !== null ? a.port : 0;
    this.lastTick = Date.now();
    this.ticker = setInterval(() => this.tick(), 2);
  }

  /** Stops listening and drops every session (receipts not yet acknowledged are kept). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.dropAllConnections();
    clearInterval(this.ticker);
    if (server) await new Promise<void>((ok) => server.close(() => ok()));
  }

  dropAllConnections(): void {
    for (const s of this.sockets) s.destroy();
  }

  setRefuseBinds(refuse: boolean): void {
    this.refuseBinds = refuse;
  }

  setThrottleAll(throttle: boolean): void {
    this.throttleAll = throttle;
  }

  /** Keeps receipts back until released (tests that need receipts one at a time). */
  holdReceipts(): void {
    this.receiptAllowance = 0;
  }

  /** Lets `n` held receipts go (in the order they became due); without `n`, ends the hold. */
  releaseReceipts(n?: number): void {
    this.receiptAllowance = n === undefined ? Number.POSITIVE_INFINITY : this.receiptAllowance + n;
  }

  get boundSessions(): number {
    let n = 0;
    for (const s of this.sessions) if (s.conn.bound) n++;
    return n;
  }

  private at(delayMs: number, fn: () => void): void {
    if (delayMs <= 0) {
      fn();
      return;
    }
    const t = Date.now() + delayMs;
    let list = this.due.get(t);
    if (list === undefined) this.due.set(t, (list = []));
    list.push(fn);
  }

  private tick(): void {
    const now = Date.now();
    for (let t = this.lastTick; t <= now; t++) {
      const list = this.due.get(t);
      if (list !== undefined) {
        this.due.delete(t);
        for (const fn of list) fn();
      }
    }
    this.lastTick = now + 1;
    this.sendReceipts();
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    const conn = new SmppConnection(socket, { window: this.o.receiptWindow, responseTimeoutMs: 10_000 });
    const s: Session = { conn, systemId: '', rx: false, unanswered: 0 };
    this.sessions.add(s);
    conn.on('request', (pdu: PDU) => this.onRequest(s, pdu));
    conn.on('submit_sm', (sm: SubmitSm) => this.onSubmit(s, sm));
    conn.on('bad_pdu', () => this.stats.badPdus++);
    conn.on('socket_error', () => undefined);
    conn.on('close', () => {
      this.sessions.delete(s);
      this.sockets.delete(socket);
    });
  }

  private onRequest(s: Session, pdu: PDU): void {
    const cmd = pdu.command;
    if (cmd === 'bind_transceiver' || cmd === 'bind_transmitter' || cmd === 'bind_receiver') {
      let status = 0;
      if (this.refuseBinds) status = SmppStatus.ESME_RBINDFAIL;
      else if (pdu.system_id !== this.o.systemId) status = SmppStatus.ESME_RINVSYSID;
      else if (pdu.password !== this.o.password) status = SmppStatus.ESME_RINVPASWD;
      else if (this.o.maxBinds > 0 && this.boundSessions >= this.o.maxBinds) {
        status = SmppStatus.ESME_RBINDFAIL;
        this.stats.bindsOverCap++;
      }
      if (status !== 0) {
        this.stats.bindRefusals++;
        s.conn.respondPdu(pdu.response({ command_status: status }));
        setTimeout(() => s.conn.destroy(), 20);
        return;
      }
      s.conn.bound = true;
      s.systemId = this.o.systemId;
      s.rx = cmd !== 'bind_transmitter';
      this.stats.binds++;
      s.conn.respondPdu(pdu.response({ system_id: 'SWITCHYARD-SIM' }));
      return;
    }
    s.conn.respondPdu(pdu.response({ command_status: SmppStatus.ESME_RINVCMDID }));
  }

  private nextId(): { resp: string; receipt: string } {
    const n = ++this.idCounter;
    if (this.o.messageIdFormat === 'uuid') {
      const u = randomUUID();
      return { resp: u, receipt: u };
    }
    const hex = n.toString(16).toUpperCase().padStart(10, '0');
    const dec = String(n).padStart(10, '0');
    const resp = this.o.messageIdFormat === 'hex' ? hex : dec;
    const receipt = this.o.receiptIdFormat === 'hex' ? hex : this.o.receiptIdFormat === 'dec' ? String(n) : resp;
    return { resp, receipt };
  }

  private withinTps(now: number): boolean {
    while (this.recentHead < this.recent.length && (this.recent[this.recentHead] as number) <= now - 1000) this.recentHead++;
    if (this.recentHead > 4096) {
      this.recent.splice(0, this.recentHead);
      this.recentHead = 0;
    }
    return this.o.tps <= 0 || this.recent.length - this.recentHead < this.o.tps;
  }

  private onSubmit(s: Session, sm: SubmitSm): void {
    const respond = (status: number, id: string) => {
      s.unanswered--;
      s.conn.respondSubmit(sm.sequence, status, id);
    };
    s.unanswered++;
    if (s.unanswered > this.stats.maxInFlightPerBind) this.stats.maxInFlightPerBind = s.unanswered;
    if (!s.conn.bound) return respond(SmppStatus.ESME_RINVBNDSTS, '');
    if (s.unanswered > this.o.window) {
      this.stats.windowViolations++;
      this.stats.throttled++;
      return respond(SmppStatus.ESME_RTHROTTLED, '');
    }
    const now = Date.now();
    if (this.throttleAll || !this.withinTps(now)) {
      this.stats.throttled++;
      return respond(SmppStatus.ESME_RTHROTTLED, '');
    }
    this.recent.push(now);
    const inSecond = this.recent.length - this.recentHead;
    if (inSecond > this.stats.maxSubmitsPerSecond) this.stats.maxSubmitsPerSecond = inSecond;
    const outcome = this.chooseOutcome();
    this.stats.outcomes[outcome]++;
    const latency = pick(this.o.responseLatencyMs, this.rnd);
    if (outcome === 'rejected') {
      this.stats.submitsRejected++;
      if (this.o.capture) this.capture(s, sm, '', outcome, now);
      this.at(latency, () => respond(this.o.rejectStatus, ''));
      return;
    }
    this.stats.submitsAccepted++;
    const id = this.nextId();
    if (this.o.capture) this.capture(s, sm, id.resp, outcome, now);
    this.at(latency, () => respond(0, id.resp));
    if (outcome === 'noReceipt' || !(sm.registeredDelivery & 0x03)) return;
    const stat = outcome === 'delivered' ? 'DELIVRD' : outcome === 'expired' ? 'EXPIRED' : 'UNDELIV';
    const err = outcome === 'undelivered' ? String(this.o.undeliveredErrors[this.errTurn++ % this.o.undeliveredErrors.length] ?? 1).padStart(3, '0') : '000';
    const r: SimReceipt = {
      systemId: s.systemId, id: id.receipt, stat, err, state: STATE[stat], dest: sm.destinationAddr, source: sm.sourceAddr,
      submitAt: now, text: '',
    };
    this.stats.receiptsPending++;
    this.at(latency + pick(this.o.receiptDelayMs, this.rnd), () => this.receipts.push(r));
  }

  private moRef = 0;

  /** The deliver_sm bodies of an MO message (one per part). */
  static moPdus(mo: MoSpec, ref: number): Array<ShortMessageBody & Omit<DeliverSm, keyof ShortMessageBody | 'sequence'>> {
    const addr = (a: string) => (a.startsWith('+') ? { ton: 1, npi: 1, addr: a.slice(1) } : /^[0-9]+$/.test(a) ? { ton: a.length <= 8 ? 3 : 1, npi: 1, addr: a } : { ton: 5, npi: 0, addr: a });
    const src = addr(mo.from);
    const dst = addr(mo.to);
    const base = {
      serviceType: '', sourceAddrTon: src.ton, sourceAddrNpi: src.npi, sourceAddr: src.addr, destAddrTon: dst.ton, destAddrNpi: dst.npi, destinationAddr: dst.addr,
      protocolId: 0, priorityFlag: 0, scheduleDeliveryTime: '', validityPeriod: '', registeredDelivery: 0, replaceIfPresent: 0, smDefaultMsgId: 0,
    };
    if (mo.encoding === 'latin1') return [{ ...base, esmClass: 0, dataCoding: 3, shortMessage: Buffer.from(mo.text, 'latin1') }];
    const enc = encodeMessage(mo.text, { concatRef: ref, maxParts: 255, ...(mo.encoding === undefined ? {} : { encoding: mo.encoding }) });
    if (enc.parts.length === 1) return [{ ...base, esmClass: 0, dataCoding: enc.dataCoding, shortMessage: (enc.parts[0] as { shortMessage: Buffer }).shortMessage }];
    const payloads = enc.parts.map((p) => p.shortMessage.subarray(6));
    if (mo.concat === 'payload') return [{ ...base, esmClass: 0, dataCoding: enc.dataCoding, shortMessage: Buffer.alloc(0), messagePayload: Buffer.concat(payloads) }];
    if (mo.concat === 'sar') return payloads.map((p, i) => ({ ...base, esmClass: 0, dataCoding: enc.dataCoding, shortMessage: p, sar: { ref, total: payloads.length, seq: i + 1 } }));
    return enc.parts.map((p) => ({ ...base, esmClass: 0x40, dataCoding: enc.dataCoding, shortMessage: p.shortMessage }));
  }

  /**
   * Originates an MO message on a receiver-capable bind (waiting for one, up
   * to timeoutMs). Resolves when the ESME has answered every part with
   * status 0; a part answered otherwise (or not at all) is sent again 200 ms later.
   */
  async sendMo(mo: MoSpec, timeoutMs = 20_000): Promise<{ parts: number }> {
    this.moRef = (this.moRef + 1) & 0xff;
    const pdus = SmscSimulator.moPdus(mo, this.moRef);
    if (mo.reverse === true) pdus.reverse();
    const deadline = Date.now() + timeoutMs;
    for (const pdu of pdus) {
      for (;;) {
        if (Date.now() > deadline) throw new Error(`MO message not acknowledged within ${timeoutMs} ms`);
        const target = [...this.sessions].find((x) => x.rx && x.conn.bound && x.conn.writable && x.conn.freeSlots > 0);
        const status = target === undefined ? -1 : await new Promise<number>((ok) => {
          this.stats.moSent++;
          if (!target.conn.deliverSm(pdu, (err, resp) => ok(err === null && resp !== undefined ? resp.commandStatus : -1))) ok(-1);
        });
        if (status === 0) {
          this.stats.moAcked++;
          break;
        }
        if (target !== undefined) this.stats.moRetried++;
        await new Promise((ok) => setTimeout(ok, target === undefined ? 20 : 200));
      }
    }
    return { parts: pdus.length };
  }

  private capture(s: Session, sm: SubmitSm, messageId: string, outcome: Outcome, at: number): void {
    this.captured.push({
      messageId, systemId: s.systemId, sourceAddr: sm.sourceAddr, destinationAddr: sm.destinationAddr, dataCoding: sm.dataCoding,
      esmClass: sm.esmClass, registeredDelivery: sm.registeredDelivery, validityPeriod: sm.validityPeriod,
      shortMessage: Buffer.from(sm.shortMessage), ...(sm.sar === undefined ? {} : { sar: sm.sar }), outcome, at,
    });
  }

  private chooseOutcome(): Outcome {
    if (this.weights.length === 1) return (this.weights[0] as [Outcome, number])[0];
    let x = this.rnd() * this.weightTotal;
    for (const [k, w] of this.weights) {
      if (x < w) return k;
      x -= w;
    }
    return (this.weights[this.weights.length - 1] as [Outcome, number])[0];
  }

  /** Sends queued receipts on receiver-capable sessions, as far as their windows allow. */
  private sendReceipts(): void {
    if (this.receipts.length === 0) return;
    const targets: Session[] = [];
    for (const s of this.sessions) if (s.rx && s.conn.bound && s.conn.writable) targets.push(s);
    if (targets.length === 0) return;
    let k = 0;
    let sent = 0;
    const now = new Date();
    for (let i = 0; i < this.receipts.length && sent < this.receiptAllowance; i++) {
      let target: Session | undefined;
      for (let j = 0; j < targets.length; j++) {
        const c = targets[(k + j) % targets.length] as Session;
        if (c.systemId === (this.receipts[i] as SimReceipt).systemId && c.conn.freeSlots > 0) {
          target = c;
          k = (k + j + 1) % targets.length;
          break;
        }
      }
      if (target === undefined) break;
      const r = this.receipts[i] as SimReceipt;
      const text = formatReceiptText({ id: r.id, submitDate: new Date(r.submitAt), doneDate: now, stat: r.stat, err: r.err });
      target.conn.deliverSm(
        {
          serviceType: '', sourceAddrTon: 1, sourceAddrNpi: 1, sourceAddr: r.dest, destAddrTon: 5, destAddrNpi: 0, destinationAddr: r.source,
          esmClass: 0x04, protocolId: 0, priorityFlag: 0, scheduleDeliveryTime: '', validityPeriod: '', registeredDelivery: 0,
          replaceIfPresent: 0, dataCoding: 0, smDefaultMsgId: 0, shortMessage: Buffer.from(text, 'latin1'),
          receiptedMessageId: r.id, messageState: r.state,
        },
        (err, resp) => {
          if (err === null && resp !== undefined && resp.commandStatus === 0) {
            this.stats.receiptsAcked++;
            this.stats.receiptsPending--;
          } else {
            // No resp (session gone, timeout) or a temporary error: send it again later.
            this.stats.receiptsRetried++;
            this.at(200, () => this.receipts.push(r));
          }
        },
      );
      this.stats.receiptsSent++;
      sent++;
    }
    if (sent > 0) this.receipts.splice(0, sent);
    this.receiptAllowance -= sent;
  }
}
