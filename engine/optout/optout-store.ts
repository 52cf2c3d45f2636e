/**
 * Opt-out (STOP) lists in Redis: one per tenant and one global ('*').
 *
 *   {P}oo:{T}      sorted set, every score 0: members ordered by number, so a
 *                  page is ZRANGE BYLEX after the last number (exact cursor,
 *                  no duplicates); ZMSCORE is the ingress's pre-check
 *   {P}oom:{T}     hash number -> "atMs|source": when and how it got there
 *   {P}{c}:ooev    stream of changes (control slot), read by the operator
 *                  actors so that messages queued before an opt-out are stopped too
 *   {P}oor:{K}     per shard: "tenant|number" ('*' the global list) of the
 *                  numbers that went on a list in the last OOR_WINDOW_MS,
 *                  scored by when (keys.ts recentOptOuts)
 *
 * Numbers are E.164 digits without '+', as messages store them.
 *
 * A change is written in two steps, because the list (the tenant's slot), the
 * change stream (the control slot) and the shards' copies live in different
 * Redis Cluster slots and no script can reach them all:
 *
 *   1. the list and its records (lua/change.lua, one call in the tenant's slot)
 *   2. an entry per number in ooev (lua/announce.lua) and every shard's oor
 *      (lua/recent.lua): an addition scored with the time, a removal taken
 *      out (the scripts stop what oor holds from a little before their
 *      pre-check: a clock-skew margin, during which an opt-out just removed
 *      would otherwise still stop the number)
 *
 * Both steps are idempotent and an addition repeats step 2 even for numbers
 * already listed, so a call retried after a crash between the steps (the
 * client saw an error; an MO STOP is redelivered, its deliver_sm_resp waits
 * for both) still reaches the actors and the shards.
 *
 * Why the list comes first (DESIGN.md §10 had it the other way round): the
 * enqueue script of a shard cannot read the lists, so the ingress pre-checks
 * them (at its time t0) and the script stops a number found in oor with a
 * score >= t0. Written after the list, an oor score is later than the list
 * write: an enqueue that pre-checked before the list was written and runs
 * after the opt-out returned finds it in oor with a score >= t0. Written
 * before the list (score ta), a pre-check between ta and the list write would
 * miss both, and the gap grows with any stall between the steps (a failover
 * wait of seconds). A number found in oor is therefore also on its list
 * already (or was removed since).
 *
 * Why members name the list ("acme|4791234567", "*|4791234567") and not the
 * number alone (DESIGN.md §10's format): the enqueue script stops what it
 * finds recorded up to a clock-skew margin (10 s) before its pre-check, so
 * with bare numbers one tenant's opt-out stopped every other tenant's
 * messages to that number for those seconds (OPTED_OUT, never sent: a
 * message lost; the parking test "q2" caught it). The scripts look up the
 * message's tenant and '*': two ZSCOREs instead of one, only while the
 * shard has recent opt-outs.
 *
 * What oor costs: one entry per number per shard for OOR_WINDOW_MS, capped at
 * OOR_MAX_ENTRIES per shard (a bulk import of a million numbers must not hold
 * S million entries). Past the cap only the newest entries are kept; a
 * message pre-checked before an evicted entry's time is then not stopped at
 * acceptance but by its actor's send gate, before it is sent (ooev is written
 * before step 2 returns and POST /v1/optouts waits for the actors).
 */
import { luaConstants, defineLuaCommand } from '../redis/lua-loader.js';
import type { RedisClient } from '../redis/connect-redis.js';
import { RECENT_OPT_OUT_MS, type Keys } from '../queue/keys.js';
import { loadStateScript } from '../queue/lua-scripts.js';
import { runCommands } from '../redis/run-commands.js';
import { GLOBAL, optOutPreCheck } from './pre-check.js';

export { GLOBAL } from './pre-check.js';

/**
 * Opt-out changes kept for the actors (MAXLEN ~, ~100 bytes each): the changes
 * within a queued message's lifetime (its validity, a week at most) must all be
 * here, or an actor restarted after a larger bulk import would not re-check its
 * queue against the oldest of them. 5,000,000 in a week is a large import (was
 * 200,000, about what the benchmark's import alone writes). Scheduled and
 * parked messages are checked against the lists themselves when they move.
 */
export const OPT_OUT_EVENTS_MAX = 5_000_000;

/** How long a number stays in the shards' recent opt-outs (ms): an enqueue's pre-check must be younger (keys.ts). */
export const OOR_WINDOW_MS = RECENT_OPT_OUT_MS;
/** Most recent opt-outs kept per shard (the newest): bounds what a bulk import costs (~70 bytes each). */
export const OOR_MAX_ENTRIES = 100_000;

export type OptOutSource = 'api' | 'admin' | 'mo';

export interface OptOutRecord {
  readonly number: string;
  readonly at: number;
  readonly source: string;
}

/** Generated fragment `@OptOutLimits` of lua/announce.lua. */
export const OPT_OUT_FRAGMENTS: Readonly<Record<string, string>> = { OptOutLimits: luaConstants({ OptOutLimits: { EventsMax: OPT_OUT_EVENTS_MAX } }, 'engine/optout/optout-store.ts') };

