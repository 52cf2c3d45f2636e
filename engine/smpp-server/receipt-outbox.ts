/**
 * One tenant's outbox on this node: the receipts and MO messages in
 * {P}smo:{tenant} (receipt-feed.ts) sent as deliver_sm over the tenant's
 * receiver and transceiver binds here, each entry acknowledged (XACK + XDEL)
 * only once the customer answered deliver_sm_resp 0.
 *
 *   smo:{t} ──XREADGROUP (group "smpp", consumer <node>; own pending first)──▶ ready (≤ 2 × window × binds)
 *       ready ──▶ a bind with a free window slot ──deliver_sm──▶ customer
 *           resp 0          ─▶ XACK + XDEL (batched per tick)
 *           resp ≠ 0 / none ─▶ back to the front of ready; the tenant's delivery
 *                              pauses for a backoff (smppServer.retryMs, doubling)
 *
 * While the tenant has no receiving bind on this node nothing is read: what is
 * in the stream waits in Redis (durable, no memory here), and what this node
 * had read but not had answered stays pending in its consumer. A new bind
 * starts from the consumer's pending entries ('0'), in stream order, so
 * receipts held while unbound go out in order after the rebind. A customer
 * that never answers holds its own window only: its entries stay in Redis
 * and other tenants' outboxes are separate objects with separate streams.
 *
 * Not done: an entry pending in the consumer of a node that died is not taken
 * over by another node (README "SMPP server": fleet).
 */
import type { Redis } from 'ioredis';
import type { SmppConnection } from '../smpp/smpp-connection.js';
import { formatReceiptText } from '../smpp/pdu-codec.js';
import { encodeGsm, firstNonGsm } from '../text/index.js';
import { RECEIPT_STATE } from './smpp-ref.js';
import { outboxKey, type OutboxRecord } from './receipt-feed.js';

export const OUTBOX_GROUP = 'smpp';
/** Entries read at a time per bind window. */
const READ_FACTOR = 2;

export interface OutboxOptions {
  readonly redis: Redis;
  readonly prefix: string;
  readonly tenant: string;
  readonly node: string;
  readonly dataCoding0: 'gsm7' | 'latin1';
  readonly retryMs: { readonly min: number; readonly max: number };
  readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void;
  /** Counts (per tenant metrics). */
  readonly onDelivered?: (kind: 'r' | 'm') => void;
  readonly onRetry?: () => void;
}

interface Entry {
  readonly sid: string;
  readonly rec: OutboxRecord;
}

/** The deliver_sm of an outbox record (receipt or MO). */
export function deliverOf(rec: OutboxRecord, dc0: 'gsm7' | 'latin1'): Parameters<SmppConnection['deliverSm']>[0] {
  // Numbers go out as international digits (TON 1, NPI 1) without a "+"; an alphanumeric sender as TON 5.
  const ph = rec.ph.replace(/^\+/, '');
  const cu = rec.cu.replace(/^\+/, '');
  const digits = /^[0-9]+$/.test(cu);
  const addr = { sourceAddrTon: 1, sourceAddrNpi: 1, sourceAddr: ph.slice(0, 20), destAddrTon: digits ? 1 : 5, destAddrNpi: digits ? 1 : 0, destinationAddr: cu.slice(0, 20), validityPeriod: '', registeredDelivery: 0 };
  if (rec.k === 'r') {
    const s = RECEIPT_STATE[rec.st ?? ''] ?? { stat: 'UNKNOWN', state: 7 };
    const err = rec.err !== undefined && /^[0-9]+$/.test(rec.err) ? rec.err.padStart(3, '0').slice(-3) : '000';
    const text = formatReceiptText({ id: rec.id, sub: 1, dlvrd: s.stat === 'DELIVRD' ? 1 : 0, submitDate: new Date(rec.ac ?? rec.at), doneDate: new Date(rec.at), stat: s.stat, err });
    return { ...addr, esmClass: 0x04, dataCoding: 0, shortMessage: Buffer.from(text, 'latin1'), receiptedMessageId: rec.id, messageState: s.state };
  }
  const text = rec.tx ?? '';
  let dataCoding = 8;
  let body: Buffer;
  if (dc0 === 'gsm7' && firstNonGsm(text) < 0) {
    dataCoding = 0;
    body = encodeGsm(text);
  } else if (dc0 === 'latin1' && /^[\u0000-\u00ff]*$/.test(text)) {
    dataCoding = 0;
    body = Buffer.from(text, 'latin1');
  } else body = Buffer.from(text, 'utf16le').swap16();
  // Longer than short_message holds: message_payload (SMPP 3.4 §5.3.2.32).
  return body.length > 254 ? { ...addr, esmClass: 0, dataCoding, shortMessage: Buffer.alloc(0), messagePayload: body } : { ...addr, esmClass: 0, dataCoding, shortMessage: body };
}

