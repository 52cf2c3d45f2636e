/**
 * The SMPP 3.4 server ingress: customers bind to Switchyard as ESMEs (issue
 * 17, README "SMPP server"). One listener (TCP, or TLS with a configured
 * certificate), 127.0.0.1 by default; each accepted socket is an
 * SmppConnection in the SMSC role (engine/smpp/: framing, windows, response
 * timeouts, bounded output, malformed PDU → generic_nack and the session goes
 * on), driven here:
 *
 *   bind_transmitter / _receiver / _transceiver
 *        └─ credentials (smpp-credentials.ts, scrypt) → tenant; cap smppServer.maxBinds
 *           (tenants[].smpp.maxBinds) per tenant on this node; wrong system_id or password
 *           or over the cap: 0x0D ESME_RBINDFAIL, same answer for each, and a log line
 *   submit_sm / data_sm   (transmitter, transceiver)
 *        └─ window (unanswered submits per bind, 0x58 beyond) → readSubmit → concatenated?
 *           ConcatBuffer : decodeBody → the ingress's submitAs (the WebSocket path: fields,
 *           sender list, tenant TPS, accept, quota, Redis) → submit_sm_resp with the message id,
 *           written only once Redis has the message; refusals by SUBMIT_STATUS
 *   receipts and MO (receiver, transceiver)
 *        └─ ReceiptOutbox per tenant (receipt-outbox.ts), fed from the events streams
 *           by ReceiptFeed (receipt-feed.ts)
 *   enquire_link both ways (ours after smppServer.enquireLinkSec of silence), unbind;
 *   a bind that sent no request for smppServer.idleTimeoutSec is unbound
 */
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { readFileSync } from 'node:fs';
import type { PDU } from 'smpp';
import { SmppStatus } from '../errors.js';
import { CommandId, type DeliverSm, type SubmitSm } from '../smpp/pdu-codec.js';
import { SmppConnection } from '../smpp/smpp-connection.js';
import { ConcatBuffer, type HeldPart } from './concat-buffer.js';
import { decodeBody, isSubmitRefusal, readSubmit, type ReadSubmit } from './read-short-message.js';
import type { SmppAccount, SmppCredentials } from './smpp-credentials.js';
import { smppRef } from './smpp-ref.js';
import { readSmppTime } from './smpp-time.js';

export type BindMode = 'transmitter' | 'receiver' | 'transceiver';

/** What the server needs of the engine's accept path (IngressServer.submitAs). */
export interface SubmitPort {
  /** The WebSocket submit path for `tenant`: done gets the ack or nack frame. */
  submit(tenant: string, f: Record<string, unknown>, done: (frame: string) => void): boolean;
  /** True while the engine's queue (Redis) is behind: submits are answered 0x14. */
  queueFull(): boolean;
}

/** Where receiving binds go (the outboxes, receipt-outbox.ts). */
export interface ReceiverPort {
  added(tenant: string, account: SmppAccount, conn: SmppConnection): void;
  removed(tenant: string, conn: SmppConnection): void;
}

