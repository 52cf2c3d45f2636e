/**
 * What the code relies on in ioredis's Cluster client, checked against the
 * real local cluster (connect-redis.ts's header has the list): scripts with
 * KEYS, pipelines and MULTI within a slot or a node, keyless commands riding
 * with a pipeline's keys, auto-pipelining across nodes, and blocking reads
 * holding their node's connection unless they run on a duplicate.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectRedis, duplicateClient, isCluster, masterNodes, type RedisClient } from '../../engine/redis/connect-redis.js';
import { clusterTarget, masterOf, tagPerMaster } from '../helpers/redis-cluster.js';
import { waitFor } from '../helpers/wait-for.js';

const prefix = `t:${randomBytes(3).toString('hex')}:`;
let c: Cluster;
const extra: RedisClient[] = [];
/** master "host:port" -> a hash tag it serves */
let tags: Map<string, string>;

function cluster(): Cluster {
  const r = connectRedis(clusterTarget(), { connectionName: 'sy-test-cluster' });
  if (!isCluster(r)) throw new Error('not a cluster client');
  return r;
}

/** The tcp_port of the node that answered an INFO server reply. */
function portOf(info: unknown): string {
  return /tcp_port:(\d+)/.exec(String(info))?.[1] ?? '?';
}

beforeAll(async () => {
  c = cluster();
  await c.ping();
  tags = await tagPerMaster(c, prefix);
});

afterAll(async () => {
  for (const m of masterNodes(c)) {
    const keys = await m.keys(prefix + '*');
    for (const k of keys) await c.del(k);
  }
  for (const x of extra) x.disconnect();
  c.disconnect();
});

