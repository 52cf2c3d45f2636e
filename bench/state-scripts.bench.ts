/**
 * Redis time per message of the message path's state scripts, without the
 * rest of the pipeline: `npm run bench:scripts -- [--messages N] [--batch B] [--scheduled-share X] [--shards S]`.
 *
 *   enqueue (ENQUEUE_LUA, B per call; the opt-out lists read inside it on a single Redis) →
 *   [scheduled share: SCHEDULE_LUA moves them] → XREADGROUP → submitted (LINK_SUBMITTED_LUA: one
 *   call on a single Redis) → receipts (LOOKUP_RECEIPTS_LUA, delivered: one call)
 *
 * With the state sharded (issue 13, default 16 shards), ids spread over the
 * shards as the ingress spreads them (64 per shard, then the next): each call
 * carries several sections, one call per batch on this single Redis.
 *
 * against a private redis-server (AOF on, as in production), reading Redis's
 * own INFO commandstats: microseconds of Redis CPU per message, the figure the
 * one Redis core's capacity divides by. Far less disturbed by other processes
 * on the machine than the end-to-end benchmark, so it is the one to compare
 * two versions of the scripts with. 5 % of the messages have 2 parts. The
 * LAST line is one JSON object of the figures.
 */
import { parseArgs } from 'node:util';
import { rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import { startPrivateRedis } from '../engine/redis/private-redis.js';
import { newShardedMessageId } from '../engine/ingress/message-id.js';
import { Keys } from '../engine/queue/keys.js';
import { RedisStore, type NewMessage, type QueueEntry } from '../engine/queue/redis-store.js';
import { Shards } from '../engine/queue/shards.js';

const { values: a } = parseArgs({
  options: {
    messages: { type: 'string', default: '100000' },
    batch: { type: 'string', default: '200' },
    'scheduled-share': { type: 'string', default: '0' },
    shards: { type: 'string', default: '16' },
  },
});
const total = Number(a.messages);
const batch = Number(a.batch);
const share = Number(a['scheduled-share']);
const shardCount = Number(a.shards);

interface CmdStat {
  calls: number;
  usec: number;
}

async function commandStats(r: Redis): Promise<Map<string, CmdStat>> {
  const out = new Map<string, CmdStat>();
  for (const line of (await r.info('commandstats')).split('\n')) {
    const m = /^cmdstat_(\w+):calls=(\d+),usec=(\d+)/.exec(line);
    if (m) out.set(m[1] as string, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return out;
}

async function main(): Promise<void> {
  const dir = 'data/bench-scripts';
  rmSync(dir, { recursive: true, force: true });
  const server = await startPrivateRedis({ dir });
  const redis = new Redis(server.url);
  const store = new RedisStore(redis, new Keys('bs:', new Shards(shardCount)), { eventsMaxLen: 2_000_000, finalRetentionSec: 3600 });
  await store.ensureGroups('a');
  // The lifecycle store exists from issue 6 on; a variable specifier lets this file also build in older trees (to compare).
  const lifecycleModule = '../engine/queue/lifecycle-store.js';
  type Mover = { moveDue(now: number, limit: number): Promise<{ taken: number }> };
  const life = share > 0 ? new ((await import(lifecycleModule)) as { LifecycleStore: new (...a: unknown[]) => Mover }).LifecycleStore(redis, store.keys, { eventsMaxLen: 2_000_000, finalRetentionSec: 3600 }, ['a']) : undefined;
  const queues = store.keys.queuesOf('a');
  await redis.config('RESETSTAT');
  const t0 = performance.now();
  let seq = 0;
  let parts = 0;
  while (seq < total) {
    const now = Date.now();
    const msgs: NewMessage[] = [];
    for (let i = 0; i < batch && seq < total; i++, seq++) {
      const n = seq % 20 === 0 ? 2 : 1;
      parts += n;
      const scheduled = share > 0 && Math.floor(seq * share) !== Math.floor((seq - 1) * share);
      const m = {
        id: newShardedMessageId(Math.floor(seq / 64) % shardCount), tenant: 't' + (seq % 4), ref: String(seq), to: '4791' + String(100000 + (seq % 900000)), from: 'Switchyard',
        smsc: 'a', dataCoding: 0, esmClass: n > 1 ? 0x40 : 0,
        parts: Array.from({ length: n }, (_, k) => ({ shortMessage: Buffer.from(`${n > 1 ? '\x05\x00\x03\x01\x02' + String.fromCharCode(k + 1) : ''}Your code is ${seq}. It expires in 10 minutes.`, 'latin1') })),
        acceptedAt: now, validUntil: now + 3600_000, ttlSec: 7200, pushStatus: true, route: 'NO|242|01|0.032|EUR',
        dueAt: scheduled ? now - 1 : 0, billOnDelivery: seq % 8 === 0,
      };
      msgs.push(m as unknown as NewMessage);
    }
    await store.enqueue(msgs);
    if (life !== undefined) while ((await life.moveDue(Date.now(), 200)).taken === 200);
    const entries: QueueEntry[] = [];
    for (let k = 0; k < 10; k++) {
      const r = await store.read('c1', queues, 10_000, '>');
      entries.push(...r.entries);
      if (r.entries.length === 0) break;
    }
    await store.submitted('a', 3600, entries.map((e) => ({ entry: e, normId: `${e.id}x${e.part}`, rawId: `${e.id}X${e.part}` })));
    await store.receipts('a', 3600, entries.map((e) => ({ state: 'D' as const, errCode: '000', errText: 'DELIVRD', key: `${e.id}x${e.part}`, raw: '' })));
  }
  const wallS = (performance.now() - t0) / 1000;
  const stats = await commandStats(redis);
  const by = (name: string) => stats.get(name)?.usec ?? 0;
  // Commands a script calls are counted both on their own and in its evalsha: the top-level calls are the total.
  // The opt-out pre-check (zmscore) is a top-level command of the enqueue since issue 13.
  const usec = by('evalsha') + by('xreadgroup') + by('zmscore');
  const inner = [...stats.entries()].filter(([k]) => k !== 'evalsha' && k !== 'xreadgroup' && k !== 'zmscore' && k !== 'info' && k !== 'config' && k !== 'xgroup' && k !== 'eval');
  const figures = {
    bench: 'state-scripts',
    messages: total,
    parts,
    batch,
    shards: shardCount,
    scheduledShare: share,
    redisUsecPerMsg: +(usec / total).toFixed(1),
    evalshaUsecPerMsg: +(by('evalsha') / total).toFixed(1),
    preCheckUsecPerMsg: +(by('zmscore') / total).toFixed(1),
    evalshaCallsPerBatch: +((stats.get('evalsha')?.calls ?? 0) / Math.ceil(total / batch)).toFixed(1),
    readUsecPerMsg: +(by('xreadgroup') / total).toFixed(1),
    // Where the scripts spend it: µs per message by command called inside them.
    insideScripts: Object.fromEntries(inner.sort((x, y) => y[1].usec - x[1].usec).slice(0, 8).map(([k, c]) => [k, +(c.usec / total).toFixed(2)])),
    wallS: +wallS.toFixed(1),
    msgsPerSec: Math.round(total / wallS),
    usedMemoryMb: Math.round(Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0) / 2 ** 20),
  };
  redis.disconnect();
  await server.stop();
  console.log(`state scripts: ${figures.redisUsecPerMsg} µs of Redis per message (${figures.evalshaUsecPerMsg} in scripts), ${figures.msgsPerSec} msg/s through one connection`);
  console.log(JSON.stringify(figures));
}

main().catch((err: Error) => {
  console.error(err);
  process.exit(1);
});
