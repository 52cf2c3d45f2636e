/**
 * Waits until no queue read of an SMSC's actor can still be in flight: a read
 * it started while it had binds may be blocked in Redis (XREADGROUP BLOCK
 * 100 ms) and would take whatever enters the queue meanwhile. Without binds
 * the actor has no credit and starts no new read, so once every consumer of
 * every queue stream (one per shard) has been idle for 300 ms, entries added stay unread.
 */
import { callWithKey, connectRedis } from '../../engine/redis/connect-redis.js';
import type { Harness } from '../../engine/loadgen/harness.js';
import { waitFor } from './wait-for.js';

export async function noReadInFlight(h: Harness, smsc: string): Promise<void> {
  const r = connectRedis(h.target, { connectionName: 'sy-test-reads' });
  try {
    await waitFor(async () => {
      for (const q of h.engine.store.keys.queuesOf(smsc)) {
        const consumers = (await callWithKey(r, q, ['XINFO', 'CONSUMERS'], ['g'])) as unknown[][];
        for (const c of consumers) if (Number(c[c.indexOf('idle') + 1]) < 300) return false;
      }
      return true;
    }, 5000, 'no queue read in flight');
  } finally {
    r.disconnect();
  }
}
