/**
 * Per-tenant usage by UTC day: messages, segments and cost, as the state
 * scripts count them (queue/lua/includes/common.lua `bill`): a message is billed when the
 * SMSC takes it (each part it takes is a segment, at the route's price per
 * segment recorded on the message), or — for tenants with billOn
 * "delivered" — only once it is delivered, all its segments then. Rejected,
 * expired-in-queue, cancelled and failed messages cost nothing. Totals live in
 * Redis (us:{tenant}:{day}, 400 days), written once per script call and
 * tenant, never per message; this module reads them for GET /v1/usage and
 * `switchyard usage`.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../queue/keys.js';

const DAY_MS = 86_400_000;
/** Longest range one request may ask for (days). */
export const MAX_USAGE_DAYS = 366;

export interface UsageTotals {
  readonly messages: number;
  readonly segments: number;
  /** Cost by currency. */
  readonly cost: Readonly<Record<string, number>>;
}

export interface UsageDay extends UsageTotals {
  /** YYYY-MM-DD (UTC). */
  readonly day: string;
}

export interface UsageReport {
  readonly tenant: string;
  readonly from: string;
  readonly to: string;
  readonly billOn: 'sent' | 'delivered';
  readonly days: UsageDay[];
  readonly total: UsageTotals;
}

/** "YYYY-MM-DD" → days since 1970 (UTC), or undefined. */
export function parseDay(s: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (m === null) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  const d = new Date(ms);
  if (d.getUTCFullYear() !== Number(m[1]) || d.getUTCMonth() !== Number(m[2]) - 1 || d.getUTCDate() !== Number(m[3])) return undefined;
  return ms / DAY_MS;
}

export function formatDay(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

export function dayOf(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

/** Usage of days [fromDay, toDay] (days since 1970); days without traffic are left out. */
export async function readUsage(redis: Redis, keys: Keys, tenant: string, fromDay: number, toDay: number, billOn: 'sent' | 'delivered'): Promise<UsageReport> {
  const p = redis.pipeline();
  for (let d = fromDay; d <= toDay; d++) p.hgetall(keys.usage(tenant, d));
  const res = (await p.exec()) ?? [];
  const days: UsageDay[] = [];
  let messages = 0;
  let segments = 0;
  const micro: Record<string, number> = {};
  res.forEach(([err, v], i) => {
    if (err !== null) throw err;
    const h = v as Record<string, string>;
    if (h.s === undefined) return;
    const cost: Record<string, number> = {};
    for (const [k, val] of Object.entries(h)) {
      if (!k.startsWith('c:')) continue;
      const cur = k.slice(2);
      cost[cur] = round6(Number(val) / 1e6);
      micro[cur] = (micro[cur] ?? 0) + Number(val);
    }
    const day = { day: formatDay(fromDay + i), messages: Number(h.m ?? 0), segments: Number(h.s), cost };
    messages += day.messages;
    segments += day.segments;
    days.push(day);
  });
  const cost: Record<string, number> = {};
  for (const [cur, m] of Object.entries(micro)) cost[cur] = round6(m / 1e6);
  return { tenant, from: formatDay(fromDay), to: formatDay(toDay), billOn, days, total: { messages, segments, cost } };
}