export interface SmppServerOptions {
  readonly host: string;
  readonly port: number;
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  readonly window: number;
  readonly maxBinds: number;
  readonly responseTimeoutMs: number;
  readonly enquireLinkSec: number;
  readonly idleTimeoutSec: number;
  readonly concatTimeoutSec: number;
  readonly maxPduBytes: number;
  readonly minValiditySec: number;
  readonly maxValiditySec: number;
  readonly credentials: SmppCredentials;
  readonly submit: SubmitPort;
  readonly receivers: ReceiverPort;
  /** Metrics hooks (per tenant, bind slot and command_status). */
  readonly observer?: SmppServerObserver | undefined;
  readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

export interface SmppServerObserver {
  bindChanged(tenant: string, mode: BindMode, delta: number): void;
  bindRefused(): void;
  /** A submit_sm / data_sm answered; `slot` is the bind's index within its tenant (0..maxBinds-1). */
  answered(tenant: string, slot: number, status: number): void;
}

/** Counters of one bind (GET /v1/admin/smpp/binds, metrics). */
export interface BindStats {
  submits: number;
  accepted: number;
  refused: number;
  throttled: number;
  badPdus: number;
}

export interface BindInfo {
  readonly id: string;
  readonly tenant: string;
  readonly systemId: string;
  readonly mode: BindMode;
  /** Index within the tenant's binds on this node (the metrics' bind label). */
  readonly slot: number;
  readonly remote: string;
  readonly since: number;
  readonly windowUsed: number;
  readonly deliverInFlight: number;
  readonly stats: BindStats;
}

interface Session {
  readonly id: string;
  readonly conn: SmppConnection;
  readonly remote: string;
  account: SmppAccount | undefined;
  mode: BindMode | undefined;
  slot: number;
  since: number;
  /** submit_sm / data_sm not answered yet. */
  unanswered: number;
  /** A bind being checked (scrypt): another bind meanwhile is refused. */
  binding: boolean;
  failedBinds: number;
  readonly stats: BindStats;
}

/**
 * The command_status of each refusal code of the accept path (README
 * "SMPP server" has the table). Codes not listed: 0x45 ESME_RSUBMITFAIL.
 */
export const SUBMIT_STATUS: Readonly<Record<string, number>> = {
  INVALID_NUMBER: SmppStatus.ESME_RINVDSTADR,
  NO_ROUTE: SmppStatus.ESME_RINVDSTADR,
  NUMBER_FLAGGED: SmppStatus.ESME_RINVDSTADR,
  SENDER_NOT_ALLOWED: SmppStatus.ESME_RINVSRCADR,
  MESSAGE_TOO_LONG: SmppStatus.ESME_RINVMSGLEN,
  THROTTLED: SmppStatus.ESME_RTHROTTLED,
  QUOTA_EXCEEDED: SmppStatus.ESME_RMSGQFUL,
  UNAVAILABLE: SmppStatus.ESME_RSYSERR,
  REPLICATION_TIMEOUT: SmppStatus.ESME_RSYSERR,
};

/** command_status of a nack: by code, and INVALID_FIELD by the field it names. */
export function statusOfRefusal(code: string, error: string): number {
  const s = SUBMIT_STATUS[code];
  if (s !== undefined) return s;
  if (code === 'INVALID_FIELD') {
    if (error.startsWith('"from"')) return SmppStatus.ESME_RINVSRCADR;
    if (error.startsWith('"to"')) return SmppStatus.ESME_RINVDSTADR;
    if (error.startsWith('"sendAt"')) return SmppStatus.ESME_RINVSCHED;
    if (error.startsWith('"validity"')) return SmppStatus.ESME_RINVEXPIRY;
  }
  return SmppStatus.ESME_RSUBMITFAIL;
}

const BIND_COMMANDS: Readonly<Record<string, BindMode>> = { bind_transmitter: 'transmitter', bind_receiver: 'receiver', bind_transceiver: 'transceiver' };
/** Failed binds after which a connection is closed. */
const MAX_FAILED_BINDS = 3;

export class SmppServer {
  private server: Server | undefined;
  private readonly sessions = new Map<string, Session>();
  /** Bind slots in use per tenant (a slot is the lowest free index; the metrics label binds by it). */
  private readonly perTenant = new Map<string, Set<number>>();
  private readonly concat: ConcatBuffer;
  private sweepTimer: NodeJS.Timeout | undefined;
  private nextId = 0;
  port = 0;
  /** Binds refused (credentials or cap) since the start. */
  bindsRefused = 0;

  constructor(private readonly o: SmppServerOptions) {
    this.concat = new ConcatBuffer(o.concatTimeoutSec * 1000);
  }

