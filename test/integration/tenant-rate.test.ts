/**
 * A tenant's tps held fleet-wide (issue 14: "TPS and binds multiply by the
 * node count"): three nodes, each with its own FleetTenantBucket on one Redis,
 * under more demand than the tenant's tps. Counted by Redis's own clock: the
 * fleet admits at most tps × elapsed + burst + nodes × grant, whatever the
 * machine's load; every node gets its share.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { systemClock } from '../../engine/flow/clock.js';
import { FleetTenantBucket } from '../../engine/fleet/tenant-rate.js';
import { waitFor } from '../helpers/wait-for.js';

const redis = new Redis(inject('redisUrl'));
afterAll(() => redis.disconnect());
const prefix = () => `tr:${randomBytes(3).toString('hex')}:`;

async function redisMs(): Promise<number> {
  const [s, us] = await redis.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

describe('fleet-wide tenant rate', () => {
  it('three nodes under full demand admit no more than the tenant tps together (not three times it)', async () => {
    const tps = 200;
    const grantMs = 50;
    const p = prefix();
    const nodes = [0, 1, 2].map(() => new FleetTenantBucket('acme', tps, { redis, prefix: p, clock: systemClock, liveNodes: () => 3, grantMs }));
    const admitted = [0, 0, 0];
    const t0 = await redisMs();
    // Each node offers a submit every turn of the event loop for 1.5 s of Redis time (far more than 200/s).
    let done = false;
    const loops = nodes.map(
      (b, i) =>
        new Promise<void>((ok) => {
          const step = (): void => {
            if (done) return ok();
            if (b.tryTake(1)) admitted[i] = (admitted[i] ?? 0) + 1;
            setImmediate(step);
          };
          step();
        }),
    );
    await waitFor(async () => (await redisMs()) - t0 >= 1500, 30_000, '1.5 s of Redis time');
    done = true;
    await Promise.all(loops);
    const elapsed = (await redisMs()) - t0;
    const total = admitted.reduce((a, b) => a + b, 0);
    const grant = (tps * grantMs) / 1000;
    // The bucket starts full (one second's burst), refills at tps; each node may hold one grant more.
    expect(total).toBeLessThanOrEqual(Math.ceil((tps * elapsed) / 1000) + tps + 3 * grant);
    // Local buckets (the old way) admit up to 3 × (tps × 1.5 s + burst) = 1,500 here.
    expect(total).toBeLessThan(3 * tps);
    // Every admitted submit was granted by Redis, and every node got a share.
    expect(total).toBeLessThanOrEqual(nodes.reduce((a, b) => a + b.granted, 0));
    for (const n of admitted) expect(n).toBeGreaterThan(0);
  });

  it('alone, a node uses its local bucket: the burst of a batch frame, no Redis key', async () => {
    const p = prefix();
    const b = new FleetTenantBucket('solo', 100, { redis, prefix: p, clock: systemClock, liveNodes: () => 1, grantMs: 50 });
    let n = 0;
    while (b.tryTake(1)) n++;
    expect(n).toBe(100);
    expect(await redis.exists(`${p}rate:{solo}`)).toBe(0);
  });

  it('with Redis away, a node in a fleet refuses rather than admit beyond the limit', async () => {
    const dead = new Redis({ port: 1, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
    const warnings: string[] = [];
    const b = new FleetTenantBucket('acme', 100, { redis: dead, prefix: prefix(), clock: systemClock, liveNodes: () => 2, grantMs: 50, log: (_l, m) => warnings.push(m) });
    expect(b.tryTake(1)).toBe(false);
    await b.topUp();
    await waitFor(() => warnings.length > 0, 10_000, 'the grant failure to be logged');
    expect(b.tryTake(1)).toBe(false);
    expect(warnings[0]).toMatch(/rate grant failed/);
    dead.disconnect();
  });
});
