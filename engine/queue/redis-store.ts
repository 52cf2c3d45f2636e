/**
 * The Redis adapter behind the message path: enqueue at ingress (one MULTI per
 * tick), credit-based reads and reclaim for operator actors, and the batched Lua
 * state changes (submitted, failed, receipts). Domain code sees plain records.
 *
 * Stream entry layout (binary-safe, compact for big backlogs):
 *   h = "id|part|total|to|from|validUntilSec|dataCoding|esmClass"
 *   b = short_message bytes (UDH + payload)
 *   t = tenant (actors hold back paused tenants' entries without a look-up)
 */
import type { Redis } from 'ioredis';
import { defineLuaCommand } from '../redis/lua-loader.js';
import { GROUP, Keys } from './keys.js';
import { ENQUEUE, FAILED, MOVE, RECEIPTS, SUBMITTED, SWEEP } from './lua-scripts.js';
import { messageField } from './message-fields.js';
import { EnqueueCode, ReceiptResult } from './script-codes.js';

export { ReceiptResult } from './script-codes.js';

export interface QueuedPart {
  readonly shortMessage: Buffer;
}

export interface NewMessage {
  readonly id: string;
  readonly tenant: string;
  readonly ref: string;
  readonly to: string;
  readonly from: string;
  readonly smsc: string;
  readonly partition: number;
  readonly dataCoding: number;
  readonly esmClass: number;
  readonly parts: ReadonlyArray<QueuedPart>;
  readonly acceptedAt: number; // ms since epoch
  readonly validUntil: number; // ms since epoch
  readonly ttlSec: number; // message hash TTL: validity + receipt grace (+ margin)
  readonly finalBy: number; // ms since epoch: no receipt by then means `unknown` (validUntil + grace; the sweep derives it, the enqueue script no longer reads it)
  readonly pushStatus: boolean;
  /** The route's record for billing and analytics: country|mcc|mnc|price|currency (routeRecord). */
  readonly route: string;
  /** Set when moderation holds the message for an admin (`pending_approval`): why. */
  readonly hold?: { readonly code: string; readonly text: string } | undefined;
  /** When a scheduled message is due (ms since epoch); 0 or absent: queue it now. */
  readonly dueAt?: number;
  /** Usage counts the message only once delivered (tenant billOn 'delivered'), not when sent. */
  readonly billOnDelivery?: boolean;
  // For the ack only (not stored as such):
  readonly encoding?: 'gsm7' | 'ucs2';
  /** Total price of all parts in `currency`. */
  readonly price?: number;
  readonly currency?: string;
}

/** Where the enqueue script put a message (lua/enqueue.lua): its status in the ack. */
export type Disposition = 'queued' | 'stopped' | 'pending_approval' | 'paused' | 'scheduled';
const DISPOSITION: Readonly<Record<EnqueueCode, Disposition>> = {
  [EnqueueCode.Queued]: 'queued',
  [EnqueueCode.Stopped]: 'stopped',
  [EnqueueCode.Held]: 'pending_approval',
  [EnqueueCode.Paused]: 'paused',
  [EnqueueCode.Scheduled]: 'scheduled',
};

/** The `rt` field of a message: where the router sent it and at what price per segment. */
export function routeRecord(r: { network: { country: string; mcc: string; mnc: string }; price: number; currency: string }): string {
  return `${r.network.country}|${r.network.mcc}|${r.network.mnc}|${r.price}|${r.currency}`;
}

export interface QueueEntry {
  readonly queueKey: string;
  readonly entryId: string;
  readonly id: string;
  readonly part: number;
  readonly total: number;
  readonly to: string;
  readonly from: string;
  readonly validUntilSec: number;
  readonly dataCoding: number;
  readonly esmClass: number;
  readonly shortMessage: Buffer;
  /** '' for entries written before the tenant was recorded in them. */
  readonly tenant: string;
}

export interface SubmittedItem {
  readonly entry: QueueEntry;
  readonly normId: string;
  readonly rawId: string;
}

export interface FailedItem {
  readonly entry: QueueEntry;
  readonly state: 'R' | 'E';
  readonly errCode: string;
  readonly errText: string;
}

