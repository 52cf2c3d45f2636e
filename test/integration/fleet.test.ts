/**
 * The fleet module (engine/fleet/fleet.ts) on the single Redis and on the
 * cluster: node registration (a live duplicate node id refused, a dead one's
 * record waited out), the tick's live nodes and published figures, leader
 * leases, bind leases by fair share with fencing epochs, and the engine's
 * exclusive port.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { parseConfig } from '../../config/index.js';
import { startEngine, type Engine } from '../../engine/engine.js';
import { Fleet, fleetKeys, type FleetOptions } from '../../engine/fleet/fleet.js';
import { Keys } from '../../engine/queue/keys.js';
import { Shards } from '../../engine/queue/shards.js';
import type { RedisClient } from '../../engine/redis/connect-redis.js';
import { connectTarget, dropPrefix, redisTargets } from '../helpers/redis-targets.js';
import { rawEngineConfig, rawEngineEnv } from '../helpers/raw-engine.js';

const quiet = (): void => undefined;

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

describe.each(redisTargets())('fleet on $name Redis', (t) => {
  const prefix = `fleet:${randomBytes(3).toString('hex')}:`;
  const keys = new Keys(prefix, new Shards(4));
  const clients: RedisClient[] = [];
  const fleets: Fleet[] = [];
  afterAll(async () => {
    for (const f of fleets) await f.stop();
    const r = connectTarget(t);
    await dropPrefix(r, prefix);
    r.disconnect();
    for (const c of clients) c.disconnect();
  });

  function fleet(nodeId: string, o: Partial<FleetOptions> = {}): Fleet {
    const r = connectTarget(t, `fleet-${nodeId}`);
    clients.push(r);
    const f = new Fleet(r, keys, { nodeId, addr: `127.0.0.1:${nodeId.length}`, heartbeatTtlMs: 3000, leaseTtlMs: 2000, leaseMarginMs: 500, smscs: [{ id: 's', binds: 3 }], log: quiet, ...o });
    fleets.push(f);
    return f;
  }

  it('a live duplicate node id is refused, naming where it runs', async () => {
    const a = fleet('dup');
    await a.start();
    const b = fleet('dup');
    const err = await rejection(b.start());
    expect(err.message).toMatch(/node id dup is running at 127\.0\.0\.1:3; give this one its own engine\.nodeId/);
    expect((err as { code?: string }).code).toBe('NODE_ID_IN_USE');
    await a.stop();
  });

  it("a crashed node's id is taken once its heartbeat runs out", async () => {
    const r = connectTarget(t);
    clients.push(r);
    const now = Number((await r.time())[0]) * 1000;
    await r.hset(fleetKeys(keys).nodes, 'crashed', `oldboot|${now + 1500}|127.0.0.1:1`);
    const f = fleet('crashed');
    await f.start();
    expect(f.liveNodes().map((n) => n.id)).toContain('crashed');
    expect(f.liveNodes().find((n) => n.id === 'crashed')?.boot).toBe(f.boot);
    await f.stop();
  });

  it('every node sees the live nodes and their figures; one leader per duty; bind slots shared fairly with new epochs', async () => {
    const a = fleet('fa');
    const b = fleet('fb');
    await a.start();
    expect(a.isLeader('sweep')).toBe(false); // asked for from the next tick
    await a.tick();
    expect(a.isLeader('sweep')).toBe(true);
    // Alone, a holds all three slots of s.
    expect(a.leases('s')?.held.map((h) => h.index)).toEqual([0, 1, 2]);
    a.publish('{"up":1}');
    await b.start();
    b.publish('{"up":2}');
    b.isLeader('sweep');
    await b.tick();
    await a.tick();
    expect(b.isLeader('sweep')).toBe(false);
    expect(b.leaderOfDuty('sweep')).toBe('fa');
    expect(a.liveNodes().map((n) => [n.id, n.figures])).toEqual(expect.arrayContaining([['fa', '{"up":1}'], ['fb', '{"up":2}']]));
    // Two live nodes: shares 2 (fa, first by id) and 1 (fb). fa is told to drain one slot; fb gets none until it is given back.
    expect(a.leases('s')?.drain).toEqual([2]);
    expect(b.leases('s')?.held).toEqual([]);
    a.release('s', 2);
    await a.tick();
    await b.tick();
    expect(a.leases('s')?.held.map((h) => h.index)).toEqual([0, 1]);
    expect(b.leases('s')?.held.map((h) => h.index)).toEqual([2]);
    const epochs = [...(a.leases('s')?.held ?? []), ...(b.leases('s')?.held ?? [])].map((h) => h.epoch);
    expect(new Set(epochs).size).toBe(3);
    // b leaves gracefully: a takes the slot at its next tick, with a new epoch, and the leader duty stays with a.
    const bEpoch = b.leases('s')?.held[0]?.epoch as number;
    await b.stop();
    await a.tick();
    const slot2 = a.leases('s')?.held.find((h) => h.index === 2);
    expect(slot2?.epoch).toBeGreaterThan(bEpoch);
    expect(a.isLeader('sweep')).toBe(true);
    await a.stop();
  });
});

describe('engine port', () => {
  let first: Engine | undefined;
  afterAll(async () => {
    await first?.stop();
  });

  it('a second engine on a port in use fails at start naming the port (PORT_IN_USE)', async () => {
    const redisUrl = inject('redisUrl');
    const prefix = `fleetport:${randomBytes(3).toString('hex')}:`;
    const raw = (node: string) => rawEngineConfig({ smscs: [{ port: 1 }], configOverrides: (c) => void ((c.engine as Record<string, unknown>).nodeId = node) }, prefix);
    const env = rawEngineEnv();
    first = await startEngine(parseConfig(raw('port-a'), 'a'), { redisUrl, env, log: quiet });
    const err = await rejection(startEngine(parseConfig(raw('port-b'), 'b'), { redisUrl, env, port: first.port, log: quiet }));
    expect((err as { code?: string }).code).toBe('PORT_IN_USE');
    expect(err.message).toContain(`127.0.0.1:${first.port}: the port is in use`);
  }, 60_000);
});
