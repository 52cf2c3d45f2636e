/**
 * The events sink: reads the events streams (one per shard, `ev:{T}`, one
 * entry per status change, status-events.ts) with its own consumer group on
 * each, through an EventSource (the port: engine/analytics/redis-event-source.ts
 * adapts Redis or a Redis Cluster), and inserts the events into ClickHouse in
 * batches bounded by size and time, acknowledging only after ClickHouse has
 * the batch.
 *
 *   ev:{T0}..ev:{TS-1} ──read (pending first)──▶ one batch (entries of any shards) ──insert──▶ ClickHouse
 *                                                     │ description: per shard first|last|count
 *                                                     └─ saved before the insert; acknowledged per shard after it
 *
 * Nothing lost, nothing doubled:
 * - an insert that fails leaves the batch pending in the consumer groups; the
 *   sink re-reads its pending entries before new ones and tries again;
 * - a batch that reached ClickHouse but was not acknowledged (a crash between
 *   the two) is re-read as exactly the same entries, so it carries the same
 *   insert_deduplication_token (a hash of its per-shard ranges) and ClickHouse
 *   drops the repeat (the table keeps a deduplication window); the table is
 *   also a ReplacingMergeTree keyed on the event's eid, a second net;
 * - the acknowledgements of one batch go to several shards, which on a cluster
 *   live on several masters: a crash (or a master failing over) between them
 *   leaves part of the batch pending. Re-read, that part would carry another
 *   token and be inserted twice, so the sink saves each batch's description
 *   before inserting it; pending entries that are a strict part of the saved
 *   batch (some of its shards acknowledged) were inserted: they are only
 *   acknowledged. One insert per batch rather than one per shard: with 16-48
 *   shards, per-shard inserts would create that many ClickHouse parts per
 *   second.
 * The streams keep what this group has not acknowledged (engine/queue/events-trimmer.ts),
 * up to messages.statusRetention entries each: a sink stopped for longer than
 * that loses the oldest events; its lag is reported (switchyard_events_group_lag).
 */
import { createHash } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { isMoEntry, parseStatusEvent } from './status-events.js';

/** One entry of the events streams, as an EventSource gives it. */
export interface SourceEntry {
  /** The public event id, `s<K>-<ms>-<seq>`: the row's eid. */
  readonly eid: string;
  /** The shard whose stream holds it, and its id there (what acknowledgements and batch descriptions name). */
  readonly shard: number;
  readonly id: string;
  /** null: a pending entry its stream no longer holds (trimmed before it was inserted). */
  readonly fields: ReadonlyArray<string> | null;
}

/** What the sink needs from the events streams and its consumer group on each (the port). */
export interface EventSource {
  /** Names the streams in deduplication tokens (the key prefix): two deployments never share a token. */
  readonly name: string;
  /** Creates the consumer group on every stream, at its start, where it does not exist. */
  ensureGroup(): Promise<void>;
  /** This consumer's pending entries, every shard's, whole (the batch a failure or a crash left). */
  pending(): Promise<SourceEntry[]>;
  /** New entries, about `count` at most over all shards; waits up to `waitMs` for the first ones. */
  read(count: number, waitMs: number): Promise<SourceEntry[]>;
  /** Acknowledges entries in their shards. */
  ack(entries: ReadonlyArray<SourceEntry>): Promise<void>;
  /** Keeps the description of the batch about to be inserted, until the next one. */
  saveBatch(description: string): Promise<void>;
  /** The description saved last, if any. */
  savedBatch(): Promise<string | undefined>;
}

export interface EventSinkOptions {
  readonly consumer: string;
  /** Most events per insert. */
  readonly batchMax?: number;
  /** Longest an event waits for its batch to fill (ms). */
  readonly flushMs?: number;
  readonly log?: (level: 'info' | 'warn' | 'error', msg: string) => void;
  /** The operator's name of a network (numbering plan; the number itself when the MNC is unknown); '' when unknown. */
  readonly operatorOf?: (mcc: string, mnc: string, e164: string) => string;
  /** Rows read from the stream for the first time (not re-reads after a failed insert): the live feed. */
  readonly onFresh?: (rows: ReadonlyArray<EventRow>) => void;
  /** Rows ClickHouse has (bad-number detection). */
  readonly onInserted?: (rows: ReadonlyArray<EventRow>) => void;
}

