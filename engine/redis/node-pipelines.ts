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
 *
 * `direct`: on a cluster, send each group on its master's own connection
 * instead of through the Cluster client. For commands whose key ioredis cannot
 * find (XGROUP, XINFO: their key follows a subcommand), which a Cluster
 * pipeline sends to any node and gets MOVED back; also commands named in
 * upper case through `call` (ioredis looks keys up by the lower-case name).
 * Scripts defined on the Cluster client are not known to the masters'
 * connections: those go without `direct`.
 */
export async function perKey(client: RedisClient, keys: ReadonlyArray<string>, add: (p: ChainableCommander, key: string, i: number) => void, direct = false): Promise<Reply[][]> {
  const out: Reply[][] = new Array<Reply[]>(keys.length);
  const cluster = client instanceof Cluster ? client : undefined;
  // A new Cluster client has no slot map until it is ready (commands through it wait for that; its masters' connections do not).
  if (direct && cluster !== undefined && cluster.status !== 'ready') await cluster.ping().catch(() => undefined);
  const groups = cluster !== undefined ? byMaster(cluster, keys) : new Map([['', keys.map((_, i) => i)]]);
  await Promise.all(
    [...groups].map(async ([node, idx]) => {
      const target = direct && cluster !== undefined ? cluster.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === node) : client;
      // No connection to the master the slot map names (being refreshed): its keys' commands fail this time.
      const p = (target ?? client).pipeline();
      const counts: number[] = [];
      for (const i of idx) {
        const before = p.length;
        add(p, keys[i] as string, i);
        counts.push(p.length - before);
      }
      let res: Reply[];
      try {
        if (target === undefined) throw new Error(`CLUSTERDOWN no connection to ${node}, the master of ${keys[idx[0] as number]} (slot map being refreshed)`);
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

/** Key indexes grouped by the master ("host:port") that serves their slot; unknown slots alone. */
function byMaster(c: Cluster, keys: ReadonlyArray<string>): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  keys.forEach((key, i) => {
    const slot = calculateSlot(key);
    const node = c.slots[slot]?.[0] ?? `slot:${slot}`;
    let g = groups.get(node);
    if (g === undefined) groups.set(node, (g = []));
    g.push(i);
  });
  return groups;
}

/** The first reply of a key, or its error thrown. */
export function firstOk<T>(replies: ReadonlyArray<Reply> | undefined): T {
  const r = replies?.[0];
  if (r === undefined) throw new Error('no reply');
  if (r[0] !== null) throw r[0];
  return r[1] as T;
}
