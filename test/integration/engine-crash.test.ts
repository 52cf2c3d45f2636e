/**
 * The whole engine process SIGKILLed mid-load and started again: every acked
 * message is submitted and every receipt arrives (at least once towards the
 * SMSC: what was on the wire when it died may be sent again).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { SmscSimulator } from '../../engine/simulator/index.js';
import { connectClient, type Frame, type TestClient } from '../helpers/ws-client.js';
import { waitFor } from '../helpers/wait-for.js';

const FINAL = new Set(['delivered', 'undelivered', 'rejected', 'expired', 'unknown']);
const sims: SmscSimulator[] = [];
const children: ChildProcess[] = [];
const clients: TestClient[] = [];

afterAll(async () => {
  for (const c of clients) await c.close();
  for (const ch of children) ch.kill('SIGKILL');
  for (const s of sims) await s.stop();
});

async function startEngine(configFile: string, env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['dist/engine/cli.js', 'start', '--config', configFile, '--port', '0'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  const port = await new Promise<number>((ok, fail) => {
    // A restart with the crashed node's id waits for its heartbeat to run out (fleet.heartbeatTtlMs, 10 s) first.
    const t = setTimeout(() => fail(new Error('engine did not start')), 60_000);
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

describe('engine crash', () => {
  it('SIGKILL mid-load, start again: every acked message is submitted and gets its final status', async () => {
    const key = randomBytes(12).toString('hex');
    const pw = 'pw' + randomBytes(2).toString('hex');
    for (let i = 0; i < 2; i++) {
      const s = new SmscSimulator({ systemId: 'switchyard', password: pw, capture: true, responseLatencyMs: { min: 1, max: 5 }, receiptDelayMs: { min: 50, max: 300 } });
      await s.start();
      sims.push(s);
    }
    const dir = mkdtempSync(join(tmpdir(), 'sy-crash-'));
    const configFile = join(dir, 'config.json');
    writeFileSync(configFile, JSON.stringify({
      redis: { keyPrefix: `crash:${randomBytes(3).toString('hex')}:` },
      engine: { nodeId: 'crash-node' },
      analytics: { enabled: false },
      tenants: [{ id: 'acme', apiKey: { env: 'SY_CRASH_KEY' }, tps: 100_000, window: 50_000 }],
      smscs: sims.map((s, i) => ({ id: `s${i}`, port: s.port, systemId: 'switchyard', password: { env: 'SY_CRASH_PW' }, reconnectMs: { min: 50, max: 500 } })),
      routing: { plans: [{ id: 'p', routes: [{ network: '*', candidates: [{ smsc: 's0', price: 0.05 }] }, { network: '262', candidates: [{ smsc: 's1', price: 0.04 }] }] }] },
    }));
    const env = { ...process.env, REDIS_URL: inject('redisUrl'), SY_CRASH_KEY: key, SY_CRASH_PW: pw };

    const first = await startEngine(configFile, env);
    const c1 = await connectClient(`ws://127.0.0.1:${first.port}/v1/ws`, key);
    clients.push(c1);
    const total = 3000;
    for (let b = 0; b < total; b += 100) {
      c1.send({ op: 'batch', ref: 'b' + b, items: Array.from({ length: 100 }, (_, i) => ({ ref: String(b + i), to: (b + i) % 2 ? '+4791234567' : '+4915112345678', from: 'Acme', text: 'kill ' + (b + i) })) });
    }
    const acked = new Map<string, string>(); // id -> ref
    const collectAcks = (frames: Frame[]) => {
      for (const f of frames) if (f.op === 'batch_ack') for (const r of f.results as Frame[]) if (r.op === 'ack') acked.set(r.id as string, r.ref as string);
    };
    // Kill once the client holds many acks and the SMSCs are busy. (Acks the engine wrote but the client had
    // not read yet are lost with the connection: a client must resend what it has no ack for.)
    await waitFor(() => {
      collectAcks(c1.frames);
      return acked.size > 800 && sims[0]!.stats.submitsAccepted + sims[1]!.stats.submitsAccepted > 400;
    }, 30_000, 'load under way');
    first.child.kill('SIGKILL');
    await new Promise((ok) => first.child.once('exit', ok));
    collectAcks(c1.frames);
    expect(acked.size).toBeGreaterThan(800);
    const finalsSeen = new Map<string, string>();
    for (const f of c1.frames) if (f.op === 'status' && FINAL.has(f.status as string)) finalsSeen.set(f.id as string, f.status as string);

    const second = await startEngine(configFile, env);
    // Reconnect without `since`: the engine resumes from the last status it pushed to this tenant.
    const c2 = await connectClient(`ws://127.0.0.1:${second.port}/v1/ws`, key);
    clients.push(c2);
    await waitFor(() => {
      for (const f of c2.frames) if (f.op === 'status' && FINAL.has(f.status as string)) finalsSeen.set(f.id as string, f.status as string);
      return [...acked.keys()].every((id) => finalsSeen.has(id));
    }, 60_000, 'a final status for every acked message');
    for (const id of acked.keys()) expect(finalsSeen.get(id)).toBe('delivered');
    // every acked message reached an SMSC
    const texts = new Set(sims.flatMap((s) => s.captured.map((x) => x.shortMessage.toString('latin1'))));
    for (const ref of acked.values()) expect(texts.has('kill ' + ref)).toBe(true);
    second.child.kill('SIGTERM');
    await new Promise((ok) => second.child.once('exit', ok));
  }, 120_000);
});
