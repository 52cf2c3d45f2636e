/** The test run's Redis Cluster (test/global-setup.ts) and hash tags placed on chosen masters. */
import type { Cluster } from 'ioredis';
import { inject } from 'vitest';
import { parseClusterNodes, type RedisTarget } from '../../engine/redis/connect-redis.js';

/** The shared cluster of this test run, as a connectRedis target. */
export function clusterTarget(): RedisTarget {
  const c = inject('redisCluster');
  return { kind: 'cluster', nodes: parseClusterNodes(c.seeds), password: c.password };
}

/** "host:port" of the master serving a key's slot, from the client's slot map. */
export async function masterOf(c: Cluster, key: string): Promise<string> {
  const slot = Number(await c.call('CLUSTER', 'KEYSLOT', key));
  return (c.slots[slot] as string[])[0] as string;
}

/**
 * One hash tag per master, `{<base>N}`, each served by a different master:
 * keys `x{tag}` of one tag share a slot; tags of different masters never do.
 */
export async function tagPerMaster(c: Cluster, base: string): Promise<Map<string, string>> {
  const masters = c.nodes('master').map((n) => `${n.options.host}:${n.options.port}`);
  const out = new Map<string, string>();
  for (let i = 0; out.size < masters.length && i < 1000; i++) {
    const tag = `{${base}${i}}`;
    const m = await masterOf(c, tag);
    if (!out.has(m)) out.set(m, tag);
  }
  return out;
}