export interface EventRow {
  time: string;
  eid: string;
  message_id: string;
  tenant: string;
  client_ref: string;
  status: string;
  error_code: string;
  error_text: string;
  smsc: string;
  destination: string;
  country: string;
  mcc: string;
  mnc: string;
  operator: string;
  price: number;
  currency: string;
  parts: number;
  accepted_at: string;
  smpp_stat: string;
  raw_reply: string;
  latency_ms: number | null;
  /** Event time in ms (not a column: for the live feed and the detector). */
  readonly atMs: number;
}

/** Most events in one batch, whatever the config says (config/schema.ts caps analytics.batchMax at it). */
export const MAX_BATCH = 100_000;

/** The sink's consumer group on every events stream (the engine creates them before any traffic: engine.ts). */
export const ANALYTICS_GROUP = 'analytics';

/**
 * ms since epoch → ClickHouse DateTime64(3) text in UTC. Two per row on the
 * sink's path (event time, acceptance time), and Date#toISOString was its
 * largest JS cost (profiled): the second's text is kept for the next calls,
 * which mostly fall in the same few seconds.
 */
let secKey = -1;
let secText = '';
let sec2Key = -1;
let sec2Text = '';
export function chTime(ms: number): string {
  const sec = Math.floor(ms / 1000);
  let head: string;
  if (sec === secKey) head = secText;
  else if (sec === sec2Key) head = sec2Text;
  else {
    head = new Date(sec * 1000).toISOString().slice(0, 19).replace('T', ' ');
    sec2Key = secKey;
    sec2Text = secText;
    secKey = sec;
    secText = head;
  }
  const frac = ms - sec * 1000;
  return head + (frac < 10 ? '.00' : frac < 100 ? '.0' : '.') + frac;
}

/** Integer ms within what DateTime64(3) stores (1900-2299; Switchyard's own times are from now). */
function validTime(ms: number): boolean {
  return Number.isInteger(ms) && ms >= -2_208_988_800_000 && ms < 10_413_792_000_000;
}

/** SMPP 3.4 command_status names of common submit refusals (analytics/ does not import engine/). */
const COMMAND_STATUS: Readonly<Record<number, string>> = {
  0x01: 'ESME_RINVMSGLEN', 0x02: 'ESME_RINVCMDLEN', 0x03: 'ESME_RINVCMDID', 0x04: 'ESME_RINVBNDSTS', 0x08: 'ESME_RSYSERR',
  0x0a: 'ESME_RINVSRCADR', 0x0b: 'ESME_RINVDSTADR', 0x0c: 'ESME_RINVMSGID', 0x11: 'ESME_RCANCELFAIL', 0x14: 'ESME_RMSGQFUL',
  0x33: 'ESME_RINVNUMDESTS', 0x40: 'ESME_RINVDESTFLAG', 0x44: 'ESME_RINVSUBREP', 0x45: 'ESME_RSUBMITFAIL', 0x48: 'ESME_RINVSRCTON',
  0x49: 'ESME_RINVSRCNPI', 0x50: 'ESME_RINVDSTTON', 0x51: 'ESME_RINVDSTNPI', 0x58: 'ESME_RTHROTTLED', 0x61: 'ESME_RINVSCHED',
  0x62: 'ESME_RINVEXPIRY', 0x64: 'ESME_RX_T_APPN', 0x65: 'ESME_RX_P_APPN', 0x66: 'ESME_RX_R_APPN', 0xff: 'ESME_RUNKNOWNERR',
};

/** Receipt stat of a receipt event, or the command_status name of a refused submit; '' otherwise. */
function smppStatOf(status: string, code: string, text: string, fromReceipt: boolean): string {
  if (fromReceipt) return status === 'delivered' ? 'DELIVRD' : text;
  if (status === 'rejected' && code.startsWith('0x')) return COMMAND_STATUS[parseInt(code.slice(2), 16)] ?? '';
  return '';
}

