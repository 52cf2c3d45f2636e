/**
 * Redis time per message of the enqueue script (ENQUEUE_LUA), the one Redis
 * call every accepted message costs at ingress: `npm run bench:enqueue`.
 * Three cases, each 100,000 one-part messages in calls of 500, against a
 * private Redis: no opt-out lists, the tenant's and the global list with
 * 100,000 numbers each (the ingress's pre-check: a ZMSCORE per tenant and
 * one for the global list per call), and the tenant paused (messages parked).
 * Ids spread over 16 shards as the ingress spreads them (64 per shard, then
 * the next), so a call of 500 is 8 sections. Figures: Redis's CPU time per message (INFO cpu, main
 * thread: what the one Redis core spends, and not inflated by a busy
 * machine) and the script's own accounting (INFO commandstats, evalsha usec,
 * wall time inside the commands: evalsha and the pre-check's zmscore). Medians of five interleaved rounds.
 * The LAST line is one JSON object with the figures.
 */
import { Redis } from 'ioredis';
import { GLOBAL, OptOutStore } from '../engine/optout/optout-store.js';
import { ParkingStore } from '../engine/parking/parking-store.js';
import { newShardedMessageId } from '../engine/ingress/message-id.js';
import { Keys } from '../engine/queue/keys.js';
import { RedisStore, type NewMessage } from '../engine/queue/redis-store.js';
import { Shards } from '../engine/queue/shards.js';
import { startPrivateRedis } from '../engine/redis/private-redis.js';

const N = 100_000;
const BATCH = 500;

async function run(url: string, setup: 'none' | 'lists' | 'paused'): Promise<{ usec: number; cpu: number }> {
  const r = new Redis(url);
  const prefix = `eb${setup}:`;
  const limits = { eventsMaxLen: 200_000, finalRetentionSec: 3600 };
  const store = new RedisStore(r, new Keys(prefix, new Shards(16)), limits);
  if (setup === 'lists') {
    const oo = new OptOutStore(r, store.keys);
    for (const [t, base] of [['acme', 447700000000], [GLOBAL, 447800000000]] as const) {
      for (let i = 0; i < 100_000; i += 1000) await oo.add(t, Array.from({ length: 1000 }, (_, k) => String(base + i + k)), 'admin');
    }
  }
  if (setup === 'paused') await new ParkingStore(r, store.keys, limits).setPaused('acme', true);
  const now = Date.now();
  const text = Buffer.from('Your code is 482913. It expires in 10 minutes.');
  const msg = (i: number): NewMessage => ({
    id: newShardedMessageId(Math.floor(i / 64) % 16, now), tenant: 'acme', ref: 'r' + i, to: String(4791000000 + (i % 50_000)), from: 'Acme', smsc: 'a', dataCoding: 0, esmClass: 0,
    parts: [{ shortMessage: text }], acceptedAt: now, validUntil: now + 3_600_000, ttlSec: 7200, pushStatus: true, route: 'NO|242|01|0.031|EUR',
  });
  const batches = Array.from({ length: N / BATCH }, (_, b) => Array.from({ length: BATCH }, (_, k) => msg(b * BATCH + k)));
  await r.config('RESETSTAT');
  const cpu0 = await redisCpuUs(r);
  for (const b of batches) await store.enqueue(b);
  const cpu = (await redisCpuUs(r)) - cpu0;
  const stats = await r.info('commandstats');
  const usecOf = (cmd: string) => Number(new RegExp(`cmdstat_${cmd}:calls=\\d+,usec=(\\d+)`).exec(stats)?.[1] ?? 0);
  await r.flushdb();
  r.disconnect();
  return { usec: (usecOf('evalsha') + usecOf('zmscore')) / N, cpu: cpu / N };
}

/** CPU time of Redis's main thread (µs): unlike the commands' wall time, not inflated when the machine is busy. */
async function redisCpuUs(r: Redis): Promise<number> {
  const info = await r.info('cpu');
  const f = (k: string) => Number(new RegExp(`${k}:([0-9.]+)`).exec(info)?.[1] ?? 0);
  return (f('used_cpu_user_main_thread') + f('used_cpu_sys_main_thread')) * 1e6;
}

async function main(): Promise<void> {
  const redis = await startPrivateRedis({ dir: 'data/bench-enqueue' });
  const out: Record<string, number> = {};
  try {
    const runs: Record<string, Array<{ usec: number; cpu: number }>> = { none: [], lists: [], paused: [] };
    // Interleaved, five rounds: a busy machine affects every case alike.
    for (let k = 0; k < 5; k++) for (const setup of ['none', 'lists', 'paused'] as const) runs[setup]?.push(await run(redis.url, setup));
    for (const [setup, rs] of Object.entries(runs)) {
      const med = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
      out[`${setup}UsecPerMsg`] = +med(rs.map((x) => x.usec)).toFixed(2);
      out[`${setup}CpuUsPerMsg`] = +med(rs.map((x) => x.cpu)).toFixed(2);
      console.log(`${setup}: evalsha ${rs.map((x) => x.usec.toFixed(2)).join(' / ')} µs, Redis CPU ${rs.map((x) => x.cpu.toFixed(2)).join(' / ')} µs per message`);
    }
  } finally {
    await redis.stop();
  }
  console.log(JSON.stringify({ bench: 'enqueue', node: process.version, messages: N, batch: BATCH, ...out }));
}

main().catch((err: Error) => {
  console.error(err);
  process.exit(1);
});
