/**
 * Data at rest (issue 11): the private Redis and the analytics data hold
 * phone numbers. Another local user could read both (0755 directories, 0644
 * files) and talk to the private Redis (no password). Now: directories 0700,
 * files 0600, a generated password kept in a 0600 config file (never on the
 * command line), and every connection the engine builds carries it — the
 * whole suite runs against such a Redis (test/global-setup.ts), actors,
 * analytics process and webhook thread included.
 */
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { startHarness, type Harness } from '../../engine/loadgen/harness.js';
import { privateRedisUrl, redactedUrl, startPrivateRedis, type PrivateRedis } from '../../engine/redis/private-redis.js';
import { waitFor } from '../helpers/wait-for.js';
import { connectClient, type TestClient } from '../helpers/ws-client.js';

const root = mkdtempSync(join(tmpdir(), 'sy-rest-'));
let redis: PrivateRedis | undefined;
let h: Harness | undefined;
let c: TestClient | undefined;
afterAll(async () => {
  await c?.close();
  await h?.stop();
  await redis?.stop();
  rmSync(root, { recursive: true, force: true });
});

/** Every path under dir (dir included) whose mode gives group or others any access. */
function openToOthers(dir: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = statSync(p);
    if ((st.mode & 0o077) !== 0) out.push(`${p} ${(st.mode & 0o777).toString(8)}`);
    if (st.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
  };
  walk(dir);
  return out;
}

describe('data at rest', () => {
  it('the private Redis could be read by another local user: now 0700/0600 files and a password that is not on its command line', async () => {
    const dir = join(root, 'data', 'redis');
    redis = await startPrivateRedis({ dir });
    const c1 = new Redis(redis.url);
    await c1.set('n', '+4791234567');
    await c1.call('BGREWRITEAOF');
    await waitFor(async () => /aof_rewrite_in_progress:0/.test(await c1.info('persistence')) && /aof_rewrite_scheduled:0/.test(await c1.info('persistence')), 10_000, 'AOF rewrite done');
    expect(statSync(join(root, 'data')).mode & 0o777).toBe(0o700);
    expect(openToOthers(dir)).toEqual([]);
    expect(readdirSync(dir)).toEqual(expect.arrayContaining(['redis.conf', 'appendonlydir']));
    expect(readFileSync(join(dir, 'redis.conf'), 'utf8')).toMatch(/^requirepass [0-9a-f]{48}$/m);
    expect(readdirSync(join(dir, 'appendonlydir')).length).toBeGreaterThan(0);

    // Without the password: refused.
    const password = new URL(redis.url).password;
    expect(password).toMatch(/^[0-9a-f]{48}$/);
    const anon = new Redis({ port: redis.port, host: '127.0.0.1', lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    anon.on('error', () => undefined);
    await anon.connect();
    await expect(anon.get('n')).rejects.toThrow(/NOAUTH/);
    anon.disconnect();
    // Not on the server's command line (what `ps` shows another user), and not in a logged URL.
    const pid = Number(/process_id:(\d+)/.exec(await c1.info('server'))?.[1]);
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.toContain(password);
    expect(redactedUrl(redis.url)).toBe(`redis://:***@127.0.0.1:${redis.port}`);
    c1.disconnect();

    // The same data directory keeps its password across restarts; CLI commands find it there.
    await redis.stop();
    redis = await startPrivateRedis({ dir, port: redis.port });
    expect(new URL(redis.url).password).toBe(password);
    expect(privateRedisUrl(dir, redis.port)).toBe(redis.url);
    const c2 = new Redis(privateRedisUrl(dir, redis.port) as string);
    expect(await c2.get('n')).toBe('+4791234567');
    c2.disconnect();
    expect(privateRedisUrl(join(root, 'nothing-here'), 1)).toBeUndefined();
  });

  it('the analytics data directory could be read by another local user: now 0700, and what the analytics process writes 0600', async () => {
    expect(new URL(inject('redisUrl')).password).not.toBe(''); // the suite's own Redis has a password too
    const dataDir = join(root, 'data', 'analytics');
    h = await startHarness({ redisUrl: inject('redisUrl'), smscs: 1, analyticsDir: dataDir });
    await waitFor(() => h!.engine.analytics?.ready === true, 30_000, 'analytics ready');
    c = await connectClient(h.wsUrl, h.apiKey);
    c.send({ op: 'submit', ref: 'r', to: '+4791234567', from: 'Acme', text: 'at rest' });
    await waitFor(() => (h!.engine.analytics?.inserted ?? 0) >= 2, 20_000, 'events in ClickHouse');
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(openToOthers(dataDir)).toEqual([]);
  });
});