export interface ReceiptItem {
  readonly state: 'D' | 'U' | 'E' | 'K' | 'u';
  readonly errCode: string;
  readonly errText: string;
  readonly key: string; // normalised SMSC message id (receiptKey)
  /** The receipt's text for analytics (the operator's raw reply); '' for delivered receipts. */
  readonly raw: string;
}

export interface StoreLimits {
  /** MAXLEN ~ of the events stream (status pushes, resume and the analytics sink read it). */
  readonly eventsMaxLen: number;
  /** Seconds a message hash is kept once its status is final (lookups, late duplicates). */
  readonly finalRetentionSec: number;
}

type Fields = Buffer[];
type StreamReply = Array<[Buffer, Array<[Buffer, Fields]>]> | null;

/** Orders two stream ids ("ms-seq"). */
export function compareStreamIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am !== bm ? am - bm : as - bs;
}

/** Parses one stream entry; returns undefined for a malformed entry (reported by the caller). */
export function parseEntry(queueKey: string, entryId: string, fields: Fields): QueueEntry | undefined {
  let h: string | undefined;
  let b: Buffer | undefined;
  let tenant = '';
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const k = (fields[i] as Buffer).toString('latin1');
    if (k === 'h') h = (fields[i + 1] as Buffer).toString('utf8');
    else if (k === 'b') b = fields[i + 1] as Buffer;
    else if (k === 't') tenant = (fields[i + 1] as Buffer).toString('latin1');
  }
  if (h === undefined || b === undefined) return undefined;
  const f = h.split('|');
  if (f.length !== 8) return undefined;
  return {
    queueKey,
    entryId,
    id: f[0] as string,
    part: Number(f[1]),
    total: Number(f[2]),
    to: f[3] as string,
    from: f[4] as string,
    validUntilSec: Number(f[5]),
    dataCoding: Number(f[6]),
    esmClass: Number(f[7]),
    shortMessage: b,
    tenant,
  };
}

export class RedisStore {
  readonly keys: Keys;
  private readonly limits: StoreLimits;

  constructor(
    readonly redis: Redis,
    prefix: string,
    limits: StoreLimits,
  ) {
    this.keys = new Keys(prefix);
    this.limits = limits;
    defineLuaCommand(redis, 'sySubmitted', SUBMITTED);
    defineLuaCommand(redis, 'syFailed', FAILED);
    defineLuaCommand(redis, 'syReceipts', RECEIPTS);
    defineLuaCommand(redis, 'sySweep', SWEEP);
    defineLuaCommand(redis, 'syEnqueue', ENQUEUE);
    defineLuaCommand(redis, 'syMove', MOVE);
  }

  /** Creates the consumer group of every partition (from the start of the stream). */
  async ensureGroups(smsc: string, partitions: number): Promise<void> {
    for (let p = 0; p < partitions; p++) {
      try {
        await this.redis.xgroup('CREATE', this.keys.queue(smsc, p), GROUP, '0', 'MKSTREAM');
      } catch (err) {
        if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
      }
    }
  }

  /**
   * Enqueues messages atomically, one script call for the whole batch
   * (lua/enqueue.lua): resolves once Redis has them all, with where each went
   * (opted-out numbers are stopped, held and paused tenants' messages parked).
   */
  async enqueue(msgs: ReadonlyArray<NewMessage>): Promise<Disposition[]> {
    const args: Array<string | number | Buffer> = [this.keys.prefix, this.limits.eventsMaxLen, this.limits.finalRetentionSec];
    for (const m of msgs) {
      args.push(
        m.id, m.tenant, m.ref, m.to, m.from, m.smsc, m.partition, m.dataCoding, m.esmClass, m.parts.length,
        m.acceptedAt, m.validUntil, m.ttlSec, m.finalBy, m.pushStatus ? 1 : 0, m.route, m.dueAt ?? 0, m.billOnDelivery === true ? 1 : 0,
        m.hold?.code ?? '', m.hold?.text ?? '',
      );
      for (const p of m.parts) args.push(p.shortMessage);
    }
    const codes = String(await (this.redis as unknown as Scripted).syEnqueue(...args));
    const out = new Array<Disposition>(msgs.length);
    for (let i = 0; i < msgs.length; i++) out[i] = DISPOSITION[codes[i] as EnqueueCode] ?? 'queued';
    return out;
  }

