/**
 * The CLI commands that read or write the engines' Redis themselves (`usage
 * --config`, `mnp load`), with the state in 4 shards, on a single Redis
 * (REDIS_URL) and on the local Redis Cluster (REDIS_CLUSTER_NODES): the usage
 * report sums the shards' usage hashes and equals the engine's own answer;
 * the MNP table is swapped in the control slot and a running engine routes by
 * it; a prefix where no engine ever ran is refused by name.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { FILL } from '../../engine/ingress/shard-picker.js';
import type { Harness, HarnessOptions } from '../../engine/loadgen/harness.js';
import type { RedisTarget } from '../../engine/redis/connect-redis.js';
import { clusterTarget } from '../helpers/redis-cluster.js';
import { harnessSession } from '../helpers/harness-session.js';
import { api } from '../helpers/http.js';
import type { Frame } from '../helpers/ws-client.js';
import { waitFor } from '../helpers/wait-for.js';

const ADMIN = 'admin-key-cli-redis-0123456789';
const session = harnessSession();

const targets: Array<[string, () => Partial<HarnessOptions>, () => Record<string, string>]> = [
  ['a single Redis (REDIS_URL)', () => ({ shards: 4 }), () => ({ REDIS_URL: inject('redisUrl') })],
  ['the Redis Cluster (REDIS_CLUSTER_NODES)', () => ({ shards: 4, redis: clusterTarget() as RedisTarget }), () => ({ REDIS_CLUSTER_NODES: inject('redisCluster').seeds, REDIS_PASSWORD: inject('redisCluster').password ?? '' })],
];

/** Runs the built CLI with the harness's environment (its secrets) and the Redis named by `redisEnv`; resolves with stdout, stderr and the exit code. */
function cli(hh: Harness, redisEnv: Record<string, string>, args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const env: NodeJS.ProcessEnv = { ...hh.env, SWITCHYARD_ADMIN_KEY: ADMIN, ...redisEnv };
  if (redisEnv.REDIS_URL === undefined) delete env.REDIS_URL;
  if (redisEnv.REDIS_CLUSTER_NODES === undefined) delete env.REDIS_CLUSTER_NODES;
  return new Promise((ok) => {
    const p = spawn(process.execPath, ['dist/engine/cli.js', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.once('exit', (code) => ok({ code, out, err }));
  });
}

describe.each(targets)('CLI commands on %s', (_name, target, redisEnv) => {
  it('usage --config sums the shards and equals the engine\'s report; mnp load reaches a running engine; an unused prefix is refused', async () => {
    const hh = await session.start({ ...target(), smscs: 2, configFile: true, sim: { receiptDelayMs: { min: 0, max: 10 } }, env: { SWITCHYARD_ADMIN_KEY: ADMIN } });
    const file = hh.configFile as string;
    const c = await session.client();
    // 4 × FILL messages in one batch: the ingress fills a shard with FILL of them, then moves on to the next.
    const n = 4 * FILL;
    c.send({ op: 'batch', ref: 'b', items: Array.from({ length: n }, (_, i) => ({ ref: String(i), to: `+47910${String(20000 + i)}`, from: 'Acme', text: 'usage ' + i })) });
    const ack = await c.next((f) => f.op === 'batch_ack');
    const ids = (ack.results as Frame[]).map((r) => r.id as string);
    expect(new Set(ids.map((id) => hh.engine.store.keys.shardOf(id))).size).toBe(4);
    await waitFor(() => ids.every((id) => c.frames.some((f) => f.op === 'status' && f.id === id && f.status === 'delivered')), 60_000, 'all delivered');
    const today = new Date().toISOString().slice(0, 10);
    const viaHttp = await api(hh.engine.port, ADMIN, 'GET', `/v1/usage?tenant=acme&from=${today}&to=${today}`);
    expect(viaHttp.body).toMatchObject({ total: { messages: n, segments: n } });
    const u = await cli(hh, redisEnv(), ['usage', '--tenant', 'acme', '--config', file, '--json']);
    expect(u.err).toBe('');
    expect(u.code).toBe(0);
    expect(JSON.parse(u.out)).toEqual(viaHttp.body);

    // +47 912 34 567 is ported to a German network (262-01): it now takes the 262 route (sim-b).
    const csv = join(mkdtempSync(join(tmpdir(), 'sy-mnp-')), 'ported.csv');
    writeFileSync(csv, 'number,mcc,mnc\n+4791234567,262,01\n');
    const m = await cli(hh, redisEnv(), ['mnp', 'load', csv, '--config', file]);
    expect(m.err).toBe('');
    expect(m.code).toBe(0);
    expect(m.out).toContain('loaded 1 ported numbers');
    await waitFor(() => hh.engine.routing.mnpSize === 1, 10_000, 'MNP table reloaded');
    const x = hh.engine.routing.explain('+4791234567', 'acme');
    expect('error' in x ? x.error : x.decision).toMatchObject({ ok: true, smsc: 'sim-b', ported: true });

    // A config whose prefix no engine ever used: refused by name, not an empty report.
    const other = join(mkdtempSync(join(tmpdir(), 'sy-cli-')), 'config.json');
    writeFileSync(other, readFileSync(file, 'utf8').replace(hh.config.redis.keyPrefix, `${hh.config.redis.keyPrefix}unused:`));
    const none = await cli(hh, redisEnv(), ['usage', '--tenant', 'acme', '--config', other]);
    expect(none.code).toBe(1);
    expect(none.err).toContain('CONFIG_INVALID: no Switchyard deployment in this Redis under the key prefix');
  }, 120_000);
});
