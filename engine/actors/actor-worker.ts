/**
 * Piscina task hosting one operator actor for its whole life. The task resolves
 * when the supervisor says stop; it rejects (and the supervisor restarts it)
 * when the actor crashes or its thread is terminated.
 */
import { threadId } from 'node:worker_threads';
import type { Redis } from 'ioredis';
import { systemClock } from '../flow/clock.js';
import { Keys } from '../queue/keys.js';
import { RedisStore } from '../queue/redis-store.js';
import { RedisActorStore, type RedisQueuedPart } from '../queue/redis-actor-store.js';
import { Shards } from '../queue/shards.js';
import { connectRedis, duplicateClient } from '../redis/connect-redis.js';
import { onRedisError } from '../redis/on-redis-error.js';
import type { ActorCommand, ActorReport, ActorTask } from './messages.js';
import { ActorMetrics, threadMetrics } from '../metrics/actor-metrics.js';
import { OperatorActor } from './operator-actor.js';
import { createFencedSmppSession, createSmppSession } from './smpp-session.js';
import { ParkingStore } from '../parking/parking-store.js';
import { MoRecorder } from '../mo/mo-recorder.js';
import { MoStore } from '../mo/mo-store.js';
import { FencedReclaim } from '../fleet/fenced-reclaim.js';
import { LeaseGate } from '../fleet/lease-gate.js';

export default async function runActor(task: ActorTask): Promise<string> {
  const { port } = task;
  const post = (r: ActorReport) => port.postMessage(r);
  // State writes wait through a reconnect (the actor retries them anyway); reads get their own client (they block).
  const client = connectRedis(task.redis, { connectionName: `sy-actor-${task.smsc.id}`, maxRetriesPerRequest: null });
  const reader = duplicateClient(client, `sy-actor-${task.smsc.id}-read`);
  // The parking and MO stores take a single client until they move to the sharded layout (issue 13).
  const redis = client as Redis;
  onRedisError(redis, `actor ${task.smsc.id}`, (msg) => post({ type: 'log', level: 'warn', smsc: task.smsc.id, msg }));
  onRedisError(reader, `actor ${task.smsc.id} reader`, (msg) => post({ type: 'log', level: 'warn', smsc: task.smsc.id, msg }));
  const store = new RedisStore(client, new Keys(task.keyPrefix, new Shards(task.shards)), { eventsMaxLen: task.eventsMaxLen, finalRetentionSec: task.finalRetentionSec });
  const metrics = task.metrics ? new ActorMetrics(task.smsc.id) : undefined;
  const limits = { eventsMaxLen: task.eventsMaxLen, finalRetentionSec: task.finalRetentionSec };
  const logWarn = (_level: 'warn', msg: string) => post({ type: 'log', level: 'warn', smsc: task.smsc.id, msg });
  const mo = new MoRecorder(task.smsc.id, new MoStore(redis, store.keys, { eventsMaxLen: task.eventsMaxLen, unattributedStop: task.mo.unattributedStop }), task.mo, logWarn, (kind) => metrics?.mo(kind), task.smsc.alphabet);
  // Bind leases (engine/fleet/): the slots this node holds, as the supervisor passes them on after each fleet tick.
  const leases = task.leased ? new LeaseGate((index) => post({ type: 'released', smsc: task.smsc.id, index })) : undefined;
  const queue = new RedisActorStore(store, reader, {
    smsc: task.smsc.id,
    consumer: task.consumer,
    reclaimIdleMs: task.reclaimIdleMs,
    receiptGraceSec: task.receiptGraceSec,
    ...(leases === undefined ? {} : { fenced: new FencedReclaim(client, { consumer: task.consumer, reclaimAfterMs: task.reclaimIdleMs, liveNodes: () => leases.liveNodes() }) }),
  });
  // The SMPP connection of bind i writes its submit_sm only while slot i's lease is valid.
  const connect = leases === undefined ? createSmppSession : (smsc: typeof task.smsc, i: number) => createFencedSmppSession(smsc, () => leases.mayWrite(i));
  const actor = new OperatorActor<RedisQueuedPart>(task.smsc, queue, connect, systemClock, {
    // Leased: entries handed back are taken within 2 s, a dead node's once idle reclaimIdleMs (and at most 2 s later).
    // Otherwise entries idle reclaimIdleMs are taken over: looking twice per period finds them at most half a period late.
    takeOverEveryMs: leases !== undefined ? 2000 : Math.max(1000, Math.floor(task.reclaimIdleMs / 2)),
    ...(leases === undefined ? {} : { leases, drainMs: task.drainMs }),
    stateFlushMs: task.stateFlushMs,
    gate: { store: new ParkingStore(redis, store.keys, limits), consumer: task.consumer, pollMs: 250, optOutHorizonMs: (task.optOutHorizonSec + 3600) * 1000 },
    mo,
  }, metrics);
  actor.events.on('log', (level: 'info' | 'warn' | 'error', msg: string) => post({ type: 'log', level, smsc: task.smsc.id, msg }));
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((ok) => (stop = ok));
  port.on('message', (cmd: ActorCommand) => {
    if (cmd.type === 'stop') stop();
    else if (cmd.type === 'leases') leases?.update(cmd.leases);
    // 'crash' is a fault-injection hook for tests: an uncaught error in the worker.
    else if (cmd.type === 'crash') setImmediate(() => {
      throw new Error(`actor ${task.smsc.id}: crash requested`);
    });
  });
  // A bind going up or down is reported at once (routing and failover act on it), the rest twice a second.
  // Stats travel with this actor's metrics and the thread's own gauges (merged into /metrics by the main thread).
  const report = (): void => {
    const stats = actor.stats(threadId);
    if (metrics === undefined) return post({ type: 'stats', stats });
    Promise.all([metrics.snapshot(stats, task.smsc.window), threadMetrics(threadId)]).then(
      ([m, t]) => post({ type: 'stats', stats, metrics: m, threadMetrics: t }),
      () => post({ type: 'stats', stats }),
    );
  };
  actor.events.on('bind', report);
  await actor.start();
  post({ type: 'started', smsc: task.smsc.id, threadId });
  const statsTimer = setInterval(report, 500);
  try {
    await stopped;
    await actor.stop();
    const stats = actor.stats(threadId);
    post({ type: 'stats', stats, ...(metrics === undefined ? {} : { metrics: await metrics.snapshot(stats, task.smsc.window) }) });
  } finally {
    clearInterval(statsTimer);
    port.close();
    redis.disconnect();
    reader.disconnect();
  }
  return 'stopped';
}
