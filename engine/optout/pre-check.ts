/**
 * The opt-out pre-check of a script that moves a waiting message out of its
 * waiting place (parking/lua: divert, unpark, approve). The opt-out lists live
 * in their tenants' slots, which a shard's script cannot read on a Redis
 * Cluster, so the caller reads them just before the call (ZMSCORE, one
 * command per list) and passes, per message, whether its number was listed
 * and when it looked; the script closes the race with an opt-out written
 * since through the shard's recent opt-outs (optout/lua/includes/opted-out.lua,
 * optout-store.ts "why the list comes first"). A script that finds the
 * pre-check older than those reach back answers PreCheckResult.Stale for its
 * section and does nothing; the caller checks again.
 */
import { luaConstants } from '../redis/lua-loader.js';
import type { RedisClient } from '../redis/connect-redis.js';
import { runCommands } from '../redis/run-commands.js';
import type { Keys } from '../queue/keys.js';

/** The global list's tenant id (tenant ids cannot contain '*'). */
export const GLOBAL = '*';

/** A section's answer when its pre-check was too old (instead of its results). */
export const PreCheckResult = { Stale: 'stale' } as const;

/** Generated fragment `@PreCheckResult` of the parking scripts. */
export const PRE_CHECK_FRAGMENTS: Readonly<Record<string, string>> = { PreCheckResult: luaConstants({ PreCheckResult }, 'engine/optout/pre-check.ts') };

/** How many times a move is tried again after its pre-check was too old when its script ran. */
export const PRE_CHECK_ATTEMPTS = 3;

/**
 * Which of `items` are on their tenant's list or on the global one, and when
 * that was read (`at`: taken before the reads, so that an opt-out recorded
 * after them is recorded at or after it).
 */
export async function optOutPreCheck(redis: RedisClient, keys: Keys, items: ReadonlyArray<{ readonly tenant: string; readonly to: string }>): Promise<{ at: number; listed: boolean[] }> {
  const at = Date.now();
  if (items.length === 0) return { at, listed: [] };
  const byList = new Map<string, Set<string>>();
  const want = (t: string, n: string) => {
    let l = byList.get(t);
    if (l === undefined) byList.set(t, (l = new Set()));
    l.add(n);
  };
  for (const it of items) {
    want(it.tenant, it.to);
    want(GLOBAL, it.to);
  }
  const lists = [...byList].map(([t, ns]) => [t, [...ns]] as const);
  const res = (await runCommands(redis, lists.map(([t, ns]) => ['ZMSCORE', keys.optOut(t), ...ns] as const))) as Array<Array<string | null>>;
  const on = new Set<string>();
  lists.forEach(([t, ns], i) => ns.forEach((n, j) => (res[i]?.[j] ?? null) !== null && on.add(`${t}|${n}`)));
  return { at, listed: items.map((it) => on.has(`${it.tenant}|${it.to}`) || on.has(`${GLOBAL}|${it.to}`)) };
}
