/**
 * The events sink: reads the Redis events stream (`{prefix}ev`, one entry per
 * status change, status-events.ts) with its own consumer group and inserts
 * the events into ClickHouse in batches bounded by size and time, XACKing
 * only after ClickHouse has the batch.
 *
 * Nothing lost, nothing doubled:
 * - an insert that fails leaves the batch pending in the consumer group; the
 *   sink re-reads its pending entries before new ones and tries again;
 * - a batch that reached ClickHouse but was not acknowledged (a crash between
 *   the two) is re-read as exactly the same entries, so it carries the same
 *   insert_deduplication_token (first id, last id, count) and ClickHouse drops
 *   the repeat (the table keeps a deduplication window); the table is also a
 *   ReplacingMergeTree keyed on the event's stream id, a second net.
 * The stream keeps what this group has not acknowledged (engine/queue/events-trimmer.ts),
 * up to messages.statusRetention entries: a sink stopped for longer than that
 * loses the oldest events; its lag is reported (switchyard_events_group_lag).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { Redis } from 'ioredis';
import { isMoEntry, parseStatusEvent } from './status-events.js';

export interface EventSinkOptions {
  readonly streamKey: string;
  readonly group?: string;
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

/** The sink's consumer group on the events stream (the engine creates it before any traffic: engine.ts). */
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

type Entries = Array<[string, string[]]>;
/** Columns of `events` the sink writes (EventRow without atMs). */
const COLUMNS = ['time', 'eid', 'message_id', 'tenant', 'client_ref', 'status', 'error_code', 'error_text', 'smsc', 'destination', 'country', 'mcc', 'mnc', 'operator', 'price', 'currency', 'parts', 'accepted_at', 'smpp_stat', 'raw_reply', 'latency_ms'] as const;

export class EventSink {
  inserted = 0;
  batches = 0;
  failures = 0;
  lastBatchSize = 0;
  /** Age of the newest event inserted when it was inserted (ms): how far analytics trails. */
  lagMs = 0;
  private readonly group: string;
  private readonly batchMax: number;
  private readonly flushMs: number;
  private pendingFirst = true;
  private running = false;
  private loop: Promise<void> | undefined;
  /** Test hook: simulate a crash between the insert and the XACK. */
  crashAfterInsert = false;

  constructor(
    private readonly redis: Redis,
    private readonly ch: ClickHouseClient,
    private readonly o: EventSinkOptions,
  ) {
    this.group = o.group ?? ANALYTICS_GROUP;
    this.batchMax = Math.min(MAX_BATCH, o.batchMax ?? 20_000);
    this.flushMs = o.flushMs ?? 1000;
  }

  /** The consumer group starts at the stream's beginning: everything still in it is ingested once. */
  async ensureGroup(): Promise<void> {
    try {
      await this.redis.xgroup('CREATE', this.o.streamKey, this.group, '0', 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
    }
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
    const rows: EventRow[] = [];
    for (const [eid, fields] of entries) {
      const r = toRow(eid, fields, this.o.operatorOf);
      if (r !== undefined) rows.push(r);
      else if (!isMoEntry(fields)) this.o.log?.('warn', `analytics sink: entry ${eid} is not a status event; skipped`);
    }
    if (fresh && rows.length > 0) this.o.onFresh?.(rows);
    const first = (entries[0] as [string, string[]])[0];
    const last = (entries[entries.length - 1] as [string, string[]])[0];
    if (rows.length > 0) {
      await this.ch.insert({
        table: 'events',
        // Positional rows (no key names repeated per row): a third less JSON to write and to parse.
        values: rows.map((r) => COLUMNS.map((c) => r[c])),
        columns: [...COLUMNS],
        format: 'JSONCompactEachRow',
        clickhouse_settings: { insert_deduplication_token: `${this.o.streamKey}:${first}:${last}:${entries.length}`, deduplicate_blocks_in_dependent_materialized_views: 1 },
      });
    }
    if (this.crashAfterInsert) throw new Error('simulated crash after insert');
    await this.redis.xack(this.o.streamKey, this.group, ...entries.map((e) => e[0]));
    this.inserted += rows.length;
    this.batches++;
    this.lastBatchSize = rows.length;
    this.lagMs = Math.max(0, Date.now() - Number(last.split('-')[0]));
    if (rows.length > 0) this.o.onInserted?.(rows);
    return rows.length;
  }

  /**
   * Pending entries first (exactly the batch that failed or was cut off by a crash: the sink reads
   * nothing new while any are pending, so they are at most one batch), else new ones until the
   * batch is full or flushMs passed. The pending batch is read whole whatever batchMax is now (at
   * most MAX_BATCH): a batch inserted before a crash must come back as the same entries, with the
   * same deduplication token, even if the config changed meanwhile.
   */
  private async collect(): Promise<{ entries: Entries; fresh: boolean }> {
    if (this.pendingFirst) {
      const pending = await this.read('0', MAX_BATCH, 0);
      if (pending.length > 0) return { entries: pending, fresh: false };
      this.pendingFirst = false;
    }
    const out = await this.read('>', this.batchMax, this.flushMs);
    const until = Date.now() + this.flushMs;
    while (out.length > 0 && out.length < this.batchMax && Date.now() < until && this.running) {
      const more = await this.read('>', this.batchMax - out.length, Math.max(1, until - Date.now()));
      if (more.length === 0) break;
      out.push(...more);
    }
    return { entries: out, fresh: true };
  }

  private async read(from: '0' | '>', count: number, blockMs: number): Promise<Entries> {
    const args: Array<string | number> = ['GROUP', this.group, this.o.consumer, 'COUNT', count];
    if (blockMs > 0) args.push('BLOCK', blockMs);
    args.push('STREAMS', this.o.streamKey, from);
    const reply = (await this.redis.call('XREADGROUP', ...args)) as Array<[string, Array<[string, string[] | null]>]> | null;
    const out: Entries = [];
    for (const [, items] of reply ?? []) for (const [id, fields] of items) out.push([id, fields ?? []]);
    return out;
  }
}
