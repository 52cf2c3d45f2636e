/**
 * Redirections and failover on a cluster of this file's own (3 masters with a
 * replica each; the shared one must not lose a master under other tests):
 * ioredis follows MOVED (after a manual failover) and ASK (a slot being
 * migrated) without the caller seeing them; when a master is SIGKILLed under
 * writes, the client moves to the promoted replica (a client sending only
 * pipelines too: its slot map is refreshed every second), the errors a caller
 * sees meanwhile are only retryable kinds, and writes WAIT confirmed on a
 * replica survive; the killed master comes back as a replica (private-cluster.ts).
 */
import { rmSync } from 'node:fs';
import { Cluster, type Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyRedisError, connectRedis, isCluster, type RedisErrorKind } from '../../engine/redis/connect-redis.js';
import { startPrivateCluster, type PrivateCluster } from '../../engine/redis/private-cluster.js';
import { probeConnection } from '../../engine/redis/redis-server-kit.js';
import { masterOf, tagPerMaster } from '../helpers/redis-cluster.js';
import { waitFor } from '../helpers/wait-for.js';

// Named as the run's own cluster is (test-cluster-<pid>, here the worker's pid): a killed run's is removed by the next.
const dir = `data/test-cluster-${process.pid}`;
let pc: PrivateCluster;
let c: Cluster;
const extra: Cluster[] = [];
const probes = new Map<number, Redis>();

/** A plain connection to one node (not through the cluster client). */
async function node(port: number): Promise<Redis> {
  let r = probes.get(port);
  if (r === undefined || r.status === 'end') {
    r = probeConnection(port, pc.password);
    probes.set(port, r);
    await r.connect();
  }
  return r;
}

/** errorstat_<CODE> count of a node (INFO errorstats): how many such error replies it sent. */
async function errorCount(port: number, code: string): Promise<number> {
  return Number(new RegExp(`errorstat_${code}:count=(\\d+)`).exec(await (await node(port)).info('errorstats'))?.[1] ?? 0);
}

function portOf(info: unknown): number {
  return Number(/tcp_port:(\d+)/.exec(String(info))?.[1] ?? 0);
}

beforeAll(async () => {
  pc = await startPrivateCluster({ dir });
  const r = connectRedis({ kind: 'cluster', nodes: pc.nodes, password: pc.password }, { connectionName: 'sy-test-failover' });
  if (!isCluster(r)) throw new Error('not a cluster client');
  c = r;
  await c.ping();
});

