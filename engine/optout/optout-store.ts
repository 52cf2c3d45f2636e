/**
 * Opt-out (STOP) lists in Redis: one per tenant and one global ('*').
 *
 *   {P}oo:{T}    sorted set, every score 0: members ordered by number, so a
 *                page is ZRANGE BYLEX after the last number (exact cursor,
 *                no duplicates); ZSCORE is the O(1) check the enqueue script
 *                makes per message
 *   {P}oom:{T}   hash number -> "atMs|source": when and how it got there
 *   {P}ooev      stream of changes, read by the operator actors so that
 *                messages queued before an opt-out are stopped too
 *
 * Numbers are E.164 digits without '+', as messages store them. Adds and
 * removals are one script each (list, record and change event together).
 */
import type { Redis } from 'ioredis';
import { defineLuaCommand, luaConstants } from '../redis/lua-loader.js';
import type { Keys } from '../queue/keys.js';
import { loadStateScript } from '../queue/lua-scripts.js';

/** The global list's tenant id (tenant ids cannot contain '*'). */
export const GLOBAL = '*';

/**
 * Opt-out changes kept for the actors (MAXLEN ~, ~100 bytes each): the changes
 * within a queued message's lifetime (its validity, a week at most) must all be
 * here, or an actor restarted after a larger bulk import would not re-check its
 * queue against the oldest of them. 5,000,000 in a week is a large import (was
 * 200,000, about what the benchmark's import alone writes). Scheduled and
 * parked messages are checked against the lists themselves when they move.
 */
export const OPT_OUT_EVENTS_MAX = 5_000_000;

export type OptOutSource = 'api' | 'admin' | 'mo';

export interface OptOutRecord {
  readonly number: string;
  readonly at: number;
  readonly source: string;
}

/** Generated fragment `@OptOutLimits` of lua/includes/optout-functions.lua (shared with the MO script). */
export const OPT_OUT_FRAGMENTS: Readonly<Record<string, string>> = { OptOutLimits: luaConstants({ OptOutLimits: { EventsMax: OPT_OUT_EVENTS_MAX } }, 'engine/optout/optout-store.ts') };

/** Adds or removes numbers (lua/change.lua). */
const CHANGE = loadStateScript(import.meta.url, './lua/change.lua', OPT_OUT_FRAGMENTS);

function record(number: string, meta: string | null | undefined): OptOutRecord {
  const bar = meta?.indexOf('|') ?? -1;
  return { number: '+' + number, at: meta && bar > 0 ? Number(meta.slice(0, bar)) : 0, source: meta && bar > 0 ? meta.slice(bar + 1) : '' };
}

export class OptOutStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {
    defineLuaCommand(redis, 'syOptOut', CHANGE);
  }

  private async change(tenant: string, op: 'a' | 'r', numbers: ReadonlyArray<string>, source: OptOutSource, now: number): Promise<{ changed: number; eventId: string }> {
    if (numbers.length === 0) return { changed: 0, eventId: '0-0' };
    const [changed, eventId] = await (this.redis as unknown as { syOptOut(...a: Array<string | number>): Promise<[number, string]> }).syOptOut(this.keys.prefix, tenant, op, now, source, ...numbers);
    return { changed, eventId };
  }

  /**
   * Adds E.164 digit strings; returns how many were not on the list yet, and
   * the id of the last change event (actors confirm having seen it: PauseControl.confirmed).
   */
  add(tenant: string, numbers: ReadonlyArray<string>, source: OptOutSource, now = Date.now()): Promise<{ changed: number; eventId: string }> {
    return this.change(tenant, 'a', numbers, source, now);
  }

  /** Removes numbers; returns how many were on the list. */
  async remove(tenant: string, numbers: ReadonlyArray<string>, now = Date.now()): Promise<number> {
    return (await this.change(tenant, 'r', numbers, 'api', now)).changed;
  }

  /**
   * Whether a number is opted out for a tenant: on its own list, or on the
   * global one (tenant undefined: the global list only).
   */
  async check(tenant: string | undefined, number: string): Promise<{ optedOut: boolean; scope: 'tenant' | 'global' | undefined; record: OptOutRecord | undefined }> {
    const p = this.redis.pipeline();
    if (tenant !== undefined) p.hget(this.keys.optOutMeta(tenant), number).zscore(this.keys.optOut(tenant), number);
    p.hget(this.keys.optOutMeta(GLOBAL), number).zscore(this.keys.optOut(GLOBAL), number);
    const r = ((await p.exec()) ?? []).map(([err, v]) => {
      if (err) throw err;
      return v as string | null;
    });
    if (tenant !== undefined && r[1] !== null) return { optedOut: true, scope: 'tenant', record: record(number, r[0]) };
    const g = tenant === undefined ? 0 : 2;
    if (r[g + 1] !== null) return { optedOut: true, scope: 'global', record: record(number, r[g]) };
    return { optedOut: false, scope: undefined, record: undefined };
  }

  /** One page of a list, ordered by number: numbers after `after` (digits), at most `limit`. */
  async list(tenant: string, after: string | undefined, limit: number): Promise<{ items: OptOutRecord[]; next: string | undefined; total: number }> {
    const key = this.keys.optOut(tenant);
    const [page, total] = await Promise.all([
      this.redis.call('ZRANGE', key, after === undefined || after === '' ? '-' : '(' + after, '+', 'BYLEX', 'LIMIT', 0, limit + 1) as Promise<string[]>,
      this.redis.zcard(key),
    ]);
    const more = page.length > limit;
    const numbers = more ? page.slice(0, limit) : page;
    const metas = numbers.length === 0 ? [] : await this.redis.hmget(this.keys.optOutMeta(tenant), ...numbers);
    return { items: numbers.map((n, i) => record(n, metas[i])), next: more ? numbers[numbers.length - 1] : undefined, total };
  }
}
