/**
 * A Redis Cluster master SIGKILLed under load, with an engine on that cluster
 * (its own cluster: 3 masters with a replica each; the shared one must not
 * lose a master under other tests). Submits stream in over WebSocket; one
 * master is killed, its replica is promoted, the old master is brought back
 * (as a replica). What README "Redis Cluster", durability, promises:
 *   - redis.waitReplicas 1: every acked message is in Redis after the
 *     failover (WAIT saw it on the replica that was promoted); while the
 *     promoted master has no replica, submits to its shards are nacked
 *     REPLICATION_TIMEOUT instead of acked; they are acked again once the old
 *     master is back as its replica;
 *   - redis.waitReplicas 0: an ack means the primary had it. The messages
 *     lost are counted: only messages of the killed master's shards, acked
 *     within the replication lag (a second at most here) before the kill.
 * Either way the engine goes on with the promoted replica: submits to every
 * shard are acked after the failover.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../engine/loadgen/harness.js';
import { connectRedis, type RedisClient, type RedisTarget } from '../../engine/redis/connect-redis.js';
import { startPrivateCluster, type PrivateCluster } from '../../engine/redis/private-cluster.js';
import { slotOf } from '../../engine/queue/shards.js';
import { connectClient, type Frame, type TestClient } from '../helpers/ws-client.js';
import { waitFor } from '../helpers/wait-for.js';

// Named as the run's own cluster is (test-cluster-<pid>): a killed run's is removed by the next.
const dir = `data/test-cluster-${process.pid}`;
let pc: PrivateCluster;
let target: RedisTarget;
let r: RedisClient;

beforeAll(async () => {
  pc = await startPrivateCluster({ dir });
  target = { kind: 'cluster', nodes: pc.nodes, password: pc.password };
  r = connectRedis(target, { connectionName: 'sy-test-kill' });
}, 120_000);

afterAll(async () => {
  r?.disconnect();
  await pc?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Sent {
  readonly at: number;
  readonly frame: Frame;
}

/**
 * Sends batches of 20 submits every few ms until stopped; records every
 * ack/nack with the time it arrived.
 */
function load(c: TestClient, prefix: string): { results: Sent[]; stop: () => Promise<void> } {
  const results: Sent[] = [];
  let seen = 0;
  let n = 0;
  let running = true;
  const take = (): void => {
    for (; seen < c.frames.length; seen++) {
      const f = c.frames[seen] as Frame;
      if (f.op === 'batch_ack') for (const x of f.results as Frame[]) results.push({ at: Date.now(), frame: x });
    }
  };
  const loop = (async () => {
    while (running && n < 40_000) {
      take();
      // at most 2,000 submits waiting for their ack
      if (n - results.length < 2000) {
        c.send({ op: 'batch', ref: `${prefix}${n}`, items: Array.from({ length: 20 }, (_, i) => ({ ref: `${prefix}${n + i}`, to: '+4791234567', from: 'Acme', text: `kill ${n + i}` })) });
        n += 20;
      }
      await new Promise((ok) => setTimeout(ok, 5));
    }
    await waitFor(() => (take(), results.length === n), 30_000, 'every submit answered');
  })();
  return { results, stop: async () => ((running = false), await loop) };
}

async function engineOn(waitReplicas: number): Promise<Harness> {
  return await startHarness({
    redis: target,
    smscs: 1,
    shards: 12,
    tenantTps: 1_000_000,
    configOverrides: (raw) => {
      raw.redis = { ...(raw.redis as object), waitReplicas, waitTimeoutMs: 300 };
    },
  });
}

/** The port of the master serving a key's slot now (CLUSTER SLOTS of a live node). */
async function masterPortOf(key: string): Promise<number> {
  const slot = slotOf(key);
  const slots = (await r.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>;
  const own = slots.find(([a, b]) => slot >= a && slot <= b);
  if (own === undefined) throw new Error(`no master serves slot ${slot}`);
  return own[2][1];
}

describe('a cluster master killed under load', () => {
  for (const waitReplicas of [1, 0]) {
    it(`redis.waitReplicas ${waitReplicas}: ${waitReplicas > 0 ? 'no acked message is lost; submits to the orphaned shards are nacked REPLICATION_TIMEOUT until it has a replica again' : 'the messages lost are of the killed master\'s shards, acked within the replication lag before the kill'}`, async () => {
      const h = await engineOn(waitReplicas);
      const c = await connectClient(h.wsUrl, h.apiKey);
      try {
        const keys = h.engine.store.keys;
        const l = load(c, `w${waitReplicas}-`);
        await waitFor(() => l.results.filter((x) => x.frame.op === 'ack').length >= 2000, 60_000, 'acks before the kill');
        const victim = await masterPortOf(keys.eventsOf(0));
        const killedAt = Date.now();
        const { promoted } = await pc.killMaster(victim);
        expect(promoted).toBeDefined();
        // The shards the killed master served (the promoted replica serves them now).
        const orphaned = new Set<number>();
        for (const k of keys.shards.all()) if ((await masterPortOf(keys.eventsOf(k))) === promoted) orphaned.add(k);
        expect(orphaned.size).toBeGreaterThan(0);
        const afterKill = () => l.results.filter((x) => x.at > killedAt);
        if (waitReplicas > 0) {
          // the promoted master has no replica: its shards' submits are nacked, not acked on its word alone
          await waitFor(() => afterKill().some((x) => x.frame.code === 'REPLICATION_TIMEOUT'), 60_000, 'REPLICATION_TIMEOUT nacks');
        }
        await pc.restartNode(victim);
        const rejoinedAt = Date.now();
        // the engine goes on: acks for every shard after the old master rejoined
        await waitFor(() => {
          const shards = new Set(l.results.filter((x) => x.at > rejoinedAt && x.frame.op === 'ack').map((x) => keys.shardOf(x.frame.id as string)));
          return [...orphaned].every((k) => shards.has(k)) && shards.size >= keys.shards.count / 2;
        }, 60_000, 'acks for the orphaned shards after the failover');
        await l.stop();
        const acked = l.results.filter((x) => x.frame.op === 'ack');
        const nacks = l.results.filter((x) => x.frame.op === 'nack');
        // every nack is a retryable kind: the queue was unavailable, or not confirmed on a replica
        for (const x of nacks) expect(['UNAVAILABLE', 'REPLICATION_TIMEOUT']).toContain(x.frame.code);
        // which acked messages are in Redis now
        const present = await Promise.all(acked.map((x) => r.exists(keys.msg(x.frame.id as string))));
        const lost = acked.filter((_, i) => present[i] === 0);
        console.log(`waitReplicas ${waitReplicas}: ${acked.length} acked, ${nacks.length} nacked (${nacks.filter((x) => x.frame.code === 'REPLICATION_TIMEOUT').length} REPLICATION_TIMEOUT), ${lost.length} acked and lost`);
        if (waitReplicas > 0) {
          expect(lost).toEqual([]);
        } else {
          for (const x of lost) {
            expect(orphaned.has(keys.shardOf(x.frame.id as string) as number)).toBe(true);
            expect(x.at).toBeLessThanOrEqual(killedAt + 1000);
            expect(x.at).toBeGreaterThanOrEqual(killedAt - 1000);
          }
        }
      } finally {
        await c.close();
        await h.stop();
      }
    }, 240_000);
  }
});