export class ReceiptOutbox {
  private readonly key: string;
  private readonly binds = new Set<SmppConnection>();
  private ready: Entry[] = [];
  private head = 0;
  /** Stream ids handed to a bind and not answered yet. */
  private readonly inflight = new Set<string>();
  /** Where the next read starts: '0' (own pending, then on) or '>' (new). */
  private cursor = '0';
  private reading = false;
  private pausedUntil = 0;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  /** Bumped when the last bind goes: answers of the sessions before are ignored (their entries are re-read). */
  private generation = 0;
  private acks: string[] = [];
  private ackScheduled = false;
  private groupReady: Promise<void> | undefined;
  private stopped = false;
  delivered = 0;
  retries = 0;

  constructor(private readonly o: OutboxOptions) {
    this.key = outboxKey(o.prefix, o.tenant);
  }

  /** Entries read and not yet answered (in memory). */
  get held(): number {
    return this.ready.length - this.head + this.inflight.size;
  }

  addBind(conn: SmppConnection): void {
    if (this.binds.size === 0) {
      this.cursor = '0';
      this.failures = 0;
      this.pausedUntil = 0;
    }
    this.binds.add(conn);
    conn.on('slot', () => this.pump());
    this.pump();
  }

  removeBind(conn: SmppConnection): void {
    if (!this.binds.delete(conn) || this.binds.size > 0) return;
    // No receiver left here: forget what was read; it is pending in Redis and re-read on the next bind.
    this.generation++;
    this.ready = [];
    this.head = 0;
    this.inflight.clear();
  }

  get bindCount(): number {
    return this.binds.size;
  }

