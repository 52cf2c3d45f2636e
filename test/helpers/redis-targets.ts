/**
 * The test run's single Redis and its Redis Cluster side by side, for tests
 * that run the same checks on both (describe.each(redisTargets())), and
 * removing a test's keys from every master.
 */
import { inject } from 'vitest';
import { connectRedis, masterNodes, type RedisClient, type RedisTarget } from '../../engine/redis/connect-redis.js';
import { clusterTarget } from './redis-cluster.js';

export interface NamedTarget {
  readonly name: 'single' | 'cluster';
  target(): RedisTarget;
}

export function redisTargets(): NamedTarget[] {
  return [
    { name: 'single', target: () => ({ kind: 'single', url: inject('redisUrl') }) },
    { name: 'cluster', target: clusterTarget },
  ];
}

export function connectTarget(t: NamedTarget, name = 'sy-test'): RedisClient {
  return connectRedis(t.target(), { connectionName: name });
}

/** Deletes every key under `prefix` on every master (a cluster's keys are spread over them). */
export async function dropPrefix(redis: RedisClient, prefix: string): Promise<void> {
  for (const node of masterNodes(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      for (const k of keys) await node.del(k);
    } while (cursor !== '0');
  }
}
