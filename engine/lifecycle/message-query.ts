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
 * Listing walks the tenant's index ix:{tenant} (ids by due time, written in
 * the enqueue script, one ZADD per batch and tenant) newest first, reads the
 * hashes in pipelined chunks and filters them here. A page holds at most
 * `limit` messages and scans at most SCAN_BUDGET index entries, so a filter
 * that matches little still answers quickly: the page is then shorter and
 * `next` says where to go on. The cursor is the last entry looked at; pages
 * stay consistent while new messages arrive (they go in before the cursor).
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../queue/keys.js';

const PART_STATE: Readonly<Record<string, string>> = {
  q: 'queued', s: 'sent', u: 'unreachable', D: 'delivered', K: 'unknown', E: 'expired', U: 'undelivered', R: 'rejected', X: 'stopped',
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

const SUMMARY_FIELDS = ['t', 'r', 'to', 'fr', 's', 'n', 'sm', 'ac', 'da', 'v', 'rt', 'we', 'wt'] as const;

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
    ...(h.we ? { error: { code: h.we, text: h.wt ?? '' } } : {}),
  };
}

/** The message's status history from its hash timestamps, oldest first. */
function history(h: Readonly<Record<string, string>>): MessageEvent[] {
  const ev: MessageEvent[] = [];
  const ac = Number(h.ac);
  if (h.da !== undefined) {
    ev.push({ status: 'scheduled', at: ac });
    const qa = num(h.qa);
    if (qa !== undefined) ev.push({ status: 'queued', at: qa });
  } else ev.push({ status: 'queued', at: ac });
  const sa = num(h.sa);
  if (sa !== undefined) ev.push({ status: 'sent', at: sa });
  const ua = num(h.ua);
  if (ua !== undefined) ev.push({ status: 'unreachable', at: ua });
  const fa = num(h.fa);
  if (fa !== undefined) ev.push({ status: h.s ?? '', at: fa, ...(h.we ? { error: { code: h.we, text: h.wt ?? '' } } : {}) });
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
  readonly cursor?: { readonly score: number; readonly id: string };
}

export interface ListPage {
  readonly messages: MessageSummary[];
  /** Pass as `cursor` for the next page; null when there is nothing more. */
  readonly next: string | null;
  /** Index entries looked at for this page. */
  readonly scanned: number;
}

const CHUNK = 200;
export const SCAN_BUDGET = 2_000;

export function encodeCursor(score: number, id: string): string {
  return Buffer.from(`${score}.${id}`).toString('base64url');
}

export function decodeCursor(s: string): { score: number; id: string } | undefined {
  const m = /^(\d{1,16})\.([0-9a-z]{1,40})$/.exec(Buffer.from(s, 'base64url').toString('latin1'));
  return m === null ? undefined : { score: Number(m[1]), id: m[2] as string };
}

/** A page of the tenant's messages, newest (latest due) first. */
export async function listMessages(redis: Redis, keys: Keys, tenant: string, q: ListQuery): Promise<ListPage> {
  const key = keys.listIndex(tenant);
  let rank: number;
  if (q.cursor !== undefined) {
    const r = await redis.zrevrank(key, q.cursor.id);
    // A cursor entry trimmed meanwhile: continue below its time.
    rank = r !== null ? r + 1 : await redis.zcount(key, `(${q.cursor.score}`, '+inf');
  } else rank = q.until === undefined ? 0 : await redis.zcount(key, `(${q.until}`, '+inf');
  const messages: MessageSummary[] = [];
  let scanned = 0;
  let last: { score: number; id: string } | undefined;
  for (;;) {
    const flat = await redis.zrevrange(key, rank, rank + CHUNK - 1, 'WITHSCORES');
    if (flat.length === 0) return { messages, next: null, scanned };
    const p = redis.pipeline();
    for (let i = 0; i < flat.length; i += 2) p.hmget(keys.message(flat[i] as string), ...SUMMARY_FIELDS);
    const res = (await p.exec()) ?? [];
    for (let i = 0; i < flat.length; i += 2) {
      const id = flat[i] as string;
      const score = Number(flat[i + 1]);
      if (q.since !== undefined && score < q.since) return { messages, next: null, scanned };
      rank++;
      scanned++;
      last = { score, id };
      const v = (res[i / 2]?.[1] ?? []) as Array<string | null>;
      const h: Record<string, string | null> = {};
      SUMMARY_FIELDS.forEach((f, k) => (h[f] = v[k] ?? null));
      // Gone from Redis (its retention ended before the index was trimmed) or not this tenant's.
      if (h.t !== tenant) continue;
      if (q.statuses !== undefined && !q.statuses.has(h.s ?? '')) continue;
      if (q.to !== undefined && h.to !== q.to) continue;
      if (q.ref !== undefined && h.r !== q.ref) continue;
      messages.push(summary(id, h));
      if (messages.length >= q.limit) return { messages, next: encodeCursor(score, id), scanned };
      if (scanned >= SCAN_BUDGET) return { messages, next: encodeCursor(score, id), scanned };
    }
    if (scanned >= SCAN_BUDGET && last !== undefined) return { messages, next: encodeCursor(last.score, last.id), scanned };
    if (flat.length < CHUNK * 2) return { messages, next: null, scanned };
  }
}

/** Drops index entries due before now − retention (scheduled messages are due later, so they stay). */
export async function trimListIndexes(redis: Redis, keys: Keys, tenants: ReadonlyArray<string>, now: number, retentionSec: number): Promise<number> {
  if (tenants.length === 0) return 0;
  const p = redis.pipeline();
  for (const t of tenants) p.zremrangebyscore(keys.listIndex(t), '-inf', `(${now - retentionSec * 1000}`);
  const res = (await p.exec()) ?? [];
  return res.reduce((s, [, n]) => s + Number(n ?? 0), 0);
}
