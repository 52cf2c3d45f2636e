/**
 * Starts one private Redis and one private Redis Cluster for the whole test
 * run (unless REDIS_URL / REDIS_CLUSTER_NODES name existing ones) and hands
 * them to the tests through vitest's provide/inject: inject('redisUrl') and
 * inject('redisCluster') (seed nodes as host:port,… and the password). Each
 * test file uses its own key prefix, so files can run in parallel against them.
 *
 * The cluster (engine/redis/private-cluster.ts: 3 masters, 1 replica each) is
 * started alongside the single Redis, in data/test-cluster-<pid>; clusters of
 * runs that were killed are removed first, a concurrent run's is left alone.
 * Both are stopped at teardown, which vitest runs whether tests pass or fail;
 * a failed start stops whatever did start.
 */
import { rmSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { startPrivateCluster, removeDeadClusters, type PrivateCluster } from '../engine/redis/private-cluster.js';
import { startPrivateRedis, type PrivateRedis } from '../engine/redis/private-redis.js';

let redis: PrivateRedis | undefined;
let cluster: PrivateCluster | undefined;

export interface TestCluster {
  /** Seed nodes, host:port,… (as REDIS_CLUSTER_NODES). */
  readonly seeds: string;
  readonly password: string | undefined;
}

export async function setup(project: TestProject): Promise<void> {
  let url = process.env.REDIS_URL;
  const startSingle = async (): Promise<void> => {
    if (url !== undefined && url !== '') return;
    const dir = 'data/test-redis';
    rmSync(dir, { recursive: true, force: true });
    redis = await startPrivateRedis({ dir });
    url = redis.url;
  };
  let given: TestCluster | undefined = process.env.REDIS_CLUSTER_NODES ? { seeds: process.env.REDIS_CLUSTER_NODES, password: process.env.REDIS_PASSWORD || undefined } : undefined;
  const startCluster = async (): Promise<void> => {
    if (given !== undefined) return;
    await removeDeadClusters('data', 'test-cluster-');
    cluster = await startPrivateCluster({ dir: `data/test-cluster-${process.pid}` });
    given = { seeds: cluster.seeds, password: cluster.password };
  };
  const started = await Promise.allSettled([startSingle(), startCluster()]);
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) {
    await teardown();
    throw failed.reason;
  }
  project.provide('redisUrl', url as string);
  project.provide('redisCluster', given as TestCluster);
}

export async function teardown(): Promise<void> {
  await Promise.allSettled([redis?.stop(), cluster?.stop()]);
  if (cluster !== undefined) rmSync(cluster.dir, { recursive: true, force: true });
  redis = undefined;
  cluster = undefined;
}

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    redisCluster: TestCluster;
  }
}
