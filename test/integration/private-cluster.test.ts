/**
 * The local Redis Cluster (engine/redis/private-cluster.ts): it binds
 * 127.0.0.1, requires its password and keeps it off every command line, its
 * directories are 0700 and its config files 0600; the clusters of killed runs
 * are removed by the next one (a live run's are left alone); a directory it
 * did not make is never wiped.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { parseClusterNodes } from '../../engine/redis/connect-redis.js';
import { removeDeadClusters, startPrivateCluster } from '../../engine/redis/private-cluster.js';
import { probeConnection } from '../../engine/redis/redis-server-kit.js';
import { waitFor } from '../helpers/wait-for.js';

const parent = `data/test-private-cluster-${process.pid}`;
afterAll(() => rmSync(parent, { recursive: true, force: true }));

function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

describe('private cluster', () => {
  // An external cluster (REDIS_CLUSTER_NODES) is not ours to check.
  it.skipIf(Boolean(process.env.REDIS_CLUSTER_NODES))('binds 127.0.0.1, requires its password (never on a command line), dirs 0700, configs 0600', async () => {
    const { seeds, password } = inject('redisCluster');
    if (password === undefined) throw new Error('the private cluster has no password');
    for (const { port } of parseClusterNodes(seeds)) {
      const anon = new Redis({ port, host: '127.0.0.1', lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
      anon.on('error', () => undefined);
      await expect(anon.connect().then(() => anon.ping())).rejects.toThrow(/NOAUTH/);
      anon.disconnect();
      const r = probeConnection(port, password);
      await r.connect();
      expect(await r.config('GET', 'bind')).toEqual(['bind', '127.0.0.1']);
      expect(await r.config('GET', 'protected-mode')).toEqual(['protected-mode', 'yes']);
      const dir = ((await r.config('GET', 'dir')) as string[])[1] as string;
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(statSync(join(dir, '..')).mode & 0o777).toBe(0o700);
      expect(statSync(join(dir, 'redis.conf')).mode & 0o777).toBe(0o600);
      expect(readFileSync(join(dir, 'redis.conf'), 'utf8')).toContain(`requirepass ${password}`);
      const pid = Number(/process_id:(\d+)/.exec(await r.info('server'))?.[1]);
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      expect(cmdline).toContain(`127.0.0.1:${port}`);
      expect(cmdline).not.toContain(password);
      r.disconnect();
    }
  });

  it('removes the cluster of a killed run, leaves a live run\'s, and refuses to wipe a directory it did not make', async () => {
    mkdirSync(parent, { recursive: true });
    // A run that starts a cluster (no replicas: 3 nodes) and is SIGKILLed: its nodes keep running.
    const script = `
      import { startPrivateCluster } from ${JSON.stringify(resolve('dist/engine/redis/private-cluster.js'))};
      const c = await startPrivateCluster({ dir: ${JSON.stringify(parent)} + '/test-cluster-' + process.pid, replicas: 0 });
      console.log(JSON.stringify({ dir: c.dir, seeds: c.seeds, password: c.password }));
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const started = await new Promise<{ dir: string; seeds: string; password: string }>((ok, fail) => {
      let out = '';
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) ok(JSON.parse(out.split('\n')[0] as string) as { dir: string; seeds: string; password: string });
      });
      child.once('exit', (code) => fail(new Error(`child exited ${code}`)));
    });
    const pids: number[] = [];
    for (const { port } of parseClusterNodes(started.seeds)) {
      const r = probeConnection(port, started.password);
      await r.connect();
      pids.push(Number(/process_id:(\d+)/.exec(await r.info('server'))?.[1]));
      r.disconnect();
    }
    child.kill('SIGKILL');
    await new Promise((ok) => child.once('exit', ok));
    expect(pids.every(alive)).toBe(true); // the orphans

    // A live run's cluster directory (this process's pid) is left alone.
    const live = join(parent, `test-cluster-${process.pid}`);
    mkdirSync(live);
    writeFileSync(join(live, '.switchyard-cluster'), '');
    await removeDeadClusters(parent, 'test-cluster-');
    await waitFor(() => !pids.some(alive), 10_000, 'the orphan nodes gone');
    expect(existsSync(started.dir)).toBe(false);
    expect(existsSync(live)).toBe(true);

    // A directory with files and no marker is not wiped.
    const foreign = join(parent, 'foreign');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'precious'), 'x');
    await expect(startPrivateCluster({ dir: foreign })).rejects.toThrow(/not a private cluster's directory .*refusing to wipe it/);
    expect(readFileSync(join(foreign, 'precious'), 'utf8')).toBe('x');
  });
});