  /**
   * Reads up to `count` entries per partition. `fromId` '>' reads new entries;
   * '0' (or one id per partition: after that id) re-reads this consumer's own
   * pending entries (recovery after a restart).
   * Blocking reads must use their own connection (`conn`), or they would hold
   * back the state scripts pipelined behind them.
   */
  async read(consumer: string, queueKeys: ReadonlyArray<string>, count: number, fromId: '>' | '0' | ReadonlyArray<string>, blockMs = 0, conn: Redis = this.redis): Promise<{ entries: QueueEntry[]; malformed: Array<{ queueKey: string; entryId: string }> }> {
    const args: Array<string | number> = ['GROUP', GROUP, consumer, 'COUNT', count];
    if (blockMs > 0) args.push('BLOCK', blockMs);
    args.push('STREAMS', ...queueKeys);
    for (let i = 0; i < queueKeys.length; i++) args.push(typeof fromId === 'string' ? fromId : (fromId[i] ?? '0'));
    const reply = (await conn.callBuffer('XREADGROUP', ...args)) as StreamReply;
    const entries: QueueEntry[] = [];
    const malformed: Array<{ queueKey: string; entryId: string }> = [];
    if (reply === null) return { entries, malformed };
    for (const [keyBuf, items] of reply) {
      const queueKey = keyBuf.toString('latin1');
      for (const [idBuf, fields] of items) {
        const entryId = idBuf.toString('latin1');
        // A pending entry deleted meanwhile comes back with nil fields.
        const e = fields ? parseEntry(queueKey, entryId, fields) : undefined;
        if (e) entries.push(e);
        else malformed.push({ queueKey, entryId });
      }
    }
    return { entries, malformed };
  }

  /** Up to `count` entries of a partition that no consumer has read yet (failover candidates). */
  async unread(queueKey: string, count: number, after?: string): Promise<QueueEntry[]> {
    const groups = (await this.redis.call('XINFO', 'GROUPS', queueKey).catch(() => [])) as Array<Array<string>>;
    let last = '0-0';
    for (const g of groups) {
      const name = g[g.indexOf('name') + 1];
      if (name === GROUP) last = g[g.indexOf('last-delivered-id') + 1] as string;
    }
    const from = after !== undefined && compareStreamIds(after, last) > 0 ? after : last;
    const reply = (await this.redis.callBuffer('XRANGE', queueKey, '(' + from, '+', 'COUNT', count)) as Array<[Buffer, Fields]>;
    const out: QueueEntry[] = [];
    for (const [idBuf, fields] of reply) {
      const e = parseEntry(queueKey, idBuf.toString('latin1'), fields);
      if (e) out.push(e);
    }
    return out;
  }

  /** Moves unread entries to other queues (lua/move.lua); returns how many moved. */
  async move(srcKey: string, moves: ReadonlyArray<{ entryId: string; dstKey: string; id: string; smsc: string; route: string }>): Promise<number> {
    if (moves.length === 0) return 0;
    const args: string[] = [this.keys.prefix, GROUP, srcKey];
    for (const m of moves) args.push(m.entryId, m.dstKey, m.id, m.smsc, m.route);
    return (await (this.redis as unknown as Scripted).syMove(...args)) as number;
  }

  /** Claims entries idle longer than minIdleMs from any consumer (a dead engine node). */
  async autoclaim(consumer: string, queueKey: string, minIdleMs: number, count: number): Promise<QueueEntry[]> {
    const reply = (await this.redis.callBuffer('XAUTOCLAIM', queueKey, GROUP, consumer, minIdleMs, '0-0', 'COUNT', count)) as [Buffer, Array<[Buffer, Fields] | null>, Buffer[]?];
    const out: QueueEntry[] = [];
    for (const item of reply[1]) {
      if (!item) continue;
      const e = parseEntry(queueKey, item[0].toString('latin1'), item[1]);
      if (e) out.push(e);
    }
    return out;
  }