  /** New entries may be in the stream (the feed appended, or a poll). */
  wake(): void {
    this.pump();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.poll);
  }

  private ensureGroup(): Promise<void> {
    this.groupReady ??= this.o.redis.xgroup('CREATE', this.key, OUTBOX_GROUP, '0', 'MKSTREAM').then(
      () => undefined,
      (err: Error) => {
        if (!err.message.includes('BUSYGROUP')) {
          this.groupReady = undefined;
          throw err;
        }
      },
    );
    return this.groupReady;
  }

  private pump(): void {
    if (this.stopped || this.binds.size === 0) return;
    const now = Date.now();
    if (now < this.pausedUntil) {
      if (this.timer === undefined) this.timer = setTimeout(() => ((this.timer = undefined), this.pump()), this.pausedUntil - now);
      return;
    }
    while (this.head < this.ready.length) {
      const conn = this.freeBind();
      if (conn === undefined) break;
      const e = this.ready[this.head] as Entry;
      const gen = this.generation;
      let pdu;
      try {
        pdu = deliverOf(e.rec, this.o.dataCoding0);
      } catch (err) {
        // Cannot be built (should not happen): acknowledged rather than blocking the outbox forever; logged.
        this.o.log('error', `SMPP outbox ${this.o.tenant}: entry ${e.sid} dropped, unencodable: ${(err as Error).message}`);
        this.head++;
        this.ack(e.sid);
        continue;
      }
      if (!conn.deliverSm(pdu, (err, resp) => this.answered(gen, e, err === null && resp?.commandStatus === 0, err?.message ?? `command_status 0x${(resp?.commandStatus ?? 0).toString(16).padStart(8, '0')}`))) break;
      this.head++;
      this.inflight.add(e.sid);
    }
    if (this.head > 1024 && this.head * 2 > this.ready.length) {
      this.ready = this.ready.slice(this.head);
      this.head = 0;
    }
    this.refill();
  }

  private freeBind(): SmppConnection | undefined {
    let best: SmppConnection | undefined;
    for (const c of this.binds) if (c.writable && c.freeSlots > 0 && (best === undefined || c.freeSlots > best.freeSlots)) best = c;
    return best;
  }

  private windowTotal(): number {
    let w = 0;
    for (const c of this.binds) w += c.window;
    return w;
  }

  private answered(gen: number, e: Entry, ok: boolean, why: string): void {
    if (gen !== this.generation) return;
    this.inflight.delete(e.sid);
    if (ok) {
      this.failures = 0;
      this.delivered++;
      this.o.onDelivered?.(e.rec.k);
      this.ack(e.sid);
    } else {
      // Refused or unanswered: back to the front, and the tenant's delivery slows down.
      this.retries++;
      this.o.onRetry?.();
      if (this.head > 0) this.ready[--this.head] = e;
      else this.ready.unshift(e);
      this.failures++;
      const backoff = Math.min(this.o.retryMs.max, this.o.retryMs.min * 2 ** Math.min(20, this.failures - 1));
      this.pausedUntil = Date.now() + backoff;
      if (this.failures === 1 || this.failures % 100 === 0) this.o.log('warn', `SMPP outbox ${this.o.tenant}: deliver_sm not taken (${why}); retrying in ${backoff} ms (${this.failures} in a row)`);
    }
    this.pump();
  }

  private ack(sid: string): void {
    this.acks.push(sid);
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    setImmediate(() => {
      this.ackScheduled = false;
      const ids = this.acks;
      this.acks = [];
      const m = this.o.redis.multi();
      m.xack(this.key, OUTBOX_GROUP, ...ids);
      m.xdel(this.key, ...ids);
      m.exec().catch((err: Error) => this.o.log('warn', `SMPP outbox ${this.o.tenant}: acknowledging ${ids.length} entries failed (${err.message}); they may be delivered again`));
    });
  }

  private refill(): void {
    if (this.reading || this.stopped || this.binds.size === 0) return;
    const want = READ_FACTOR * this.windowTotal() - this.held;
    if (want <= 0) return;
    this.reading = true;
    clearTimeout(this.poll);
    this.poll = undefined;
    const gen = this.generation;
    void (async () => {
      let got = 0;
      try {
        await this.ensureGroup();
        const cursor = this.cursor;
        const reply = (await this.o.redis.xreadgroup('GROUP', OUTBOX_GROUP, this.o.node, 'COUNT', want, 'STREAMS', this.key, cursor)) as Array<[string, Array<[string, string[] | null]>]> | null;
        const items = reply?.[0]?.[1] ?? [];
        if (gen !== this.generation) return;
        for (const [sid, fields] of items) {
          if (cursor !== '>' && this.inflight.has(sid)) continue;
          const r = fields === null ? undefined : fields[fields.indexOf('r') + 1];
          if (r === undefined) {
            this.ack(sid); // deleted meanwhile (XDEL) or not ours
            continue;
          }
          got++;
          this.ready.push({ sid, rec: JSON.parse(r) as OutboxRecord });
        }
        if (cursor !== '>') {
          const last = items[items.length - 1];
          this.cursor = last === undefined ? '>' : last[0];
          if (last === undefined) got = -1; // switch to new entries at once
        }
      } catch (err) {
        this.o.log('warn', `SMPP outbox ${this.o.tenant}: read failed: ${(err as Error).message}`);
      } finally {
        this.reading = false;
      }
      if (got !== 0) this.pump();
      else if (!this.stopped && this.binds.size > 0 && this.poll === undefined) {
        // Nothing new: look again shortly (the feed of this node wakes it sooner; other nodes' appends are polled).
        this.poll = setTimeout(() => ((this.poll = undefined), this.pump()), 200);
        this.poll.unref();
      }
    })();
  }
}
