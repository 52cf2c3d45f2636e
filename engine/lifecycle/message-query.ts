/**
 * Reading messages back: one message with its parts, price and event history,
 * and a tenant's messages listed with filters and cursor pagination.
 *
 * History is derived from the timestamps the state scripts already keep in
 * the message hash (accepted, queued, sent, unreachable, final), so recording
 * it costs the hot path nothing; every status a message goes through happens
 * at most once, so those timestamps are its whole history. It reaches as far
 * back as the hash lives: while the message is in flight (up to validity +
 * receipt grace) and messages.finalRetentionSec after its final status; older
 * messages are in analytics (ClickHouse), not here. A lookup names the hash
 * from the id (m:{T}:{id}, T the shard the id ends with) only after checking
 * that the id is one of this deployment's: a client's id never names a key.
 *
 * Listing walks the tenant's index newest first. Each shard K keeps one Redis
 * list per minute (ix:{K}:{tenant}:{minute}, the ids due in that minute in
 * the order accepted, appended by the enqueue script with one RPUSH per
 * batch, tenant and minute: O(1) and ~20 bytes per message, where a sorted
 * set costs O(log n) and ~80) and a sorted set of the minutes that have one
 * (ixb:{K}:{tenant}). A page merges the S shards' lists:
 *
 *   minutes   the union of the shards' ixb, latest first
 *   a minute  its S lists read backwards in chunks and merged by id, greatest
 *             first (ids begin with their acceptance time, so this is newest
 *             first; each list is taken in its own order, so every entry is
 *             looked at exactly once even where two nodes' clocks disagree)
 *
 * It reads the hashes in pipelined chunks and filters them here. A page holds
 * at most `limit` messages and scans at most SCAN_BUDGET index entries, so a
 * filter that matches little still answers quickly: the page is then shorter
 * and `next` says where to go on. The cursor names a position per shard: the
 * minute of the last entry looked at and, for each shard that has a list in
 * that minute, how many of its entries are still to be looked at. Lists only
 * grow at their end, so pages stay consistent while new messages arrive (they
 * are after every position). A time + id cursor would be shorter (it does not
 * grow with S) but cannot say where to resume in a list without reading it
 * from its end. Whole minutes older than messages.listRetentionSec are
 * deleted (trimListIndexes, every 5 s, per shard).
 */
import type { RedisClient } from '../redis/connect-redis.js';
import { runCommands, type RedisCommand } from '../redis/run-commands.js';
import type { Keys } from '../queue/keys.js';

const PART_STATE: Readonly<Record<string, string>> = {
  q: 'queued', s: 'sent', u: 'unreachable', D: 'delivered', K: 'unknown', E: 'expired', U: 'undelivered', R: 'rejected', S: 'stopped',
};

export interface MessageEvent {
  readonly status: string;
  readonly at: number;
  readonly error?: { readonly code: string; readonly text: string };
}

export interface MessageSummary {
  readonly id: string;
  readonly ref: string;
  readonly to: string;
  readonly from: string;
  readonly status: string;
  readonly parts: number;
  readonly smsc: string;
  readonly acceptedAt: number;
  readonly sendAt?: number;
  readonly validUntil: number;
  readonly price?: { readonly perPart: number; readonly total: number; readonly currency: string };
  readonly route?: { readonly country: string; readonly mcc: string; readonly mnc: string; readonly pricePerPart: number; readonly currency: string };
  readonly error?: { readonly code: string; readonly text: string };
}

export interface MessageDetail extends MessageSummary {
  readonly partStates: ReadonlyArray<{ readonly part: number; readonly state: string; readonly smscMessageId?: string }>;
  readonly events: ReadonlyArray<MessageEvent>;
}

/**
 * Statuses that carry the message's error: the final failures. The hash keeps
 * the worst part's error as soon as that part is final (we, wt), so a
 * multipart message still in flight (`sent`, `queued`) has one too; shown there
 * it said "failed" about a message whose other parts were still pending.
 * `delivered` never carries one (older hashes kept the receipt's 000/DELIVRD).
 */
const FAILED = new Set(['undelivered', 'rejected', 'expired', 'unknown', 'stopped']);

/** The message's error for its status: a final failure's, or why a held one is held. */
function errorOf(h: Readonly<Record<string, string | null | undefined>>): { code: string; text: string } | undefined {
  if (h.we && FAILED.has(h.s ?? '')) return { code: h.we, text: h.wt ?? '' };
  if (h.s === 'pending_approval' && h.hr) return { code: h.hr, text: h.ht ?? '' };
  return undefined;
}

