/**
 * The operator actor on its Redis store (RedisActorStore over the sharded
 * RedisStore), with real SMPP to the simulator, on a single Redis and on the
 * test Redis Cluster. The actor is built as actor-worker.ts builds it, minus
 * the send gate and the MO recorder (their stores are not the actor's), and
 * is judged by the message state in Redis and what the SMSC got:
 *   - messages spread over every shard are sent once each and their
 *     receipts applied;
 *   - a restarted actor re-reads, stream by stream, every entry it held when
 *     it died (on a cluster no XREADGROUP spans streams: each is paged on its
 *     own), sending each once, long before take-over by idle time could.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { DEFAULTS } from '../../config/schema.js';
import type { ActorSmscConfig } from '../../engine/actors/messages.js';
import { OperatorActor } from '../../engine/actors/operator-actor.js';
import { createSmppSession } from '../../engine/actors/smpp-session.js';
import { systemClock } from '../../engine/flow/clock.js';
import { newShardedMessageId } from '../../engine/ingress/message-id.js';
import { Keys } from '../../engine/queue/keys.js';
import { RedisActorStore, type RedisQueuedPart } from '../../engine/queue/redis-actor-store.js';
import { RedisStore, type NewMessage } from '../../engine/queue/redis-store.js';
import { Shards } from '../../engine/queue/shards.js';
import { connectRedis, duplicateClient, masterNodes, type RedisClient, type RedisTarget } from '../../engine/redis/connect-redis.js';
import { SmscSimulator } from '../../engine/simulator/index.js';
import { clusterTarget } from '../helpers/redis-cluster.js';
import { waitFor } from '../helpers/wait-for.js';

const SHARDS = 8;
const SMSC = 'sim';
const CONSUMER = 'n1:sim';
const limits = { eventsMaxLen: 100_000, finalRetentionSec: 3600 };

const targets: Array<[string, () => RedisTarget]> = [
  ['a single Redis', () => ({ kind: 'single', url: inject('redisUrl') })],
  ['the Redis Cluster', clusterTarget],
];

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe.each(targets)('the operator actor on %s', (_name, target) => {
  interface Rig {
    readonly redis: RedisClient;
    readonly keys: Keys;
    readonly store: RedisStore;
    readonly sim: SmscSimulator;
    /** Starts an actor (as after a restart: same consumer name); stopped after the test. */
    startActor(): Promise<OperatorActor<RedisQueuedPart>>;
    enqueue(n: number, tag: string): Promise<string[]>;
    statuses(ids: ReadonlyArray<string>): Promise<string[]>;
  }

  async function rig(): Promise<Rig> {
    const redis = connectRedis(target(), { connectionName: 'sy-test-actor-sharded', maxRetriesPerRequest: null });
    const keys = new Keys(`t:${randomBytes(3).toString('hex')}:as:`, new Shards(SHARDS));
    cleanups.push(async () => {
      for (const m of masterNodes(redis)) for (const k of await m.keys(keys.prefix + '*')) await redis.del(k);
      redis.disconnect();
    });
    const store = new RedisStore(redis, keys, limits);
    const sim = new SmscSimulator({ systemId: 'sy', password: 'pw', capture: true, receiptDelayMs: { min: 0, max: 5 }, receiptIdFormat: 'same' });
    await sim.start();
    cleanups.push(() => sim.stop());
    const smsc: ActorSmscConfig = {
      id: SMSC, host: '127.0.0.1', port: sim.port, systemId: 'sy', password: 'pw', systemType: '', binds: 2, window: 50, tps: 100_000,
      responseTimeoutMs: 5000, enquireLinkSec: 30, connectTimeoutMs: 5000, reconnectMs: { min: 50, max: 1000 }, throttleBackoffMs: { min: 100, max: 5000 },
      receiptIdMatch: 'exact', concatenation: 'udh', alphabet: 'gsm7', addresses: DEFAULTS.smsc.addresses,
    };
    return {
      redis, keys, store, sim,
      async startActor() {
        const reader = duplicateClient(redis, 'sy-test-actor-sharded-read');
        // Take-over by idle time far beyond the test: only the actor's own recovery can find what it held.
        const queue = new RedisActorStore(store, reader, { smsc: SMSC, consumer: CONSUMER, reclaimIdleMs: 600_000, receiptGraceSec: 3600 });
        const actor = new OperatorActor<RedisQueuedPart>(smsc, queue, createSmppSession, systemClock, { takeOverEveryMs: 300_000, stateFlushMs: 5 });
        cleanups.push(async () => {
          await actor.stop();
          reader.disconnect();
        });
        await actor.start();
        return actor;
      },
      async enqueue(n, tag) {
        const now = Date.now();
        const msgs: NewMessage[] = Array.from({ length: n }, (_, i) => ({
          id: newShardedMessageId(i % SHARDS), tenant: 'acme', ref: String(i), to: `4791${String(100000 + i)}`, from: 'Acme', smsc: SMSC, dataCoding: 0, esmClass: 0,
          parts: [{ shortMessage: Buffer.from(`${tag} ${i}`) }], acceptedAt: now, validUntil: now + 3600_000, ttlSec: 7200, pushStatus: false, route: 'NO|242|01|0.031|EUR',
        }));
        await store.ensureGroups(SMSC);
        expect(await store.enqueue(msgs)).toEqual(msgs.map(() => 'queued'));
        return msgs.map((m) => m.id);
      },
      async statuses(ids) {
        return await Promise.all(ids.map(async (id) => (await redis.hget(keys.msg(id), 's')) ?? 'missing'));
      },
    };
  }

  it('sends messages of every shard once each and applies their receipts', async () => {
    const n = 400;
    const r = await rig();
    const ids = await r.enqueue(n, 'spread');
    await r.startActor();
    await waitFor(async () => (await r.statuses(ids)).every((s) => s === 'delivered'), 60_000, 'every message delivered');
    const sent = r.sim.captured.map((s) => s.shortMessage.toString('latin1'));
    expect(sent.length).toBe(n);
    expect(new Set(sent).size).toBe(n);
    for (const q of r.keys.queuesOf(SMSC)) expect(await r.redis.xlen(q)).toBe(0);
  }, 120_000);

  it('a restarted actor re-reads every entry it held, stream by stream, and sends each once', async () => {
    const n = 600;
    const r = await rig();
    const ids = await r.enqueue(n, 'held');
    // The actor "had pulled" them all when it died: pending for its consumer, in every shard's stream, 75 each.
    const held = await r.store.read(CONSUMER, r.keys.queuesOf(SMSC), n, '>');
    expect(held.entries.length).toBe(n);
    expect(new Set(held.entries.map((e) => e.queueKey)).size).toBe(SHARDS);
    await r.startActor();
    await waitFor(() => r.sim.stats.submitsAccepted >= n, 30_000, 'every held entry sent');
    await waitFor(async () => (await r.statuses(ids)).every((s) => s === 'delivered'), 60_000, 'every message delivered');
    const sent = r.sim.captured.map((s) => s.shortMessage.toString('latin1'));
    expect(sent.length).toBe(n);
    expect(new Set(sent).size).toBe(n);
  }, 120_000);
});