/** One events-stream entry → one row; undefined for an entry that is not a status event. */
export function toRow(eid: string, fields: ReadonlyArray<string>, operatorOf?: (mcc: string, mnc: string, e164: string) => string): EventRow | undefined {
  const e = parseStatusEvent(fields);
  if (e === undefined) return undefined;
  let f: { id?: string; ref?: string; status?: string; at?: number; error?: { code?: string; text?: string } };
  try {
    f = JSON.parse(e.frame) as typeof f;
  } catch {
    return undefined;
  }
  if (typeof f.id !== 'string' || typeof f.status !== 'string' || typeof f.at !== 'number') return undefined;
  // A time ClickHouse's DateTime64 (or Date#toISOString) cannot hold would fail the whole batch
  // again and again: such an entry is skipped (reported by the caller), never retried forever.
  if (!validTime(f.at) || !validTime(e.acceptedAt)) return undefined;
  const code = f.error?.code ?? '';
  const text = f.error?.text ?? '';
  return {
    time: chTime(f.at),
    eid,
    message_id: f.id,
    tenant: e.tenant,
    client_ref: f.ref ?? '',
    status: f.status,
    error_code: code,
    error_text: text,
    smsc: e.smsc,
    destination: e.to,
    country: e.country,
    mcc: e.mcc,
    mnc: e.mnc,
    operator: operatorOf?.(e.mcc, e.mnc, e.to) ?? '',
    price: Number.isFinite(e.price) ? e.price : 0,
    currency: e.currency,
    parts: Math.min(255, Math.max(0, e.parts | 0)),
    accepted_at: chTime(e.acceptedAt),
    smpp_stat: smppStatOf(f.status, code, text, e.latencyMs !== undefined),
    raw_reply: e.raw,
    latency_ms: e.latencyMs === undefined ? null : Math.min(0xffffffff, Math.round(e.latencyMs)),
    atMs: f.at,
  };
}

/** Columns of `events` the sink writes (EventRow without atMs). */
const COLUMNS = ['time', 'eid', 'message_id', 'tenant', 'client_ref', 'status', 'error_code', 'error_text', 'smsc', 'destination', 'country', 'mcc', 'mnc', 'operator', 'price', 'currency', 'parts', 'accepted_at', 'smpp_stat', 'raw_reply', 'latency_ms'] as const;

/**
 * Per shard with entries, in shard order: `shard:first:last:count`. Exactly the
 * same for the same entries whatever order they were read in.
 */
export function describeBatch(entries: ReadonlyArray<SourceEntry>): string {
  const parts = new Map<number, { first: string; last: string; n: number }>();
  for (const e of entries) {
    const p = parts.get(e.shard);
    if (p === undefined) parts.set(e.shard, { first: e.id, last: e.id, n: 1 });
    else {
      if (idBefore(e.id, p.first)) p.first = e.id;
      if (idBefore(p.last, e.id)) p.last = e.id;
      p.n++;
    }
  }
  return [...parts].sort((a, b) => a[0] - b[0]).map(([k, p]) => `${k}:${p.first}:${p.last}:${p.n}`).join(',');
}

/** a < b for stream ids "ms-seq" (as numbers). */
function idBefore(a: string, b: string): boolean {
  const [am, as] = a.split('-');
  const [bm, bs] = b.split('-');
  const d = Number(am) - Number(bm);
  return d !== 0 ? d < 0 : Number(as) < Number(bs);
}

/**
 * Whether pending entries described by `pending` are a strict part of the
 * batch `saved`: each of their shards with the same range, some of its shards
 * missing (acknowledged, which happens only after the insert).
 */
export function isAckedPart(pending: string, saved: string): boolean {
  if (pending === '' || pending === saved) return false;
  const all = new Set(saved.split(','));
  const mine = pending.split(',');
  return mine.length < all.size && mine.every((p) => all.has(p));
}

export class EventSink {
  inserted = 0;
  batches = 0;
  failures = 0;
  lastBatchSize = 0;
  /** Pending entries found already inserted (their batch partly acknowledged before a crash): only acknowledged. */
  acknowledgedOnly = 0;
  /** Age of the newest event inserted when it was inserted (ms): how far analytics trails. */
  lagMs = 0;
  private readonly batchMax: number;
  private readonly flushMs: number;
  private pendingFirst = true;
  private running = false;
  private loop: Promise<void> | undefined;
  /** Test hook: simulate a crash between the insert and the XACK. */
  crashAfterInsert = false;

  constructor(
    private readonly source: EventSource,
    private readonly ch: ClickHouseClient,
    private readonly o: EventSinkOptions,
  ) {
    this.batchMax = Math.min(MAX_BATCH, o.batchMax ?? 20_000);
    this.flushMs = o.flushMs ?? 1000;
  }