const SUMMARY_FIELDS = ['t', 'r', 'to', 'fr', 's', 'n', 'sm', 'ac', 'da', 'v', 'rt', 'we', 'wt', 'hr', 'ht'] as const;

function num(v: string | null | undefined): number | undefined {
  if (v === null || v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

function summary(id: string, h: Readonly<Record<string, string | null | undefined>>): MessageSummary {
  const parts = Number(h.n ?? 0);
  const [country = '', mcc = '', mnc = '', price = '', currency = ''] = (h.rt ?? '').split('|');
  const perPart = Number(price);
  const hasRoute = h.rt !== undefined && h.rt !== null && h.rt !== '';
  const sendAt = num(h.da);
  const error = errorOf(h);
  return {
    id,
    ref: h.r ?? '',
    to: '+' + (h.to ?? ''),
    from: h.fr ?? '',
    status: h.s ?? '',
    parts,
    smsc: h.sm ?? '',
    acceptedAt: Number(h.ac ?? 0),
    ...(sendAt === undefined ? {} : { sendAt }),
    validUntil: Number(h.v ?? 0),
    ...(hasRoute
      ? {
          price: { perPart, total: Math.round(perPart * parts * 1e6) / 1e6, currency },
          route: { country, mcc, mnc, pricePerPart: perPart, currency },
        }
      : {}),
    // A final failure's error; a held one's reason for being held (URL_NOT_ALLOWED, VOLUME_ANOMALY).
    ...(error === undefined ? {} : { error }),
  };
}

/** The message's status history from its hash timestamps, oldest first. */
function history(h: Readonly<Record<string, string>>): MessageEvent[] {
  const ev: MessageEvent[] = [];
  const ac = Number(h.ac);
  const pa = num(h.pa);
  const qa = num(h.qa);
  // How it was accepted: held for moderation, scheduled, parked (tenant paused) or queued.
  if (h.hr !== undefined) ev.push({ status: 'pending_approval', at: ac, error: { code: h.hr, text: h.ht ?? '' } });
  else if (h.da !== undefined) ev.push({ status: 'scheduled', at: ac });
  else if (pa === ac) ev.push({ status: 'paused', at: ac });
  else ev.push({ status: 'queued', at: ac });
  // Paused later (by its actor, or approved while its tenant was paused), and entering its queue
  // later (scheduled and due, approved, or resumed).
  if (pa !== undefined && pa !== ac) ev.push({ status: 'paused', at: pa });
  if (qa !== undefined) ev.push({ status: 'queued', at: qa });
  const sa = num(h.sa);
  if (sa !== undefined) ev.push({ status: 'sent', at: sa });
  const ua = num(h.ua);
  if (ua !== undefined) ev.push({ status: 'unreachable', at: ua });
  const fa = num(h.fa);
  if (fa !== undefined) ev.push({ status: h.s ?? '', at: fa, ...(h.we && FAILED.has(h.s ?? '') ? { error: { code: h.we, text: h.wt ?? '' } } : {}) });
  // Stable sort: equal times keep the lifecycle order above.
  return ev.sort((a, b) => a.at - b.at);
}

/** One of the tenant's messages, or undefined (unknown, expired from Redis, or another tenant's). */
export async function lookupMessage(redis: RedisClient, keys: Keys, tenant: string, id: string): Promise<MessageDetail | undefined> {
  // Only an id of this deployment (its shard in range) names a key; anything else is unknown.
  if (keys.shardOf(id) === undefined) return undefined;
  const h = await redis.hgetall(keys.msg(id));
  if (h.t !== tenant) return undefined;
  const n = Number(h.n ?? 0);
  const scheduled = h.s === 'scheduled';
  const partStates = [];
  for (let k = 1; k <= n; k++) {
    const st = h['p' + k] ?? '';
    const smscMessageId = h['i' + k];
    partStates.push({ part: k, state: scheduled ? 'scheduled' : (PART_STATE[st] ?? st), ...(smscMessageId === undefined ? {} : { smscMessageId }) });
  }
  return { ...summary(id, h), partStates, events: history(h) };
}

export interface ListQuery {
  readonly statuses?: ReadonlySet<string>;
  /** E.164 digits, no "+". */
  readonly to?: string;
  readonly ref?: string;
  /** Due time bounds (ms), inclusive. */
  readonly since?: number;
  readonly until?: number;
  readonly limit: number;
  readonly cursor?: ListCursor;
}

/**
 * Where a page stopped: the minute of the last entry it looked at and, for
 * each shard with a list in that minute, how many entries of that list are
 * still to be looked at (they are its entries [0, n)).
 */
export interface ListCursor {
  readonly minute: number;
  readonly positions: ReadonlyMap<number, number>;
}

export interface ListPage {
  readonly messages: MessageSummary[];
  /** Pass as `cursor` for the next page; null when there is nothing more. */
  readonly next: string | null;
  /** Index entries looked at for this page. */
  readonly scanned: number;
}

const MINUTE_MS = 60_000;
/** Message hashes read per round trip. */
const CHUNK = 200;
/** Minutes asked for at a time, per shard. */
const MINUTES = 64;
export const SCAN_BUDGET = 2_000;
/** Most shards a cursor may name (Shards' MAX_SHARDS). */
const MAX_CURSOR_SHARDS = 256;

/** "minute.k-n_k-n…" in base64url. */
export function encodeCursor(c: ListCursor): string {
  return Buffer.from(`${c.minute}.${[...c.positions].map(([k, n]) => `${k}-${n}`).join('_')}`).toString('base64url');
}

export function decodeCursor(s: string): ListCursor | undefined {
  if (s.length > 8 * 1024) return undefined;
  const m = /^(\d{1,12})\.((?:\d{1,4}-\d{1,12})(?:_\d{1,4}-\d{1,12})*)?$/.exec(Buffer.from(s, 'base64url').toString('latin1'));
  if (m === null) return undefined;
  const positions = new Map<number, number>();
  for (const p of (m[2] ?? '').split('_')) {
    if (p === '') continue;
    const [k, n] = p.split('-').map(Number) as [number, number];
    if (k >= MAX_CURSOR_SHARDS || positions.has(k)) return undefined;
    positions.set(k, n);
  }
  return { minute: Number(m[1]), positions };
}

/** One shard's list of the minute being merged: entries [0, pos) not yet taken; buf = entries [bufStart, pos). */
interface ShardList {
  readonly k: number;
  readonly key: string;
  pos: number;
  buf: string[];
  bufStart: number;
}

/**
 * A page of the tenant's messages, newest first: minute by minute (latest due
 * first), within a minute the shards' lists merged by id, greatest first.
 * Lists only grow at their end, so a cursor (minute, position per shard)
 * stays valid while messages arrive.
 */
export async function listMessages(redis: RedisClient, keys: Keys, tenant: string, q: ListQuery): Promise<ListPage> {
  const shards = keys.shards.all();
  const messages: MessageSummary[] = [];
  let scanned = 0;
  const bottom = q.since === undefined ? '-inf' : String(Math.floor(q.since / MINUTE_MS));
  let top = q.cursor !== undefined ? String(q.cursor.minute) : q.until === undefined ? '+inf' : String(Math.floor(q.until / MINUTE_MS));
  let cursor = q.cursor;
  for (;;) {
    const perShard = (await runCommands(redis, shards.map((k) => ['ZREVRANGEBYSCORE', keys.listMinutesOf(k, tenant), top, bottom, 'LIMIT', 0, MINUTES] as const))) as string[][];
    // A shard that filled its answer may have more minutes below its last: the union is complete
    // down to the highest such last minute only.
    let floor = -Infinity;
    const byMinute = new Map<number, number[]>();
    perShard.forEach((ms, k) => {
      if (ms.length === MINUTES) floor = Math.max(floor, Number(ms[ms.length - 1]));
      for (const m of ms) {
        const l = byMinute.get(Number(m));
        if (l === undefined) byMinute.set(Number(m), [k]);
        else l.push(k);
      }
    });
    const minutes = [...byMinute.keys()].filter((m) => m >= floor).sort((a, b) => b - a);
    if (minutes.length === 0) return { messages, next: null, scanned };
    for (const minute of minutes) {
      const have = byMinute.get(minute) as number[];
      const lists: ShardList[] = have.map((k) => ({ k, key: keys.listIndexOf(k, tenant, minute), pos: 0, buf: [], bufStart: 0 }));
      if (cursor !== undefined && minute === cursor.minute) {
        // Shards the cursor does not name had no list then: whatever they hold now came later.
        for (const l of lists) l.pos = cursor.positions.get(l.k) ?? 0;
      } else {
        const lens = await runCommands(redis, lists.map((l) => ['LLEN', l.key] as const));
        lists.forEach((l, i) => (l.pos = Number(lens[i])));
      }
      cursor = undefined;
      const done = await mergeMinute(redis, keys, tenant, q, minute, lists, messages, scanned);
      scanned = done.scanned;
      if (done.next !== undefined) return { messages, next: done.next, scanned };
    }
    if (floor === -Infinity) return { messages, next: null, scanned };
    top = `(${minutes[minutes.length - 1] as number}`;
  }
}

/** Looks at one minute's entries, newest first; `next` when the page filled up (or its budget ran out) in it. */
async function mergeMinute(
  redis: RedisClient, keys: Keys, tenant: string, q: ListQuery, minute: number, lists: ShardList[], messages: MessageSummary[], scannedBefore: number,
): Promise<{ scanned: number; next: string | undefined }> {
  let scanned = scannedBefore;
  // Entries left per shard after the last entry looked at: what the cursor says.
  const after = new Map(lists.map((l) => [l.k, l.pos]));
  const perShard = Math.max(32, Math.ceil((2 * CHUNK) / lists.length));
  for (;;) {
    const empty = lists.filter((l) => l.buf.length === 0 && l.pos > 0);
    if (empty.length > 0) {
      const chunks = await runCommands(redis, empty.map((l) => ['LRANGE', l.key, Math.max(0, l.pos - perShard), l.pos - 1] as const));
      empty.forEach((l, i) => {
        // A list that is shorter than the position (trimmed meanwhile: a whole minute is unlinked) ends here.
        const from = Math.max(0, l.pos - perShard);
        l.buf = chunks[i] as string[];
        l.bufStart = from;
        l.pos = l.buf.length === 0 ? 0 : from + l.buf.length;
      });
    }
    // Take the greatest id of the shards' buffers until CHUNK are taken or a buffer with more behind it runs dry.
    const taken: Array<{ id: string; k: number; index: number }> = [];
    while (taken.length < CHUNK) {
      let best: ShardList | undefined;
      for (const l of lists) if (l.buf.length > 0 && (best === undefined || (l.buf[l.buf.length - 1] as string) > (best.buf[best.buf.length - 1] as string))) best = l;
      if (best === undefined) break;
      const id = best.buf.pop() as string;
      best.pos = best.bufStart + best.buf.length;
      taken.push({ id, k: best.k, index: best.pos });
      if (best.buf.length === 0 && best.pos > 0) break;
    }
    if (taken.length === 0) return { scanned, next: undefined };
    // An index entry that is not an id of this deployment (never written by it) counts as gone.
    const valid = taken.filter((t) => keys.shardOf(t.id) !== undefined);
    const res = await runCommands(redis, valid.map((t) => ['HMGET', keys.msg(t.id), ...SUMMARY_FIELDS] as RedisCommand));
    const hashes = new Map(valid.map((t, i) => [t, res[i] as Array<string | null>]));
    for (const t of taken) {
      scanned++;
      after.set(t.k, t.index);
      const v = hashes.get(t) ?? [];
      const h: Record<string, string | null> = {};
      SUMMARY_FIELDS.forEach((f, j) => (h[f] = v[j] ?? null));
      const at = Number(h.da ?? h.ac ?? 0);
      // Gone from Redis (its retention ended before the index was trimmed) or not this tenant's: skipped.
      const match =
        h.t === tenant &&
        (q.statuses === undefined || q.statuses.has(h.s ?? '')) &&
        (q.to === undefined || h.to === q.to) &&
        (q.ref === undefined || h.r === q.ref) &&
        (q.since === undefined || at >= q.since) &&
        (q.until === undefined || at <= q.until);
      if (match) messages.push(summary(t.id, h));
      if (messages.length >= q.limit || scanned >= SCAN_BUDGET) return { scanned, next: encodeCursor({ minute, positions: after }) };
    }
  }
}

/**
 * Deletes the index lists of minutes that ended more than retentionSec ago,
 * in every shard (scheduled messages are due later, so theirs stay). UNLINK:
 * a big list is freed off Redis's main thread.
 */
export async function trimListIndexes(redis: RedisClient, keys: Keys, tenants: ReadonlyArray<string>, now: number, retentionSec: number): Promise<number> {
  const cutoff = Math.floor((now - retentionSec * 1000) / MINUTE_MS);
  const shards = keys.shards.all();
  let n = 0;
  for (const t of tenants) {
    const old = (await runCommands(redis, shards.map((k) => ['ZRANGEBYSCORE', keys.listMinutesOf(k, t), '-inf', `(${cutoff}`] as const))) as string[][];
    const drop: RedisCommand[] = [];
    old.forEach((ms, k) => {
      if (ms.length === 0) return;
      // One shard's lists and minutes share its slot.
      drop.push(['UNLINK', ...ms.map((m) => keys.listIndexOf(k, t, Number(m)))], ['ZREM', keys.listMinutesOf(k, t), ...ms]);
      n += ms.length;
    });
    await runCommands(redis, drop);
  }
  return n;
}
