/**
 * Waits until no queue read of an SMSC's actor can still be in flight: a read
 * it started while it had binds may be blocked in Redis (XREADGROUP BLOCK
 * 100 ms) and would take whatever enters the queue meanwhile. Without binds
 * the actor has no credit and starts no new read, so once every consumer of
 * every partition has been idle for 300 ms, entries added stay unread.
 */
import { Redis } from 'ioredis';
import type { Harness } from '../../engine/loadgen/harness.js';
import { waitFor } from './wait-for.js';

export async function noReadInFlight(h: Harness, smsc: string): Promise<void> {
  const partitions = h.config.smscs.find((s) => s.id === smsc)?.partitions ?? 1;
  const r = new Redis(h.redisUrl);
  try {
    await waitFor(async () => {
      for (let p = 0; p < partitions; p++) {
        const consumers = (await r.xinfo('CONSUMERS', h.engine.store.keys.queue(smsc, p), 'g')) as unknown[][];
        for (const c of consumers) if (Number(c[c.indexOf('idle') + 1]) < 300) return false;
      }
      return true;
    }, 5000, 'no queue read in flight');
  } finally {
    r.disconnect();
  }
}