  async listen(): Promise<number> {
    const onSocket = (socket: Socket) => this.onSocket(socket);
    const tls = this.o.tls;
    const server = tls === undefined ? createNetServer(onSocket) : createTlsServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, onSocket);
    this.server = server;
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(this.o.port, this.o.host, () => {
        server.off('error', fail);
        ok();
      });
    });
    server.on('error', (err) => this.o.log('error', `SMPP server: ${err.message}`));
    const addr = server.address();
    this.port = typeof addr === 'object' && addr !== null ? addr.port : this.o.port;
    this.sweepTimer = setInterval(() => this.sweep(), 1000);
    this.sweepTimer.unref();
    return this.port;
  }

  /** Stops listening and unbinds every session (held concatenation parts are answered 0x08). */
  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.concat.clear(SmppStatus.ESME_RSYSERR);
    for (const s of this.sessions.values()) s.conn.close();
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) await new Promise<void>((ok) => server.close(() => ok()));
    // Sockets still open after the unbind's grace are cut.
    for (const s of this.sessions.values()) s.conn.destroy();
  }

  binds(tenant?: string): BindInfo[] {
    const out: BindInfo[] = [];
    for (const s of this.sessions.values()) {
      if (s.account === undefined || s.mode === undefined || (tenant !== undefined && s.account.tenant !== tenant)) continue;
      out.push({ id: s.id, tenant: s.account.tenant, systemId: s.account.systemId, mode: s.mode, slot: s.slot, remote: s.remote, since: s.since, windowUsed: s.unanswered, deliverInFlight: s.conn.inFlight, stats: { ...s.stats } });
    }
    return out;
  }

  /** Unbinds a bind (the admin's kick); false when no such bind. */
  kick(id: string): boolean {
    const s = this.sessions.get(id);
    if (s === undefined || s.account === undefined) return false;
    this.o.log('info', `SMPP bind ${id} of tenant ${s.account.tenant} kicked by an admin`);
    s.conn.close();
    return true;
  }

  private onSocket(socket: Socket): void {
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    const conn = new SmppConnection(socket, {
      role: 'smsc',
      window: this.o.window,
      responseTimeoutMs: this.o.responseTimeoutMs,
      enquireLinkMs: this.o.enquireLinkSec * 1000,
      maxPduBytes: this.o.maxPduBytes,
    });
    const id = `b${++this.nextId}`;
    const s: Session = { id, conn, remote, account: undefined, mode: undefined, slot: -1, since: Date.now(), unanswered: 0, binding: false, failedBinds: 0, stats: { submits: 0, accepted: 0, refused: 0, throttled: 0, badPdus: 0 } };
    this.sessions.set(id, s);
    conn.on('request', (pdu: PDU) => this.onRequest(s, pdu));
    conn.on('submit_sm', (sm: SubmitSm) => this.onSubmit(s, sm, CommandId.submit_sm_resp));
    conn.on('data_sm', (sm: DeliverSm) => this.onSubmit(s, sm, CommandId.data_sm_resp));
    conn.on('bad_pdu', (msg: string) => {
      s.stats.badPdus++;
      this.o.log('warn', `SMPP ${s.account === undefined ? 'connection' : `bind ${id} of tenant ${s.account.tenant}`} from ${remote}: ${msg}`);
    });
    conn.on('warn', (msg: string) => this.o.log('warn', `SMPP bind ${id} from ${remote}: ${msg}`));
    conn.on('socket_error', () => undefined); // a reset by the customer; 'close' follows
    conn.on('close', () => this.onClose(s));
  }

  private onClose(s: Session): void {
    this.sessions.delete(s.id);
    const a = s.account;
    if (a === undefined || s.mode === undefined) return;
    const slots = this.perTenant.get(a.tenant);
    slots?.delete(s.slot);
    if (slots?.size === 0) this.perTenant.delete(a.tenant);
    this.o.observer?.bindChanged(a.tenant, s.mode, -1);
    if (s.mode !== 'transmitter') this.o.receivers.removed(a.tenant, s.conn);
    this.o.log('info', `SMPP ${s.mode} bind ${s.id} of tenant ${a.tenant} (${a.systemId}) from ${s.remote} closed`);
  }

  private onRequest(s: Session, pdu: PDU): void {
    const mode = BIND_COMMANDS[pdu.command];
    if (mode !== undefined) {
      this.onBind(s, pdu, mode);
      return;
    }
    // query_sm, cancel_sm, replace_sm, submit_multi...: not offered (README "SMPP server").
    s.conn.respondPdu(pdu.response({ command_status: s.mode === undefined ? SmppStatus.ESME_RINVBNDSTS : SmppStatus.ESME_RINVCMDID }));
  }

  private onBind(s: Session, pdu: PDU, mode: BindMode): void {
    if (s.mode !== undefined || s.binding) {
      s.conn.respondPdu(pdu.response({ command_status: SmppStatus.ESME_RALYBND }));
      return;
    }
    s.binding = true;
    const systemId = String(pdu.system_id ?? '');
    const password = String(pdu.password ?? '');
    const refuse = (why: string) => {
      s.binding = false;
      this.bindsRefused++;
      this.o.observer?.bindRefused();
      // The customer learns only that the bind failed; the log says why (never the password).
      this.o.log('warn', `SMPP ${mode} bind refused for system_id ${JSON.stringify(systemId.slice(0, 16))} from ${s.remote}: ${why}`);
      s.conn.respondPdu(pdu.response({ command_status: SmppStatus.ESME_RBINDFAIL }));
      if (++s.failedBinds >= MAX_FAILED_BINDS) setTimeout(() => s.conn.destroy(), 100).unref();
    };
    this.o.credentials.verify(systemId, password).then(
      (account) => {
        if (s.conn.isClosed) return;
        if (account === undefined) return refuse('wrong system_id or password');
        let slots = this.perTenant.get(account.tenant);
        if (slots === undefined) this.perTenant.set(account.tenant, (slots = new Set()));
        if (slots.size >= account.maxBinds) return refuse(`tenant ${account.tenant} has ${slots.size} binds on this node, its cap (smppServer.maxBinds / tenants[].smpp.maxBinds)`);
        let slot = 0;
        while (slots.has(slot)) slot++;
        slots.add(slot);
        s.slot = slot;
        this.o.observer?.bindChanged(account.tenant, mode, 1);
        s.binding = false;
        s.account = account;
        s.mode = mode;
        s.since = Date.now();
        s.conn.bound = true;
        s.conn.systemId = systemId;
        s.conn.respondPdu(pdu.response({ system_id: 'Switchyard' }));
        this.o.log('info', `SMPP ${mode} bind ${s.id} of tenant ${account.tenant} (${systemId}) from ${s.remote}`);
        if (mode !== 'transmitter') this.o.receivers.added(account.tenant, account, s.conn);
      },
      (err: Error) => refuse(`credential check failed: ${err.message}`),
    );
  }

  private onSubmit(s: Session, sm: SubmitSm | DeliverSm, respId: number): void {
    const conn = s.conn;
    const a = s.account;
    if (a === undefined || s.mode === 'receiver') {
      conn.respondSubmit(sm.sequence, SmppStatus.ESME_RINVBNDSTS, '', respId);
      return;
    }
    s.stats.submits++;
    if (s.unanswered >= this.o.window) {
      s.stats.throttled++;
      conn.respondSubmit(sm.sequence, SmppStatus.ESME_RTHROTTLED, '', respId);
      return;
    }
    s.unanswered++;
    let answered = false;
    const answer = (status: number, messageId: string) => {
      if (answered) return;
      answered = true;
      s.unanswered--;
      if (status === 0) s.stats.accepted++;
      else if (status === SmppStatus.ESME_RTHROTTLED) s.stats.throttled++;
      else s.stats.refused++;
      this.o.observer?.answered(a.tenant, s.slot, status);
      conn.respondSubmit(sm.sequence, status, messageId, respId);
    };
    const r = readSubmit(sm);
    if (isSubmitRefusal(r)) return answer(r.status, '');
    if (this.o.submit.queueFull()) return answer(SmppStatus.ESME_RMSGQFUL, '');
    const times = this.times(sm);
    if (typeof times === 'number') return answer(times, '');
    if (r.concat === undefined) {
      this.submitWhole(a, r, r.registeredDelivery, 1, r.body, r.dataCoding, times, answer);
      return;
    }
    const part: HeldPart = { body: r.body, dataCoding: r.dataCoding, registeredDelivery: r.registeredDelivery, at: Date.now(), answer };
    const key = `${a.tenant}|${r.from}|${r.to}|${r.concat.ref}|${r.concat.total}`;
    const res = this.concat.add(key, r.concat, part);
    if (res.kind === 'refused') return answer(SmppStatus.ESME_RSUBMITFAIL, '');
    if (res.kind === 'held') return;
    const all = (status: number, id: string) => {
      for (const p of res.parts) p.answer(status, id);
    };
    // The receipts asked for: by any part (its kind), one per part that asked.
    let rd = 0;
    let asked = 0;
    for (const p of res.parts) {
      rd |= p.registeredDelivery;
      if ((p.registeredDelivery & 0x13) !== 0) asked++;
    }
    this.submitWhole(a, r, rd, Math.max(1, asked), res.body, res.dataCoding, times, all);
  }

  /** schedule_delivery_time and validity_period as submit fields, or the command_status refusing them. */
  private times(sm: SubmitSm | DeliverSm): { sendAt?: number; validity?: number } | number {
    const now = Date.now();
    const at = readSmppTime(sm.scheduleDeliveryTime, now);
    if (!at.ok) return SmppStatus.ESME_RINVSCHED;
    const until = readSmppTime(sm.validityPeriod, now);
    if (!until.ok) return SmppStatus.ESME_RINVEXPIRY;
    const out: { sendAt?: number; validity?: number } = {};
    if (at.ms !== undefined && at.ms > now) out.sendAt = at.ms;
    if (until.ms !== undefined) {
      // A validity outside messages.minValiditySec..maxValiditySec is brought inside it (SMPP customers send odd ones).
      const sec = Math.round((until.ms - (out.sendAt ?? now)) / 1000);
      out.validity = Math.min(this.o.maxValiditySec, Math.max(this.o.minValiditySec, sec));
    }
    return out;
  }

  private submitWhole(a: SmppAccount, r: ReadSubmit, registeredDelivery: number, parts: number, body: Buffer, dataCoding: number, times: { sendAt?: number; validity?: number }, answer: (status: number, id: string) => void): void {
    const f: Record<string, unknown> = {
      ref: smppRef(registeredDelivery, parts, r.from),
      to: r.to,
      from: r.from,
      text: decodeBody(body, dataCoding, a.dataCoding0),
      // Receipts go back as deliver_sm (receipt-feed.ts), not as WebSocket pushes or webhooks.
      dlr: false,
      ...(times.sendAt !== undefined ? { sendAt: times.sendAt } : {}),
      ...(times.validity !== undefined ? { validity: times.validity } : {}),
    };
    const known = this.o.submit.submit(a.tenant, f, (frame) => {
      const x = JSON.parse(frame) as { op: string; id?: string; code?: string; error?: string };
      if (x.op === 'ack') answer(SmppStatus.ESME_ROK, x.id as string);
      else answer(statusOfRefusal(x.code ?? '', x.error ?? ''), '');
    });
    if (!known) answer(SmppStatus.ESME_RSYSERR, '');
  }

  private sweep(): void {
    const now = Date.now();
    const late = this.concat.sweep(now);
    if (late > 0) this.o.log('warn', `SMPP server: ${late} part(s) of concatenated submits waited ${this.o.concatTimeoutSec} s for the rest; answered 0x00000045`);
    const idleMs = this.o.idleTimeoutSec * 1000;
    for (const s of this.sessions.values()) {
      if (now - s.conn.lastRequestAt < idleMs || s.conn.isClosed) continue;
      this.o.log('info', `SMPP ${s.account === undefined ? 'connection' : `bind ${s.id} of tenant ${s.account.tenant}`} from ${s.remote} idle for ${this.o.idleTimeoutSec} s: unbinding`);
      s.conn.lastRequestAt = now; // one unbind per idle period
      if (s.account === undefined) s.conn.destroy();
      else s.conn.close();
    }
  }
}
