/**
 * The shard count is part of every key name (shards.ts), so it is fixed for a
 * deployment: the first engine to start records it in {P}{c}:meta, and every
 * later start compares. A different count, or data of the unsharded layout
 * that came before issue 13 (its single events stream {P}ev or expiry index
 * {P}exp), is refused with what to do, never half-used: messages written
 * under one layout are invisible to an engine reading another.
 *
 * There is no online reshard. README "Redis Cluster" gives the migration:
 * stop accepting, let the old deployment drain (queues empty, receipts in or
 * past their grace), then start the new one on an empty key prefix.
 */
import type { Keys } from './keys.js';

/** Bumped when the sharded key layout changes incompatibly. */
export const LAYOUT_VERSION = 1;

/** The one Redis call this check makes, with the command set both a single client and a Cluster client share. */
export interface LayoutRedis {
  eval(script: string, numberOfKeys: number, ...args: Array<string | number>): Promise<unknown>;
  exists(...keys: string[]): Promise<number>;
}

export class ShardLayoutError extends Error {
  readonly code = 'CONFIG_INVALID';
}

// KEYS[1] meta hash (control slot). ARGV: shards, layout version. Returns {shards, version} as recorded (set now if new).
const RECORD_LUA = `
if redis.call('HSETNX', KEYS[1], 'shards', ARGV[1]) == 1 then redis.call('HSET', KEYS[1], 'layout', ARGV[2]) end
return redis.call('HMGET', KEYS[1], 'shards', 'layout')
`;

/**
 * Records or checks the layout; throws ShardLayoutError naming the recorded
 * count and the configured one. `legacyKeys`: keys of the unsharded layout
 * (checked one by one: on a cluster they live in different slots).
 */
export async function checkShardLayout(redis: LayoutRedis, keys: Keys): Promise<void> {
  const meta = keys.control('meta');
  const fresh = (await redis.exists(meta)) === 0;
  if (fresh) {
    for (const legacy of [`${keys.prefix}ev`, `${keys.prefix}exp`]) {
      if ((await redis.exists(legacy)) === 1) {
        throw new ShardLayoutError(
          `Redis (key prefix "${keys.prefix}") holds data of the unsharded layout (${legacy}); this version shards its keys (redis.shards). ` +
            'Drain the old deployment (no queued messages, receipts in or past their grace) and start on an empty key prefix: see README "Redis Cluster", migration',
        );
      }
    }
  }
  const [shards, layout] = (await redis.eval(RECORD_LUA, 1, meta, keys.shards.count, LAYOUT_VERSION)) as [string | null, string | null];
  if (Number(shards) !== keys.shards.count) {
    throw new ShardLayoutError(
      `redis.shards is ${keys.shards.count} but this deployment (key prefix "${keys.prefix}") was created with ${shards} shards; the count names every key and cannot change in place. ` +
        `Set redis.shards to ${shards}, or migrate (README "Redis Cluster": drain, then start on an empty key prefix)`,
    );
  }
  if (Number(layout) !== LAYOUT_VERSION) {
    throw new ShardLayoutError(`this deployment's key layout is version ${layout}, this engine writes version ${LAYOUT_VERSION}: see README "Redis Cluster", migration`);
  }
}
