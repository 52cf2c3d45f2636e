/**
 * Per-tenant usage by UTC day: messages, segments and cost, as the state
 * scripts count them (queue/lua/includes/common.lua `bill`): a message is billed when the
 * SMSC takes it (each part it takes is a segment, at the route's price per
 * segment recorded on the message), or — for tenants with billOn
 * "delivered" — only once it is delivered, all its segments then. Rejected,
 * expired-in-queue, cancelled and failed messages cost nothing. Totals live in
 * Redis, written once per script call and tenant, never per message, in the
 * shard of the messages billed: us:{K}:{day} (400 days), a hash of every
 * tenant's totals in fields `<tenant>|m` (messages), `<tenant>|s` (segments)
 * and `<tenant>|c:<currency>` (cost in millionths, so sums are exact). This
 * module reads them for GET /v1/usage and `switchyard usage`, summing the S
 * shards: per day and shard one HMGET of the tenant's counts, and only where
 * it has segments an HSCAN for its cost fields (their currencies are not
 * known beforehand). A report of d days costs d × S small reads.
 */
import type { RedisClient } from '../redis/connect-redis.js';
import { runCommands } from '../redis/run-commands.js';
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
export async function readUsage(redis: RedisClient, keys: Keys, tenant: string, fromDay: number, toDay: number, billOn: 'sent' | 'delivered'): Promise<UsageReport> {
  const shards = keys.shards.all();
  const cells: Array<{ day: number; key: string }> = [];
  for (let d = fromDay; d <= toDay; d++) for (const k of shards) cells.push({ day: d, key: keys.usageOf(k, d) });
  const counts = (await runCommands(redis, cells.map((c) => ['HMGET', c.key, `${tenant}|m`, `${tenant}|s`] as const))) as Array<[string | null, string | null]>;
  const byDay = new Map<number, { messages: number; segments: number; micro: Record<string, number> }>();
  const withCost: Array<{ day: number; key: string }> = [];
  cells.forEach((c, i) => {
    const [m, sg] = counts[i] as [string | null, string | null];
    if (sg === null) return;
    const d = byDay.get(c.day) ?? { messages: 0, segments: 0, micro: {} };
    d.messages += Number(m ?? 0);
    d.segments += Number(sg);
    byDay.set(c.day, d);
    withCost.push(c);
  });
  // Tenant ids are [a-z0-9_-]: nothing in them is a glob character.
  const prefix = `${tenant}|c:`;
  await Promise.all(
    withCost.map(async (c) => {
      const micro = (byDay.get(c.day) as { micro: Record<string, number> }).micro;
      let cursor = '0';
      do {
        const [next, flat] = await redis.hscan(c.key, cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        for (let i = 0; i + 1 < flat.length; i += 2) {
          const cur = (flat[i] as string).slice(prefix.length);
          micro[cur] = (micro[cur] ?? 0) + Number(flat[i + 1]);
        }
      } while (cursor !== '0');
    }),
  );
  const days: UsageDay[] = [];
  let messages = 0;
  let segments = 0;
  const micro: Record<string, number> = {};
  for (let d = fromDay; d <= toDay; d++) {
    const u = byDay.get(d);
    if (u === undefined) continue;
    const cost: Record<string, number> = {};
    for (const [cur, v] of Object.entries(u.micro)) {
      cost[cur] = round6(v / 1e6);
      micro[cur] = (micro[cur] ?? 0) + v;
    }
    messages += u.messages;
    segments += u.segments;
    days.push({ day: formatDay(d), messages: u.messages, segments: u.segments, cost });
  }
  const cost: Record<string, number> = {};
  for (const [cur, m] of Object.entries(micro)) cost[cur] = round6(m / 1e6);
  return { tenant, from: formatDay(fromDay), to: formatDay(toDay), billOn, days, total: { messages, segments, cost } };
}