  /**
   * Recovery guard against double sending: of entries re-read after a crash or
   * claimed from a dead node, keeps those whose part is still queued and
   * acknowledges the rest (their submit was already recorded, or the message
   * ended meanwhile).
   */
  async splitUnsent(entries: ReadonlyArray<QueueEntry>): Promise<{ unsent: QueueEntry[]; done: QueueEntry[] }> {
    if (entries.length === 0) return { unsent: [], done: [] };
    const p = this.redis.pipeline();
    for (const e of entries) p.hget(this.keys.message(e.id), messageField('partState', e.part));
    const res = (await p.exec()) ?? [];
    const unsent: QueueEntry[] = [];
    const done: QueueEntry[] = [];
    entries.forEach((e, i) => ((res[i]?.[1] ?? 'q') === 'q' ? unsent : done).push(e));
    await this.dropEntries(done);
    return { unsent, done };
  }

  /** Acknowledges and deletes entries that cannot be parsed (they can never be sent). */
  async dropEntries(items: ReadonlyArray<{ queueKey: string; entryId: string }>): Promise<void> {
    if (items.length === 0) return;
    const p = this.redis.pipeline();
    for (const it of items) {
      p.xack(it.queueKey, GROUP, it.entryId);
      p.xdel(it.queueKey, it.entryId);
    }
    await p.exec();
  }

  private head(now: number): Array<string | number> {
    return [this.keys.prefix, now, this.limits.eventsMaxLen, this.limits.finalRetentionSec];
  }

  /**
   * Records submit_sm_resps. A part's receipt key lives until its validity ends
   * plus `receiptGraceSec` (receipts can come that late), at least a minute.
   */
  async submitted(smsc: string, receiptGraceSec: number, items: ReadonlyArray<SubmittedItem>, now = Date.now()): Promise<number> {
    const args = this.head(now);
    args.push(GROUP, smsc, 0);
    const nowSec = Math.floor(now / 1000);
    for (const it of items) {
      const ttl = Math.max(60, it.entry.validUntilSec - nowSec + receiptGraceSec);
      args.push(it.entry.queueKey, it.entry.entryId, it.entry.id, it.entry.part, `${it.normId}|${it.rawId}`, ttl);
    }
    return (await (this.redis as unknown as Scripted).sySubmitted(...args)) as number;
  }

  async failed(items: ReadonlyArray<FailedItem>, now = Date.now()): Promise<void> {
    const args = this.head(now);
    args.push(GROUP);
    for (const it of items) args.push(it.entry.queueKey, it.entry.entryId, it.entry.id, it.entry.part, it.state, it.errCode, it.errText);
    await (this.redis as unknown as Scripted).syFailed(...args);
  }

  /**
   * Records receipts; returns one result per item. `latencyMs`, when given, gets
   * per item the time from the message's `sent` to this receipt (-1 if unknown).
   */
  async receipts(smsc: string, earlyTtlSec: number, items: ReadonlyArray<ReceiptItem>, now = Date.now(), latencyMs?: number[]): Promise<ReceiptResult[]> {
    const args = this.head(now);
    args.push(smsc, earlyTtlSec);
    for (const it of items) args.push(it.state, it.errCode, it.errText, it.key, it.raw);
    const flat = (await (this.redis as unknown as Scripted).syReceipts(...args)) as number[];
    const codes: ReceiptResult[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      codes.push(flat[i] as ReceiptResult);
      latencyMs?.push(flat[i + 1] as number);
    }
    return codes;
  }

  /** Ends messages past validity + grace (expired if never sent, unknown if no receipt). */
  /**
   * Ends or re-scores messages whose validity (or validity + grace) has passed
   * (lua/sweep.lua); `graceSec` is messages.receiptGraceSec. Returns how many it met.
   */
  async sweepExpired(now: number, limit: number, graceSec: number): Promise<number> {
    const args = this.head(now);
    args.push(limit, graceSec * 1000, GROUP);
    return (await (this.redis as unknown as Scripted).sySweep(...args)) as number;
  }
}

export interface Scripted {
  syEnqueue(...args: Array<string | number | Buffer>): Promise<unknown>;
  sySweep(...args: Array<string | number>): Promise<unknown>;
  sySubmitted(...args: Array<string | number>): Promise<unknown>;
  syFailed(...args: Array<string | number>): Promise<unknown>;
  syReceipts(...args: Array<string | number>): Promise<unknown>;
  syMove(...args: string[]): Promise<unknown>;
}
