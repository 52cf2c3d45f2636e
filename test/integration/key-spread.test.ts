/**
 * How evenly the message path's Redis work spreads over a cluster's masters
 * (issue 13; README "Redis Cluster"). On its own cluster (3 masters, no
 * replicas: the shared one's counters are other tests' too), a load run
 * through the store as the engine drives it (ids from the ingress's shard
 * picker, one enqueue per tick, reads over the SMSC's shard streams, submit
 * responses and receipts in their two steps) with redis.shards = 48 (the
 * README's recommendation for up to 16 masters). Then:
 *   - every master holds its share of the keys (DBSIZE) and ran its share of
 *     the commands (INFO commandstats, script-internal calls included) within
 *     ±15 % of an even split;
 *   - no single key takes more than 5 % of the operations (every command seen
 *     by MONITOR on the masters, inside scripts or not, counted by its key).
 */
import { rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ShardPicker } from '../../engine/ingress/shard-picker.js';
import { newShardedMessageId } from '../../engine/ingress/message-id.js';
import { Keys } from '../../engine/queue/keys.js';
import { RedisStore, type NewMessage, type QueueEntry } from '../../engine/queue/redis-store.js';
import { Shards } from '../../engine/queue/shards.js';
import { connectRedis, type RedisClient } from '../../engine/redis/connect-redis.js';
import { startPrivateCluster, type PrivateCluster } from '../../engine/redis/private-cluster.js';

// Named as the run's own cluster is (test-cluster-<pid>): a killed run's is removed by the next.
const dir = `data/test-cluster-${process.pid}-spread`;
const SHARDS = 48;
const TICKS = SHARDS * 4; // every shard gets four ticks' batches
const PER_TICK = 20;
const MAX_KEY_SHARE = 0.05;
const TOLERANCE = 0.15;
/** Commands that are not the message path's (the test's own look at the masters). */
const ADMIN = new Set(['info', 'config', 'dbsize', 'monitor', 'cluster', 'client', 'ping', 'select', 'readonly', 'command', 'script', 'evalsha', 'eval', 'exec', 'multi']);

let pc: PrivateCluster;
let r: RedisClient;
let masters: Redis[] = [];

beforeAll(async () => {
  pc = await startPrivateCluster({ dir, replicas: 0 });
  r = connectRedis({ kind: 'cluster', nodes: pc.nodes, password: pc.password }, { connectionName: 'sy-test-spread' });
  const ports = (await pc.topology()).filter((n) => n.role === 'master').map((n) => n.port);
  masters = ports.map((port) => new Redis({ host: '127.0.0.1', port, password: pc.password }));
}, 120_000);

