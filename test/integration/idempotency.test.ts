/**
 * Idempotent submits (issue 15) end to end: engine, Redis (single and the
 * local Redis Cluster, 4 shards), simulated SMSCs over SMPP.
 *  - the same Idempotency-Key twice (HTTP) or idempotencyKey twice (WebSocket,
 *    also twice in one batch) yields one message at the SMSC and the first
 *    ack's id; the same key with another body is IDEMPOTENCY_CONFLICT (409);
 *  - the engine SIGKILLed mid-load, then a client resending every submit it
 *    holds no ack for, with its keys: every message reaches the SMSC exactly
 *    once. The SMSCs come up only after the kill, so no submit_sm is on the
 *    wire when the engine dies (that resend bound is engine-crash.test.ts's):
 *    any duplicate here could only be a message accepted twice.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { HarnessOptions } from '../../engine/loadgen/harness.js';
import type { RedisTarget } from '../../engine/redis/connect-redis.js';
import { SmscSimulator } from '../../engine/simulator/index.js';
import { harnessSession } from '../helpers/harness-session.js';
import { clusterTarget } from '../helpers/redis-cluster.js';
import { waitFor } from '../helpers/wait-for.js';
import { connectClient, type Frame, type TestClient } from '../helpers/ws-client.js';

const session = harnessSession();
const targets: Array<[string, () => Partial<HarnessOptions>]> = [
  ['a single Redis', () => ({ shards: 4 })],
  ['the Redis Cluster', () => ({ shards: 4, redis: clusterTarget() as RedisTarget })],
];

const texts = (sims: ReadonlyArray<SmscSimulator>) => sims.flatMap((s) => s.captured.map((x) => x.shortMessage.toString('latin1')));

describe.each(targets)('idempotency keys on %s', (_name, target) => {
  it('the same key twice yields one message at the SMSC and the first ack; another body with it is IDEMPOTENCY_CONFLICT', async () => {
    const h = await session.start({ ...target(), keyPrefix: `idem:${randomBytes(3).toString('hex')}:`, sim: { capture: true, receiptDelayMs: 0 } });
    const post = (body: unknown, key?: string) =>
      fetch(`http://127.0.0.1:${h.engine.port}/v1/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${h.apiKey}`, 'content-type': 'application/json', ...(key === undefined ? {} : { 'idempotency-key': key }) },
        body: JSON.stringify(body),
      });
    const submit = { ref: 'h1', to: '+4791234567', from: 'Acme', text: 'idem http' };
    const r1 = await post(submit, 'order-1');
    const a1 = (await r1.json()) as Frame;
    expect(r1.status, JSON.stringify(a1)).toBe(202);
    const r2 = await post({ ...submit, ref: 'h1-again' }, 'order-1');
    const a2 = (await r2.json()) as Frame;
    expect(r2.status, JSON.stringify(a2)).toBe(202);
    expect(a2).toMatchObject({ op: 'ack', id: a1.id, status: a1.status, ref: 'h1-again', repeat: true });
    const r3 = await post({ ...submit, text: 'another text' }, 'order-1');
    expect(r3.status).toBe(409);
    expect(await r3.json()).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
    // A key with a space is refused, naming the rules.
    const r4 = await post(submit, 'a key with spaces');
    expect(r4.status).toBe(400);
    expect(((await r4.json()) as { message: string }).message).toContain('idempotencyKey');

    // WebSocket: the field, twice in one batch (one script call) and once more alone.
    const c = await session.client();
    const item = { to: '+4791234568', from: 'Acme', text: 'idem ws', idempotencyKey: 'ws-1' };
    c.send({ op: 'batch', ref: 'b', items: [{ ...item, ref: 'x1' }, { ...item, ref: 'x2' }, { ...item, ref: 'x3', text: 'other' }] });
    await waitFor(() => c.frames.some((f) => f.op === 'batch_ack'), 10_000, 'batch_ack');
    const res = c.frames.find((f) => f.op === 'batch_ack')?.results as Frame[];
    expect(res[0]).toMatchObject({ op: 'ack', ref: 'x1' });
    expect(res[1]).toMatchObject({ op: 'ack', ref: 'x2', id: res[0]?.id, repeat: true });
    expect(res[2]).toMatchObject({ op: 'nack', ref: 'x3', code: 'IDEMPOTENCY_CONFLICT' });
    c.send({ op: 'submit', ...item, ref: 'x4' });
    await waitFor(() => c.frames.some((f) => f.op === 'ack' && f.ref === 'x4'), 10_000, 'ack x4');
    expect(c.frames.find((f) => f.op === 'ack' && f.ref === 'x4')).toMatchObject({ id: res[0]?.id, repeat: true });

    // Both messages reach the SMSC once; wait for their final statuses, then for anything else to have arrived.
    await waitFor(() => texts(h.sims).filter((t) => t === 'idem http' || t === 'idem ws').length >= 2, 20_000, 'both at the SMSC');
    const ids = [a1.id, res[0]?.id] as string[];
    await waitFor(() => c.frames.filter((f) => f.op === 'status' && ids.includes(f.id as string) && f.status === 'delivered').length >= 1, 20_000, 'ws message delivered');
    const all = texts(h.sims);
    expect(all.filter((t) => t === 'idem http')).toHaveLength(1);
    expect(all.filter((t) => t === 'idem ws')).toHaveLength(1);
    expect(all.filter((t) => t === 'another text' || t === 'other')).toHaveLength(0);
  }, 120_000);
});

describe('idempotency keys across an engine kill', () => {
  const children: ChildProcess[] = [];
  const sims: SmscSimulator[] = [];
  const clients: TestClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    for (const ch of children.splice(0)) ch.kill('SIGKILL');
    for (const s of sims.splice(0)) await s.stop();
  });

  async function startEngine(configFile: string, env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; port: number }> {
    const child = spawn(process.execPath, ['dist/engine/cli.js', 'start', '--config', configFile, '--port', '0'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    const port = await new Promise<number>((ok, fail) => {
      // A bound, not an expectation (engine-crash.test.ts: a restart waits for the dead node's heartbeat, 10 s).
      const t = setTimeout(() => fail(new Error('engine did not start within 60 s')), 60_000);
      createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
        if (m) {
          clearTimeout(t);
          ok(Number(m[1]));
        }
      });
      child.once('exit', (code) => fail(new Error(`engine exited with ${code}`)));
    });
    return { child, port };
  }

  it('SIGKILL mid-load, then the client resends everything it holds no ack for with its keys: zero duplicates at the simulators', async () => {
    const key = randomBytes(12).toString('hex');
    const pw = 'pw' + randomBytes(2).toString('hex');
    // The SMSCs' ports are taken now and served only after the kill: the first engine queues everything.
    const ports: number[] = [];
    for (let i = 0; i < 2; i++) {
      const s = new SmscSimulator({ systemId: 'switchyard', password: pw, capture: true, receiptDelayMs: { min: 10, max: 100 } });
      await s.start();
      ports.push(s.port);
      await s.stop();
    }
    const dir = mkdtempSync(join(tmpdir(), 'sy-idem-'));
    const configFile = join(dir, 'config.json');
    writeFileSync(configFile, JSON.stringify({
      redis: { keyPrefix: `idemkill:${randomBytes(3).toString('hex')}:`, shards: 4 },
      engine: { nodeId: 'idem-node' },
      analytics: { enabled: false },
      // SMSCs not up yet must keep their traffic (queued), not refuse it NO_ROUTE.
      routing: { downAfterMs: 600_000, plans: [{ id: 'p', routes: [{ network: '*', candidates: [{ smsc: 's0', price: 0.05 }] }, { network: '262', candidates: [{ smsc: 's1', price: 0.04 }] }] }] },
      tenants: [{ id: 'acme', apiKey: { env: 'SY_IDEM_KEY' }, tps: 100_000, window: 50_000 }],
      smscs: ports.map((port, i) => ({ id: `s${i}`, port, systemId: 'switchyard', password: { env: 'SY_IDEM_PW' }, binds: 1, window: 40, reconnectMs: { min: 50, max: 500 } })),
    }));
    const env: NodeJS.ProcessEnv = { ...process.env, REDIS_URL: inject('redisUrl'), SY_IDEM_KEY: key, SY_IDEM_PW: pw };
    delete env.REDIS_CLUSTER_NODES;

    const total = 3000;
    const item = (i: number) => ({ ref: String(i), to: i % 2 ? '+4791234567' : '+4915112345678', from: 'Acme', text: 'resend ' + i, idempotencyKey: 'k-' + i });
    const first = await startEngine(configFile, env);
    const c1 = await connectClient(`ws://127.0.0.1:${first.port}/v1/ws`, key);
    clients.push(c1);
    for (let b = 0; b < total; b += 100) c1.send({ op: 'batch', ref: 'b' + b, items: Array.from({ length: 100 }, (_, i) => item(b + i)) });
    const acked = new Map<string, string>(); // ref -> id
    const collect = (frames: Frame[]) => {
      for (const f of frames) {
        if (f.op === 'batch_ack') for (const r of f.results as Frame[]) if (r.op === 'ack') acked.set(r.ref as string, r.id as string);
        if (f.op === 'ack') acked.set(f.ref as string, f.id as string);
      }
    };
    await waitFor(() => {
      collect(c1.frames);
      return acked.size >= 300;
    }, 30_000, 'load under way');
    // What the client holds: the acks it had read by now. Those after it (and those lost with the connection)
    // it resends, as a client does whose ack came after its timeout.
    const ackedBefore = new Map(acked);
    await waitFor(() => {
      collect(c1.frames);
      return acked.size >= ackedBefore.size + 300;
    }, 30_000, 'more acks');
    first.child.kill('SIGKILL');
    await new Promise((ok) => first.child.once('exit', ok));
    collect(c1.frames);
    const firstIds = new Map(acked);
    expect(firstIds.size).toBeLessThan(total);
    acked.clear();
    for (const [ref, id] of ackedBefore) acked.set(ref, id);

    for (const port of ports) {
      const s = new SmscSimulator({ port, systemId: 'switchyard', password: pw, capture: true, receiptDelayMs: { min: 10, max: 100 } });
      await s.start();
      sims.push(s);
    }
    const second = await startEngine(configFile, env);
    const c2 = await connectClient(`ws://127.0.0.1:${second.port}/v1/ws`, key);
    clients.push(c2);
    // Everything without an ack, with its key; some of it the first engine had accepted (its ack lost with the connection).
    const unacked = Array.from({ length: total }, (_, i) => i).filter((i) => !ackedBefore.has(String(i)));
    for (let k = 0; k < unacked.length; k += 100) c2.send({ op: 'batch', ref: 'r' + k, items: unacked.slice(k, k + 100).map(item) });
    let repeats = 0;
    await waitFor(() => {
      repeats = 0;
      for (const f of c2.frames) if (f.op === 'batch_ack') for (const r of f.results as Frame[]) if (r.op === 'ack' && r.repeat === true) repeats++;
      collect(c2.frames);
      return acked.size === total;
    }, 60_000, 'an ack for every message');
    // Every message at the SMSCs, each once.
    await waitFor(() => new Set(texts(sims)).size === total, 120_000, 'every message at the SMSCs');
    const all = texts(sims);
    expect(all.length - new Set(all).size, 'duplicates at the simulators').toBe(0);
    expect(all).toHaveLength(total);
    // The resend met the messages the first engine had accepted and got their first ids back.
    expect(repeats).toBeGreaterThanOrEqual(firstIds.size - ackedBefore.size);
    for (const [ref, id] of firstIds) expect(acked.get(ref), `ack of ${ref}`).toBe(id);
    second.child.kill('SIGTERM');
    await new Promise((ok) => second.child.once('exit', ok));
  }, 300_000);
});
