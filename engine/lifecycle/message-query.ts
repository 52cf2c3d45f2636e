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
 * messages are in analytics (ClickHouse), not here.
 *
 * Listing walks the tenant's index newest first: one Redis list per minute
 * (ix:{tenant}:{minute}, the ids due in that minute in the order accepted,
 * appended by the enqueue script with one RPUSH per batch, tenant and minute:
 * O(1) and ~20 bytes per message, where a sorted set costs O(log n) and ~80)
 * and a sorted set of the minutes that have one (ixb:{tenant}). It reads the
 * hashes in pipelined chunks and filters them here. A page holds at most
 * `limit` messages and scans at most SCAN_BUDGET index entries, so a filter
 * that matches little still answers quickly: the page is then shorter and
 * `next` says where to go on. The cursor is the last entry looked at (minute,
 * place in its list); lists only grow at their end, so pages stay consistent
 * while new messages arrive. Whole minutes older than
 * messages.listRetentionSec are deleted (trimListIndexes, every 5 s).
 */
import type { Redis } from 'ioredis';
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
export async function lookupMessage(redis: Redis, keys: Keys, tenant: string, id: string): Promise<MessageDetail | undefined> {
  if (!/^[0-9a-z]{1,40}$/.test(id)) return undefined;
  const h = await redis.hgetall(keys.message(id));
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

/** The last index entry a page looked at: its minute and its place in that minute's list. */
export interface ListCursor {
  readonly minute: number;
  readonly index: number;
}

export interface ListPage {
  readonly messages: MessageSummary[];
  /** Pass as `cursor` for the next page; null when there is nothing more. */
  readonly next: string | null;
  /** Index entries looked at for this page. */
  readonly scanned: number;
}

const MINUTE_MS = 60_000;
const CHUNK = 200;
/** Minutes asked for at a time. */
const MINUTES = 64;
export const SCAN_BUDGET = 2_000;

export function encodeCursor(c: ListCursor): string {
  return Buffer.from(`${c.minute}.${c.index}`).toString('base64url');
}

export function decodeCursor(s: string): ListCursor | undefined {
  const m = /^(\d{1,12})\.(\d{1,12})$/.exec(Buffer.from(s, 'base64url').toString('latin1'));
  return m === null ? undefined : { minute: Number(m[1]), index: Number(m[2]) };
}

/**
 * A page of the tenant's messages, newest first: minute by minute (latest due
 * first), within a minute the latest accepted first. Lists only grow at their
 * end, so a cursor (minute, index) stays valid while messages arrive.
 */
export async function listMessages(redis: Redis, keys: Keys, tenant: string, q: ListQuery): Promise<ListPage> {
  const messages: MessageSummary[] = [];
  let scanned = 0;
  const bottom = q.since === undefined ? '-inf' : String(Math.floor(q.since / MINUTE_MS));
  let max = q.cursor !== undefined ? String(q.cursor.minute) : q.until === undefined ? '+inf' : String(Math.floor(q.until / MINUTE_MS));
  for (;;) {
    const minutes = (await redis.zrevrangebyscore(keys.listMinutes(tenant), max, bottom, 'LIMIT', 0, MINUTES)).map(Number);
    if (minutes.length === 0) return { messages, next: null, scanned };
    for (const minute of minutes) {
      const key = keys.listIndex(tenant, minute);
      let pos = q.cursor !== undefined && minute === q.cursor.minute ? q.cursor.index - 1 : (await redis.llen(key)) - 1;
      while (pos >= 0) {
        const from = Math.max(0, pos - CHUNK + 1);
        const ids = await redis.lrange(key, from, pos);
        const p = redis.pipeline();
        for (const id of ids) p.hmget(keys.message(id), ...SUMMARY_FIELDS);
        const res = (await p.exec()) ?? [];
        for (let j = ids.length - 1; j >= 0; j--) {
          const id = ids[j] as string;
          scanned++;
          const v = (res[j]?.[1] ?? []) as Array<string | null>;
          const h: Record<string, string | null> = {};
          SUMMARY_FIELDS.forEach((f, k) => (h[f] = v[k] ?? null));
          const at = Number(h.da ?? h.ac ?? 0);
          // Gone from Redis (its retention ended before the index was trimmed) or not this tenant's: skipped.
          const match =
            h.t === tenant &&
            (q.statuses === undefined || q.statuses.has(h.s ?? '')) &&
            (q.to === undefined || h.to === q.to) &&
            (q.ref === undefined || h.r === q.ref) &&
            (q.since === undefined || at >= q.since) &&
            (q.until === undefined || at <= q.until);
          if (match) messages.push(summary(id, h));
          if (messages.length >= q.limit || scanned >= SCAN_BUDGET) return { messages, next: encodeCursor({ minute, index: from + j }), scanned };
        }
        pos = from - 1;
      }
    }
    if (minutes.length < MINUTES) return { messages, next: null, scanned };
    max = `(${minutes[minutes.length - 1] as number}`;
  }
}

/**
 * Deletes the index lists of minutes that ended more than retentionSec ago
 * (scheduled messages are due later, so theirs stay). UNLINK: a big list is
 * freed off Redis's main thread.
 */
export async function trimListIndexes(redis: Redis, keys: Keys, tenants: ReadonlyArray<string>, now: number, retentionSec: number): Promise<number> {
  const cutoff = Math.floor((now - retentionSec * 1000) / MINUTE_MS);
  let n = 0;
  for (const t of tenants) {
    const old = await redis.zrangebyscore(keys.listMinutes(t), '-inf', `(${cutoff}`);
    if (old.length === 0) continue;
    await redis.pipeline().unlink(...old.map((m) => keys.listIndex(t, Number(m)))).zrem(keys.listMinutes(t), ...old).exec();
    n += old.length;
  }
  return n;
}