describe('ioredis Cluster against the local cluster', () => {
  it('connects with the password to 3 masters, each with a replica', async () => {
    expect(masterNodes(c)).toHaveLength(3);
    expect(tags.size).toBe(3);
    const info = await Promise.all(masterNodes(c).map((m) => m.info('replication')));
    for (const i of info) expect(i).toMatch(/connected_slaves:1/);
  });

  it('a script runs on the master of its KEYS\' slot; keys of several slots are refused; undeclared keys elsewhere fail', async () => {
    c.defineCommand('syTestPair', { numberOfKeys: 2, lua: "redis.call('SET', KEYS[1], ARGV[1]); redis.call('SET', KEYS[2], ARGV[1]); return redis.call('INFO', 'server')" });
    const run = c as unknown as { syTestPair(...a: string[]): Promise<string> };
    // Each master: EVAL on first use of its connection, then EVALSHA; both keys written there.
    for (const [master, tag] of tags) {
      expect(portOf(await run.syTestPair(`${prefix}a${tag}`, `${prefix}b${tag}`, 'v'))).toBe(master.split(':')[1]);
      expect(portOf(await run.syTestPair(`${prefix}a${tag}`, `${prefix}b${tag}`, 'w'))).toBe(master.split(':')[1]);
      expect(await c.get(`${prefix}b${tag}`)).toBe('w');
    }
    const [t1, t2] = [...tags.values()] as [string, string];
    // Refused before sending by the auto-pipeline's slot check (without auto-pipelining Redis says CROSSSLOT).
    await expect(run.syTestPair(`${prefix}a${t1}`, `${prefix}a${t2}`, 'x')).rejects.toThrow(/should belong to the same slot/);
    const plain = connectRedis(clusterTarget(), { connectionName: 'sy-test-plain', blocking: true });
    extra.push(plain);
    plain.defineCommand('syTestPair', { numberOfKeys: 2, lua: "redis.call('SET', KEYS[1], ARGV[1]); redis.call('SET', KEYS[2], ARGV[1]); return 1" });
    await expect((plain as unknown as { syTestPair(...a: string[]): Promise<number> }).syTestPair(`${prefix}a${t1}`, `${prefix}a${t2}`, 'x')).rejects.toThrow(/CROSSSLOT/);
    expect(await c.get(`${prefix}a${t1}`)).toBe('w');
    // Keys built inside the script (numberOfKeys 0): it runs on some master, and touching a key of
    // every master fails on whichever it is. Every key must be declared in KEYS.
    c.defineCommand('syTestHidden', { numberOfKeys: 0, lua: "for i = 1, #ARGV do redis.call('SET', ARGV[i], 'x') end return 1" });
    const keys = [...tags.values()].map((t) => `${prefix}h${t}`);
    await expect((c as unknown as { syTestHidden(...a: string[]): Promise<number> }).syTestHidden(...keys)).rejects.toThrow(/non local key/);
  });

  it('a pipeline goes to one master: one slot or one node; across nodes it is refused before anything is sent', async () => {
    const [[m1, t1], [, t2]] = [...tags.entries()] as [[string, string], [string, string]];
    // Two slots on the same node: find a second tag on m1.
    let other = '';
    for (let i = 0; other === ''; i++) if ((await masterOf(c, `{${prefix}x${i}}`)) === m1 && `{${prefix}x${i}}` !== t1) other = `{${prefix}x${i}}`;
    const same = await c.pipeline().set(`${prefix}p${t1}`, '1').set(`${prefix}p${other}`, '2').info('server').exec();
    expect(same?.map(([e]) => e)).toEqual([null, null, null]);
    // The keyless INFO went with the keys, to their master: so would WAIT.
    expect(portOf(same?.[2]?.[1])).toBe(m1.split(':')[1]);
    const waited = await c.pipeline().set(`${prefix}w${t1}`, '1').wait(1, 5000).exec();
    expect(waited?.[1]).toEqual([null, 1]);
    await expect(c.pipeline().set(`${prefix}q${t1}`, '1').set(`${prefix}q${t2}`, '2').exec()).rejects.toThrow(/same slots allocation group/);
    expect(await c.exists(`${prefix}q${t1}`)).toBe(0);
  });

  it('MULTI needs one slot: across slots the transaction is aborted and writes nothing', async () => {
    const [t1, t2] = [...tags.values()] as [string, string];
    expect(await c.multi().set(`${prefix}m1${t1}`, '1').incr(`${prefix}m2${t1}`).exec()).toEqual([[null, 'OK'], [null, 1]]);
    let other = '';
    for (let i = 0; other === ''; i++) if ((await masterOf(c, `{${prefix}y${i}}`)) === (await masterOf(c, t1)) && `{${prefix}y${i}}` !== t1) other = `{${prefix}y${i}}`;
    // Same node, two slots: Redis refuses it (CROSSSLOT), the transaction aborts.
    await expect(c.multi().set(`${prefix}m3${t1}`, '1').set(`${prefix}m3${other}`, '1').exec()).rejects.toThrow(/EXECABORT|CROSSSLOT/);
    expect(await c.exists(`${prefix}m3${t1}`)).toBe(0);
    await expect(c.multi().set(`${prefix}m4${t1}`, '1').set(`${prefix}m4${t2}`, '1').exec()).rejects.toThrow();
    expect(await c.exists(`${prefix}m4${t1}`)).toBe(0);
  });

  it('auto-pipelining sends one tick\'s commands to every node, each answered in order', async () => {
    const keys = Array.from({ length: 600 }, (_, i) => `${prefix}ap:${i}`);
    const masters = new Set(await Promise.all(keys.slice(0, 60).map((k) => masterOf(c, k))));
    expect(masters.size).toBe(3);
    const sets = keys.map((k, i) => c.set(k, String(i)));
    expect(c.autoPipelineQueueSize).toBeGreaterThan(0); // queued in this tick, not sent one by one
    await Promise.all(sets);
    expect(await Promise.all(keys.map((k) => c.get(k)))).toEqual(keys.map((_, i) => String(i)));
  });

  it('a blocking read holds its node\'s connection: commands to that node wait behind it, unless the read runs on a duplicate', async () => {
    const [master, tag] = [...tags.entries()][0] as [string, string];
    const stream = `${prefix}s${tag}`;
    const key = `${prefix}k${tag}`;
    await c.set(key, 'v');
    await c.xgroup('CREATE', stream, 'g', '$', 'MKSTREAM');
    // Checks and writes go through another client: its own connections.
    const other = cluster();
    extra.push(other);
    await other.ping();
    const node = other.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === master) as NonNullable<ReturnType<Cluster['nodes']>[number]>;
    const blocked = async (n: number) => waitFor(async () => Number(/blocked_clients:(\d+)/.exec(await node.info('clients'))?.[1]) >= n, 10_000, 'the read blocked in Redis');
    const order: string[] = [];

    // On the shared client: the GET queues behind the read on the node's one connection.
    const read = c.xreadgroup('GROUP', 'g', 'c1', 'COUNT', 1, 'BLOCK', 0, 'STREAMS', stream, '>').then(() => order.push('read'));
    await blocked(1);
    const get = c.get(key).then(() => order.push('get'));
    await other.xadd(stream, '*', 'f', '1');
    await Promise.all([read, get]);
    expect(order).toEqual(['read', 'get']);

    // On a duplicate: the GET is answered while the read is still blocked.
    const dup = duplicateClient(c, 'sy-test-blocking');
    extra.push(dup);
    let readDone = false;
    const read2 = dup.xreadgroup('GROUP', 'g', 'c2', 'COUNT', 1, 'BLOCK', 0, 'STREAMS', stream, '>').then(() => (readDone = true));
    await blocked(1);
    expect(await c.get(key)).toBe('v');
    expect(readDone).toBe(false);
    await other.xadd(stream, '*', 'f', '2');
    await read2;
  });

  it('switchyard start runs an engine on the cluster named by REDIS_CLUSTER_NODES (records its shard layout there, stops cleanly on a SIGTERM as it comes up)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-cluster-start-'));
    const cfgPrefix = `${prefix}start:`;
    const cfg = JSON.parse(readFileSync('config/demo.json', 'utf8')) as Record<string, unknown>;
    cfg.redis = { keyPrefix: cfgPrefix, shards: 6 };
    // Not the point here, and its default data directory is shared by the worktree's runs.
    cfg.analytics = { enabled: false };
    // No SMSC listens on port 9: the actors retry their binds; the engine starts regardless.
    for (const s of cfg.smscs as Array<Record<string, unknown>>) s.port = 9;
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify(cfg));
    const env = { ...process.env, REDIS_URL: '', REDIS_CLUSTER_NODES: inject('redisCluster').seeds, REDIS_PASSWORD: inject('redisCluster').password ?? '', SWITCHYARD_DEMO_KEY: 'k'.repeat(32), SWITCHYARD_SIM_PASSWORD: 'pw' };
    const child = spawn(process.execPath, ['dist/engine/cli.js', 'start', '--config', file, '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
    // Bounded: an engine that never stops is killed after 60 s and the test fails.
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    try {
      await waitFor(() => out.includes('switchyard listening on') || child.exitCode !== null, 45_000, 'the engine listening (or exiting)');
      expect(out).not.toContain('CONFIG_INVALID');
      expect(out).toContain('switchyard listening on');
      // At once: a SIGTERM as the start completes is a clean stop too.
      child.kill('SIGTERM');
      expect(await exited, out).toBe(0);
      expect(await c.hget(`${cfgPrefix}{c}:meta`, 'shards')).toBe('6');
    } finally {
      clearTimeout(timer);
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