afterAll(async () => {
  r?.disconnect();
  for (const m of masters) m.disconnect();
  await pc?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

/** The key a command MONITOR reported works on (undefined: none, or not the message path's). */
function keyOf(args: ReadonlyArray<string>): string | undefined {
  const cmd = (args[0] ?? '').toLowerCase();
  if (ADMIN.has(cmd)) return undefined;
  if (cmd === 'xreadgroup') {
    const i = args.findIndex((a) => a.toUpperCase() === 'STREAMS');
    return i < 0 ? undefined : args[i + 1];
  }
  return args[1];
}

it('after a load run every master holds its share of keys and commands (±15 %), and no key takes over 5 % of operations', async () => {
  const keys = new Keys('ks:', new Shards(SHARDS));
  const store = new RedisStore(r, keys, { eventsMaxLen: 1_000_000, finalRetentionSec: 3600 }, { smscs: ['a'] });
  await store.ensureGroups('a');
  const queues = keys.queuesOf('a');
  for (const m of masters) await m.config('RESETSTAT');
  const ops = new Map<string, number>();
  const monitors = await Promise.all(masters.map((m) => m.monitor()));
  for (const mon of monitors) {
    mon.on('monitor', (_time: string, args: string[]) => {
      const k = keyOf(args);
      if (k !== undefined) ops.set(k, (ops.get(k) ?? 0) + 1);
    });
  }

  const picker = new ShardPicker(SHARDS, 0);
  let seq = 0;
  const ids: string[] = [];
  const drain = async () => {
    for (;;) {
      const got = await store.read('c1', queues, 1000, '>');
      const entries: QueueEntry[] = got.entries;
      if (entries.length === 0) return;
      await store.submitted('a', 3600, entries.map((e) => ({ entry: e, normId: `${e.id}x${e.part}`, rawId: `${e.id}X${e.part}` })));
      await store.receipts('a', 3600, entries.map((e) => ({ state: 'D' as const, errCode: '000', errText: 'DELIVRD', key: `${e.id}x${e.part}`, raw: '' })));
    }
  };
  for (let tick = 0; tick < TICKS; tick++) {
    const now = Date.now();
    const msgs: NewMessage[] = [];
    for (let i = 0; i < PER_TICK; i++, seq++) {
      const n = seq % 20 === 0 ? 2 : 1;
      const id = newShardedMessageId(picker.next());
      ids.push(id);
      msgs.push({
        id, tenant: `t${seq % 4}`, ref: String(seq), to: `4791${100000 + seq}`, from: 'Switchyard',
        smsc: 'a', dataCoding: 0, esmClass: n > 1 ? 0x40 : 0,
        parts: Array.from({ length: n }, (_, k) => ({ shortMessage: Buffer.from(`${n > 1 ? `\x05\x00\x03\x01\x02${String.fromCharCode(k + 1)}` : ''}code ${seq}`, 'latin1') })),
        acceptedAt: now, validUntil: now + 3_600_000, ttlSec: 7200, pushStatus: true, route: 'NO|242|01|0.032|EUR', dueAt: 0, billOnDelivery: seq % 8 === 0,
      } as unknown as NewMessage);
    }
    await store.enqueue(msgs);
    // The next batch is the next tick's: the picker moves to the next shard.
    await new Promise((ok) => setImmediate(ok));
    if (tick % 8 === 7) await drain();
  }
  await drain();
  for (const mon of monitors) mon.disconnect();

  const finals = await Promise.all(masters.map(async (m) => (await m.info('commandstats')).split('\n')));
  const calls = finals.map((lines) =>
    lines.reduce((sum, line) => {
      const x = /^cmdstat_(\w+):calls=(\d+)/.exec(line);
      return x && !ADMIN.has((x[1] as string).toLowerCase()) ? sum + Number(x[2]) : sum;
    }, 0),
  );
  const sizes = await Promise.all(masters.map((m) => m.dbsize()));
  const even = (xs: number[]) => xs.map((x) => x / (xs.reduce((a, b) => a + b, 0) / xs.length));
  const report = { calls, sizes, keysSeen: ops.size };
  for (const share of [...even(calls), ...even(sizes)]) {
    expect(share, JSON.stringify(report)).toBeGreaterThanOrEqual(1 - TOLERANCE);
    expect(share, JSON.stringify(report)).toBeLessThanOrEqual(1 + TOLERANCE);
  }
  const total = [...ops.values()].reduce((a, b) => a + b, 0);
  const [hotKey, hotOps] = [...ops].sort((x, y) => y[1] - x[1])[0] as [string, number];
  expect(total).toBeGreaterThan(seq * 5); // MONITOR saw the scripts' inner calls, not just the top-level ones
  expect(hotOps / total, `hottest key ${hotKey}: ${hotOps} of ${total} operations`).toBeLessThanOrEqual(MAX_KEY_SHARE);
  // The whole path ran: every message has its final state (delivered) in its shard.
  const sample = ids.filter((_, i) => i % 97 === 0);
  const states = await Promise.all(sample.map((id) => r.hget(keys.msg(id), 's')));
  expect(states).toEqual(sample.map(() => 'delivered'));
}, 240_000);
