/**
 * Redis time per message of the enqueue script (ENQUEUE_LUA), the one Redis
 * call every accepted message costs at ingress: `npm run bench:enqueue`.
 * Three cases, each 100,000 one-part messages in calls of 500, against a
 * private Redis: no opt-out lists, the tenant's and the global list with
 * 100,000 numbers each (two ZSCOREs per message), and the tenant paused
 * (messages parked). Redis's own accounting (INFO commandstats, evalsha
 * usec) is the figure: it is what the one Redis core spends.
 * The LAST line is one JSON object with the figures.
 */
import { Redis } from 'ioredis';
import { GLOBAL, OptOutStore } from '../engine/optout/optout-store.js';
import { ParkingStore } from '../engine/parking/parking-store.js';
import { RedisStore, type NewMessage } from '../engine/queue/redis-store.js';
import { startPrivateRedis } from '../engine/redis/private-redis.js';

const N = 100_000;
const BATCH = 500;

async function run(url: string, setup: 'none' | 'lists' | 'paused'): Promise<number> {
  const r = new Redis(url);
  const prefix = `eb${setup}:`;
  const limits = { eventsMaxLen: 200_000, finalRetentionSec: 3600 };
  const store = new RedisStore(r, prefix, limits);
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
    id: 'm' + i, tenant: 'acme', ref: 'r' + i, to: String(4791000000 + (i % 50_000)), from: 'Acme', smsc: 'a', partition: i % 2, dataCoding: 0, esmClass: 0,
    parts: [{ shortMessage: text }], acceptedAt: now, validUntil: now + 3_600_000, ttlSec: 7200, finalBy: now + 7_200_000, pushStatus: true, route: 'NO|242|01|0.031|EUR',
  });
  await r.config('RESETSTAT');
  for (let i = 0; i < N; i += BATCH) await store.enqueue(Array.from({ length: BATCH }, (_, k) => msg(i + k)));
  const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(await r.info('commandstats'));
  await r.flushdb();
  r.disconnect();
  return Number(m?.[2] ?? 0) / N;
}

async function main(): Promise<void> {
  const redis = await startPrivateRedis({ dir: 'data/bench-enqueue' });
  const out: Record<string, number> = {};
  try {
    for (const setup of ['none', 'lists', 'paused'] as const) {
      const runs = [];
      for (let k = 0; k < 3; k++) runs.push(await run(redis.url, setup));
      runs.sort((a, b) => a - b);
      out[`${setup}UsecPerMsg`] = +(runs[1] as number).toFixed(2); // the median of three
      console.log(`${setup}: ${runs.map((x) => x.toFixed(2)).join(' / ')} µs per message (Redis, evalsha)`);
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
