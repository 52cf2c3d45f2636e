/**
 * Starts one private Redis for the whole test run (unless REDIS_URL is set) and
 * hands its URL to the tests through vitest's provide/inject. Each test file
 * uses its own key prefix, so files can run in parallel against it.
 */
import { rmSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { startPrivateRedis, type PrivateRedis } from '../engine/redis/private-redis.js';

let redis: PrivateRedis | undefined;

export async function setup(project: TestProject): Promise<void> {
  let url = process.env.REDIS_URL;
  if (url === undefined || url === '') {
    const dir = 'data/test-redis';
    rmSync(dir, { recursive: true, force: true });
    redis = await startPrivateRedis({ dir });
    url = redis.url;
  }
  project.provide('redisUrl', url);
}

export async function teardown(): Promise<void> {
  await redis?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}
