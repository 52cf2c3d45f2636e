/**
 * Commands on many keys of many slots (one per shard stream, one per tenant
 * cursor) in as few round trips as the client allows, with the same code for
 * a single Redis and a Redis Cluster (connect-redis.ts):
 *
 *   single Redis   one pipeline, every key                 → 1 round trip
 *   cluster        keys grouped by the master serving their
 *                  slot (the client's slot map), one
 *                  pipeline per master, all sent at once    → 1 round trip per master, in parallel
 *
 * Why not ioredis's auto-pipelining on the cluster: it picks a command's node
 * by its first argument, which for XREAD / XREADGROUP / XINFO is a keyword
 * ('COUNT', 'GROUP', 'GROUPS'), not the key; and a pipeline that spans masters
 * is refused whole. Grouping by the slot map here is what auto-pipelining
 * does, with the key named.
 *
 * A master's pipeline that fails (failover, MOVED before the slot map is
 * refreshed) gives its error to every command of its keys; the others
 * succeed: callers treat each key's reply on its own and retry what failed
 * (readers keep their position for that shard).
 */
import { Cluster, type ChainableCommander } from 'ioredis';
import calculateSlot from 'cluster-key-slot';
import type { RedisClient } from './connect-redis.js';

export type Reply = [Error | null, unknown];

/**
 * Runs `add(pipeline, key, i)` for every key (it may add several commands,
 * all on that key) and returns each key's replies, in key order.
 */
export async function perKey(client: RedisClient, keys: ReadonlyArray<string>, add: (p: ChainableCommander, key: string, i: number) => void): Promise<Reply[][]> {
  const out: Reply[][] = new Array<Reply[]>(keys.length);
  const groups = client instanceof Cluster ? byMaster(client, keys) : [keys.map((_, i) => i)];
  await Promise.all(
    groups.map(async (idx) => {
      const p = client.pipeline();
      const counts: number[] = [];
      for (const i of idx) {
        const before = p.length;
        add(p, keys[i] as string, i);
        counts.push(p.length - before);
      }
      let res: Reply[];
      try {
        res = ((await p.exec()) ?? []) as Reply[];
      } catch (err) {
        res = [];
        const e = err instanceof Error ? err : new Error(String(err));
        for (const n of counts) for (let j = 0; j < n; j++) res.push([e, null]);
      }
      let k = 0;
      idx.forEach((i, j) => {
        const n = counts[j] as number;
        out[i] = res.slice(k, k + n).map((r) => r ?? [new Error('no reply'), null]);
        while ((out[i] as Reply[]).length < n) (out[i] as Reply[]).push([new Error('no reply'), null]);
        k += n;
      });
    }),
  );
  return out;
}

/** Key indexes grouped by the master that serves their slot (one group per master; unknown slots alone). */
function byMaster(c: Cluster, keys: ReadonlyArray<string>): number[][] {
  const groups = new Map<string, number[]>();
  keys.forEach((key, i) => {
    const slot = calculateSlot(key);
    const node = c.slots[slot]?.[0] ?? `slot:${slot}`;
    let g = groups.get(node);
    if (g === undefined) groups.set(node, (g = []));
    g.push(i);
  });
  return [...groups.values()];
}

/** The first reply of a key, or its error thrown. */
export function firstOk<T>(replies: ReadonlyArray<Reply> | undefined): T {
  const r = replies?.[0];
  if (r === undefined) throw new Error('no reply');
  if (r[0] !== null) throw r[0];
  return r[1] as T;
}