const CHANGE = loadStateScript(import.meta.url, './lua/change.lua', OPT_OUT_FRAGMENTS);
const ANNOUNCE = loadStateScript(import.meta.url, './lua/announce.lua', OPT_OUT_FRAGMENTS);
const RECENT = loadStateScript(import.meta.url, './lua/recent.lua', OPT_OUT_FRAGMENTS);

/** Numbers per script call (a change of a million numbers is not one call holding Redis). */
const CHUNK = 1000;

interface Scripted {
  syOptOutChange(list: string, meta: string, op: string, at: number, src: string, ...numbers: string[]): Promise<number>;
  syOptOutAnnounce(ooev: string, kind: string, tenant: string, ...numbers: string[]): Promise<string>;
  syOptOutRecent(oor: string, op: string, at: number, window: number, max: number, ...members: string[]): Promise<number>;
}

function record(number: string, meta: string | null | undefined): OptOutRecord {
  const bar = meta?.indexOf('|') ?? -1;
  return { number: '+' + number, at: meta && bar > 0 ? Number(meta.slice(0, bar)) : 0, source: meta && bar > 0 ? meta.slice(bar + 1) : '' };
}

export class OptOutStore {
  private readonly s: Scripted;

  private readonly clock: () => number;
  private readonly oorMax: number;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    o: {
      /** The clock of oor scores: the enqueue's pre-check times must come from the same (Date.now on every node). */
      readonly clock?: () => number;
      /** Most recent opt-outs kept per shard (default OOR_MAX_ENTRIES). */
      readonly oorMaxEntries?: number;
    } = {},
  ) {
    this.clock = o.clock ?? Date.now;
    this.oorMax = o.oorMaxEntries ?? OOR_MAX_ENTRIES;
    defineLuaCommand(redis, 'syOptOutChange', CHANGE);
    defineLuaCommand(redis, 'syOptOutAnnounce', ANNOUNCE);
    defineLuaCommand(redis, 'syOptOutRecent', RECENT);
    this.s = redis as unknown as Scripted;
  }

  private async change(tenant: string, op: 'a' | 'r', numbers: ReadonlyArray<string>, source: OptOutSource, now: number): Promise<{ changed: number; eventId: string }> {
    if (numbers.length === 0) return { changed: 0, eventId: '0-0' };
    let changed = 0;
    let eventId = '0-0';
    for (let i = 0; i < numbers.length; i += CHUNK) {
      const chunk = numbers.slice(i, i + CHUNK);
      // Step 1: the list.
      changed += await this.s.syOptOutChange(this.keys.optOut(tenant), this.keys.optOutMeta(tenant), op, now, source, ...chunk);
      // Step 2: the actors (ooev) and every shard's recent opt-outs (an addition scored after step 1; a removal taken out).
      const at = this.clock();
      const writes: Array<Promise<unknown>> = [this.s.syOptOutAnnounce(this.keys.control('ooev'), op, tenant, ...chunk)];
      const members = chunk.map((n) => `${tenant}|${n}`);
      for (const k of this.keys.shards.all()) writes.push(this.s.syOptOutRecent(this.keys.recentOptOuts(k), op, at, OOR_WINDOW_MS, this.oorMax, ...members));
      eventId = (await Promise.all(writes))[0] as string;
    }
    return { changed, eventId };
  }

  /**
   * Adds E.164 digit strings; returns how many were not on the list yet, and
   * the id of the last change event (actors confirm having seen it: PauseControl.confirmed).
   * Numbers already listed are announced again (see the module header).
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
    // Two slots (the tenant's, the global list's): commands, not one pipeline (run-commands.ts).
    const lists = tenant === undefined ? [GLOBAL] : [tenant, GLOBAL];
    const r = (await runCommands(this.redis, lists.flatMap((t) => [['HGET', this.keys.optOutMeta(t), number] as const, ['ZSCORE', this.keys.optOut(t), number] as const]))) as Array<string | null>;
    if (tenant !== undefined && r[1] !== null) return { optedOut: true, scope: 'tenant', record: record(number, r[0]) };
    const g = tenant === undefined ? 0 : 2;
    if (r[g + 1] !== null) return { optedOut: true, scope: 'global', record: record(number, r[g]) };
    return { optedOut: false, scope: undefined, record: undefined };
  }

  /** Which of `items` are on their tenant's list or on the global one, now (pre-check.ts). */
  async listed(items: ReadonlyArray<{ readonly tenant: string; readonly to: string }>): Promise<boolean[]> {
    return (await optOutPreCheck(this.redis, this.keys, items)).listed;
  }

  /** One page of a list, ordered by number: numbers after `after` (digits), at most `limit`. */
  async list(tenant: string, after: string | undefined, limit: number): Promise<{ items: OptOutRecord[]; next: string | undefined; total: number }> {
    const key = this.keys.optOut(tenant);
    const [page, total] = await Promise.all([
      this.redis.call('zrange', key, after === undefined || after === '' ? '-' : '(' + after, '+', 'BYLEX', 'LIMIT', 0, limit + 1) as Promise<string[]>,
      this.redis.zcard(key),
    ]);
    const more = page.length > limit;
    const numbers = more ? page.slice(0, limit) : page;
    const metas = numbers.length === 0 ? [] : await this.redis.hmget(this.keys.optOutMeta(tenant), ...numbers);
    return { items: numbers.map((n, i) => record(n, metas[i])), next: more ? numbers[numbers.length - 1] : undefined, total };
  }
}