afterAll(async () => {
  c?.disconnect();
  for (const x of extra) x.disconnect();
  for (const p of probes.values()) p.disconnect();
  await pc?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('redirections and failover', () => {
  /** A client that refreshes its slot map only when ioredis itself decides to: redirections stay visible. */
  async function noRefreshClient(): Promise<Cluster> {
    const r = connectRedis({ kind: 'cluster', nodes: pc.nodes, password: pc.password }, { connectionName: 'sy-test-redirect', slotsRefreshMs: 0 });
    if (!isCluster(r)) throw new Error('not a cluster client');
    extra.push(r);
    await r.ping();
    return r;
  }

  it('follows MOVED after a manual failover for a single command; a pipeline with a write and INFO gets the MOVED back', async () => {
    const rc = await noRefreshClient();
    const tags = await tagPerMaster(rc, 'mv');
    const [master, tag] = [...tags.entries()][0] as [string, string];
    const oldPort = Number(master.split(':')[1]);
    const replica = (await pc.topology()).find((n) => n.masterPort === oldPort)?.port as number;
    await rc.set(`k${tag}`, '1');
    const moved = await errorCount(oldPort, 'MOVED');
    await (await node(replica)).call('CLUSTER', 'FAILOVER');
    await waitFor(async () => (await pc.topology()).find((n) => n.port === replica)?.role === 'master', 30_000, 'the replica to take over');
    await pc.waitHealthy();
    // The client still maps the slot to the old master. A pipeline mixing the write with a command
    // not flagged read-only (INFO, WAIT) is not resent: the write's MOVED comes back, unfollowed.
    const p = await rc.pipeline().set(`k${tag}`, '2').info('server').exec();
    expect(String(p?.[0]?.[0])).toMatch(/^ReplyError: MOVED \d+ 127\.0\.0\.1:\d+$/);
    expect(classifyRedisError(p?.[0]?.[0])).toBe('not-run');
    expect(portOf(p?.[1]?.[1])).toBe(oldPort);
    expect(await rc.get(`k${tag}`)).toBe('1');
    // A single command follows it: resent to the new master, the slot map updated.
    expect(await rc.set(`k${tag}`, '2')).toBe('OK');
    expect(await errorCount(oldPort, 'MOVED')).toBeGreaterThan(moved + 1);
    expect(await masterOf(rc, `k${tag}`)).toBe(`127.0.0.1:${replica}`);
    const q = await rc.pipeline().set(`k${tag}`, '3').info('server').exec();
    expect(q?.[0]).toEqual([null, 'OK']);
    expect(portOf(q?.[1]?.[1])).toBe(replica);
  });

  it('follows ASK while a slot is migrated, without changing its slot map', async () => {
    const rc = await noRefreshClient();
    const tags = await tagPerMaster(rc, 'ask');
    const [[from, tag], [to]] = [...tags.entries()] as [[string, string], [string, string]];
    const [fromPort, toPort] = [Number(from.split(':')[1]), Number(to.split(':')[1])];
    const key = `k${tag}`;
    await rc.set(key, 'here');
    const slot = Number(await rc.call('CLUSTER', 'KEYSLOT', key));
    const [src, dst] = [await node(fromPort), await node(toPort)];
    const [fromId, toId] = [String(await src.call('CLUSTER', 'MYID')), String(await dst.call('CLUSTER', 'MYID'))];
    await dst.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId);
    await src.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId);
    await src.call('MIGRATE', '127.0.0.1', toPort, '', 0, 5000, 'AUTH', pc.password, 'KEYS', key);
    const asks = await errorCount(fromPort, 'ASK');
    expect(await rc.get(key)).toBe('here'); // asked at `from`, told ASK, read at `to`
    expect(await errorCount(fromPort, 'ASK')).toBe(asks + 1);
    expect(await masterOf(rc, key)).toBe(from); // ASK is one-off: the map is unchanged
    // End the migration: the slot is `to`'s; the next command follows MOVED.
    for (const m of (await pc.topology()).filter((n) => n.role === 'master')) await (await node(m.port)).call('CLUSTER', 'SETSLOT', slot, 'NODE', toId);
    await pc.waitHealthy();
    expect(await rc.get(key)).toBe('here');
    expect(await masterOf(rc, key)).toBe(to);
  });

  it('a master killed under writes: the client moves to the promoted replica, callers see only retryable errors, WAIT-confirmed writes survive; the old master rejoins as a replica', async () => {
    await new Promise<void>((ok, fail) => c.refreshSlotsCache((e) => (e ? fail(e) : ok())));
    const tags = await tagPerMaster(c, 'kill');
    const [victim, tag] = [...tags.entries()][0] as [string, string];
    const victimPort = Number(victim.split(':')[1]);
    const confirmed: number[] = []; // SET acknowledged and WAIT saw it on the replica
    const errors = { pipelined: new Map<string, number>(), plain: new Map<string, number>() };
    const kinds = new Set<RedisErrorKind>();
    const note = (m: Map<string, number>, err: unknown) => {
      kinds.add(classifyRedisError(err));
      const k = String((err as Error).message).replace(/\d+/g, 'N');
      m.set(k, (m.get(k) ?? 0) + 1);
    };
    let promoted: number | undefined = undefined; // set once the replica took over (the writers read it)
    const after = { pipelined: 0, plain: 0 };
    let i = 0;
    const done = () => after.pipelined >= 20 && after.plain >= 20;
    // Bounded: stops once 20 writes of each kind were acknowledged by the promoted master, or at the deadline.
    // A writer backs off 20 ms after an error, as a caller of pipelines must (they are not resent for it).
    const deadline = Date.now() + 50_000;
    const backoff = () => new Promise((ok) => setTimeout(ok, 20));
    const pipelined = async () => {
      while (!done() && Date.now() < deadline) {
        const n = i++;
        try {
          // WAIT gives up after 200 ms: the promoted master has no replica until the old one is back.
          const r = await c.pipeline().set(`w${tag}:${n}`, String(n)).wait(1, 200).info('server').exec();
          if (r?.[0]?.[0]) throw r[0][0];
          if (Number(r?.[1]?.[1]) >= 1) confirmed.push(n);
          if (promoted !== undefined && portOf(r?.[2]?.[1]) === promoted) after.pipelined++;
        } catch (err) {
          note(errors.pipelined, err);
          await backoff();
        }
      }
    };
    // Single commands on a client of their own: on `c`, their MOVED would refresh the slot map for
    // the pipelines too, and hide whether pipelines alone find the promoted master (slotsRefreshMs).
    const single = connectRedis({ kind: 'cluster', nodes: pc.nodes, password: pc.password }, { connectionName: 'sy-test-single' }) as Cluster;
    extra.push(single);
    const plain = async () => {
      while (!done() && Date.now() < deadline) {
        const n = i++;
        try {
          await single.set(`p${tag}:${n}`, String(n));
          if (promoted !== undefined) after.plain++;
        } catch (err) {
          note(errors.plain, err);
          await backoff();
        }
      }
    };
    const writers = [pipelined(), pipelined(), plain()];
    await waitFor(() => confirmed.length >= 20, 20_000, 'writes before the kill');
    const k = await pc.killMaster(victimPort);
    promoted = k.promoted;
    expect(promoted).toBeDefined();
    await Promise.all(writers);
    console.log(`failover of ${victimPort} to ${promoted}: errors seen by pipelines ${JSON.stringify([...errors.pipelined])}, by single commands ${JSON.stringify([...errors.plain])}`);
    // Both kinds of writer reached the promoted master. Without the slot map refresh (slotsRefreshMs: 0)
    // the pipelines get MOVED from then on and never do (checked: thousands of MOVED in 50 s).
    expect(after.pipelined).toBeGreaterThanOrEqual(20);
    expect(after.plain).toBeGreaterThanOrEqual(20);
    expect(await masterOf(c, `w${tag}:0`)).toBe(`127.0.0.1:${promoted}`);
    // Errors a caller saw during the failover: none that says "this will fail again".
    expect([...kinds].filter((x) => x === 'failed')).toEqual([]);
    // Every write a replica confirmed (WAIT) is on the promoted master.
    const got = await Promise.all(confirmed.map((n) => c.get(`w${tag}:${n}`)));
    expect(got.filter((v, j) => v !== String(confirmed[j]))).toEqual([]);
    // The old master comes back as a replica of the one that replaced it.
    await pc.restartNode(victimPort);
    const back = (await pc.topology()).find((n) => n.port === victimPort);
    expect(back).toMatchObject({ role: 'replica', masterPort: promoted });
  });
});