  /** The consumer groups start at the streams' beginnings: everything still in them is ingested once. */
  ensureGroup(): Promise<void> {
    return this.source.ensureGroup();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = (async () => {
      await this.ensureGroup();
      while (this.running) {
        try {
          await this.runOnce();
        } catch (err) {
          this.failures++;
          this.pendingFirst = true; // the batch stays pending: re-read it first
          this.o.log?.('warn', `analytics sink: ${(err as Error).message}; retrying in 1 s`);
          await new Promise((ok) => setTimeout(ok, 1000));
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** One batch: read (pending first), insert, acknowledge. Returns the events inserted. */
  async runOnce(): Promise<number> {
    const { entries, fresh } = await this.collect();
    if (entries.length === 0) return 0;
    const description = describeBatch(entries);
    if (!fresh) {
      // A pending batch: a strict part of the batch saved last was inserted (some of its shards were acknowledged).
      const saved = await this.source.savedBatch();
      if (saved !== undefined && isAckedPart(description, saved)) {
        await this.source.ack(entries);
        this.acknowledgedOnly += entries.length;
        this.o.log?.('info', `analytics sink: ${entries.length} pending event(s) of a batch inserted before a restart were acknowledged, not inserted again`);
        return 0;
      }
    }
    const rows: EventRow[] = [];
    let trimmed = 0;
    for (const e of entries) {
      if (e.fields === null) {
        trimmed++;
        continue;
      }
      const r = toRow(e.eid, e.fields, this.o.operatorOf);
      if (r !== undefined) rows.push(r);
      else if (!isMoEntry(e.fields)) this.o.log?.('warn', `analytics sink: entry ${e.eid} is not a status event; skipped`);
    }
    if (trimmed > 0) this.o.log?.('error', `analytics sink: ${trimmed} pending event(s) were trimmed from the events streams before they were inserted (messages.statusRetention); lost to analytics`);
    if (fresh && rows.length > 0) this.o.onFresh?.(rows);
    let newest = 0;
    for (const e of entries) newest = Math.max(newest, Number(e.id.slice(0, e.id.indexOf('-'))));
    if (rows.length > 0) {
      // Saved before the insert (the same description again for a pending batch): see the module header.
      await this.source.saveBatch(description);
      await this.ch.insert({
        table: 'events',
        // Positional rows (no key names repeated per row): a third less JSON to write and to parse.
        values: rows.map((r) => COLUMNS.map((c) => r[c])),
        columns: [...COLUMNS],
        format: 'JSONCompactEachRow',
        clickhouse_settings: { insert_deduplication_token: `${this.source.name}:${createHash('sha1').update(description).digest('hex')}`, deduplicate_blocks_in_dependent_materialized_views: 1 },
      });
    }
    if (this.crashAfterInsert) throw new Error('simulated crash after insert');
    await this.source.ack(entries);
    this.inserted += rows.length;
    this.batches++;
    this.lastBatchSize = rows.length;
    this.lagMs = Math.max(0, Date.now() - newest);
    if (rows.length > 0) this.o.onInserted?.(rows);
    return rows.length;
  }

  /**
   * Pending entries first (exactly the batch that failed or was cut off by a crash: the sink reads
   * nothing new while any are pending, so they are at most one batch), else new ones until the
   * batch is full or flushMs passed. The pending batch is read whole whatever batchMax is now: a
   * batch inserted before a crash must come back as the same entries, with the same
   * deduplication token, even if the config changed meanwhile.
   */
  private async collect(): Promise<{ entries: SourceEntry[]; fresh: boolean }> {
    if (this.pendingFirst) {
      const pending = await this.source.pending();
      if (pending.length > 0) return { entries: pending, fresh: false };
      this.pendingFirst = false;
    }
    const out = await this.source.read(this.batchMax, this.flushMs);
    const until = Date.now() + this.flushMs;
    while (out.length > 0 && out.length < this.batchMax && Date.now() < until && this.running) {
      const more = await this.source.read(this.batchMax - out.length, Math.max(1, until - Date.now()));
      if (more.length === 0) break;
      out.push(...more);
    }
    return { entries: out, fresh: true };
  }
}
