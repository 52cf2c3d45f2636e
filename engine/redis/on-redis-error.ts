/**
 * ioredis emits 'error' on every failed (re)connection attempt; unhandled, that
 * is noise on stderr at best. Reports at most one error per interval per
 * client: enough for the operator to see that Redis is unreachable.
 */
import type { RedisClient } from './connect-redis.js';

export function onRedisError(client: RedisClient, name: string, log: (msg: string) => void, everyMs = 5000): void {
  let last = 0;
  client.on('error', (err: Error) => {
    const now = Date.now();
    if (now - last < everyMs) return;
    last = now;
    log(`redis (${name}): ${err.message}`);
  });
}
