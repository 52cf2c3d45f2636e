/**
 * The private redis-server of `switchyard start`: a run that was SIGKILLed
 * leaves its redis-server running; the next start on the same port and data
 * directory stops it (its AOF written) and starts its own, so no server is
 * left behind and no data is lost. Another Redis on the port is refused.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { privateRedisUrl, startPrivateRedis, type PrivateRedis } from '../../engine/redis/private-redis.js';
import { waitFor } from '../helpers/wait-for.js';

const dir = 'data/test-private-redis';
const started: PrivateRedis[] = [];
afterAll(async () => {
  for (const r of started) await r.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  return await new Promise((ok) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => ok(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('private redis-server', () => {
  it('takes over the server a killed run left behind, with its data', async () => {
    rmSync(dir, { recursive: true, force: true });
    const port = await freePort();
    // A run of the engine that starts its private Redis, writes a key and is SIGKILLed.
    const script = `
      import { startPrivateRedis } from ${JSON.stringify(resolve('dist/engine/redis/private-redis.js'))};
      import { Redis } from 'ioredis';
      const r = await startPrivateRedis({ dir: ${JSON.stringify(dir)}, port: ${port} });
      const c = new Redis(r.url);
      await c.set('left', 'behind');
      c.disconnect();
      console.log('ready');
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((ok, fail) => {
      child.stdout?.on('data', (d: Buffer) => d.toString().includes('ready') && ok());
      child.once('exit', (code) => fail(new Error(`child exited ${code}`)));
    });
    const probe = new Redis(privateRedisUrl(dir, port) as string);
    const oldPid = Number(/process_id:(\d+)/.exec(await probe.info('server'))?.[1]);
    probe.disconnect();
    child.kill('SIGKILL');
    await new Promise((ok) => child.once('exit', ok));
    expect(alive(oldPid)).toBe(true); // the orphan

    const r = await startPrivateRedis({ dir, port });
    started.push(r);
    await waitFor(() => !alive(oldPid), 5000, 'the orphan gone');
    const c = new Redis(r.url);
    expect(await c.get('left')).toBe('behind');
    expect(Number(/process_id:(\d+)/.exec(await c.info('server'))?.[1])).not.toBe(oldPid);
    c.disconnect();
  });

  it('refuses a port held by another Redis (another data directory)', async () => {
    const port = await freePort();
    const other = await startPrivateRedis({ dir: `${dir}-other`, port });
    started.push(other);
    await expect(startPrivateRedis({ dir, port })).rejects.toThrow(/held by another Redis/);
    rmSync(`${dir}-other`, { recursive: true, force: true });
  });
});
