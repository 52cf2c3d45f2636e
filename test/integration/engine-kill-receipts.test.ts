/**
 * The engine process SIGKILLed again and again under load while receipts are
 * delayed 2 s at the SMSC (the raw test SMSC: it holds receipts while no
 * session is bound and flushes them with the next bind_resp, at most 20
 * unanswered per bind). Every acked message ends with the status the SMSC
 * reported for it, the count per status equals the SMSC's, none is
 * `unknown` or left `sent`, and nothing stays unanswered at the SMSC.
 * Bounded: 4 kills, 2,500 messages.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { RawSmsc, type Stat } from '../helpers/raw-smsc.js';
import { messageStatuses, rawEngineConfig, rawEngineEnv, writeConfig } from '../helpers/raw-engine.js';
import { connectClient, type Frame, type TestClient } from '../helpers/ws-client.js';
import { waitFor } from '../helpers/wait-for.js';

const children: ChildProcess[] = [];
const clients: TestClient[] = [];
let smsc: RawSmsc | undefined;
afterAll(async () => {
  for (const c of clients) await c.close();
  for (const ch of children) if (ch.exitCode === null) ch.kill('SIGKILL');
  await smsc?.stop();
});

const STATUS: Record<Stat, string> = { DELIVRD: 'delivered', UNDELIV: 'undelivered', EXPIRED: 'expired' };
const outcome = (n: number): Stat => (n % 10 < 6 ? 'DELIVRD' : n % 10 < 9 ? 'UNDELIV' : 'EXPIRED');
const numberOf = (text: string) => Number(text.split(' ')[1]);

async function startChild(configFile: string, env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['dist/engine/cli.js', 'start', '--config', configFile, '--port', '0'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  const port = await new Promise<number>((ok, fail) => {
    // A restart with the killed node's id waits for its heartbeat to run out (fleet.heartbeatTtlMs, 10 s) first.
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

describe('engine killed repeatedly with receipts delayed', () => {
  it('regression (receipts flushed with the bind response after each restart were dropped): every acked message ends with the status the SMSC reported, count per status equal, none unknown', async () => {
    const kills = 4;
    const total = 2500;
    const perRound = total / (kills + 1);
    smsc = new RawSmsc({ deliverWindow: 20, receiptDelayMs: 2000, outcome: (s) => outcome(numberOf(s.shortMessage.toString('latin1'))) });
    await smsc.start();
    const s = smsc;
    const env: NodeJS.ProcessEnv = { ...rawEngineEnv(), REDIS_URL: inject('redisUrl') };
    const configFile = writeConfig(rawEngineConfig({ smscs: [{ port: s.port, extra: { binds: 2 } }] }));
    const acked = new Map<string, number>(); // id -> message number
    let port = 0;
    for (let round = 0; round <= kills; round++) {
      const engine = await startChild(configFile, env);
      port = engine.port;
      await waitFor(() => s.bound === 2, 20_000, 'both binds up');
      const c = await connectClient(`ws://127.0.0.1:${engine.port}/v1/ws`, env.SY_RAW_KEY as string);
      clients.push(c);
      const first = round * perRound;
      const items = Array.from({ length: perRound }, (_, i) => ({ ref: String(first + i), to: `+4791${String(100000 + first + i)}`, from: 'Acme', text: `kill ${first + i}` }));
      const open = new Map(items.map((it) => [it.ref, it]));
      for (let b = 0; b < perRound; b += 100) c.send({ op: 'batch', ref: `r${round}b${b}`, items: items.slice(b, b + 100) });
      // Acks in hand; what was refused (NO_ROUTE while the engine is still binding on a busy machine) is sent again, as a client does.
      let scanned = 0;
      let lastResend = 0;
      const retry = new Set<string>();
      const collect = () => {
        for (; scanned < c.frames.length; scanned++) {
          const f = c.frames[scanned] as Frame;
          if (f.op !== 'batch_ack') continue;
          for (const r of f.results as Frame[]) {
            if (r.op === 'ack') {
              acked.set(r.id as string, Number(r.ref));
              open.delete(r.ref as string);
            } else retry.add(r.ref as string);
          }
        }
        if (retry.size > 0 && Date.now() - lastResend > 300 && c.ws.readyState === c.ws.OPEN) {
          lastResend = Date.now();
          const again = [...retry].map((ref) => open.get(ref)).filter((it) => it !== undefined);
          retry.clear();
          for (let b = 0; b < again.length; b += 100) c.send({ op: 'batch', ref: `r${round}again${lastResend}:${b}`, items: again.slice(b, b + 100) });
        }
      };
      if (round === kills) {
        await waitFor(() => {
          collect();
          return open.size === 0;
        }, 60_000, 'the last round acked');
        break;
      }
      // Kill under load: acks in hand, submits flowing, receipts still owed for most of them.
      const before = s.submits.length;
      await waitFor(() => {
        collect();
        return acked.size >= first + perRound * 0.6 && s.submits.length >= before + perRound * 0.3;
      }, 60_000, `round ${round} under way`);
      engine.child.kill('SIGKILL');
      await new Promise((ok) => engine.child.once('exit', ok));
      collect();
      await c.close();
    }
    expect(acked.size).toBeGreaterThan(total * 0.8);

    // The last engine finishes everything: every acked message gets the status its receipt says.
    const ids = [...acked.keys()];
    let statuses = new Map<string, string>();
    await waitFor(async () => {
      const open = ids.filter((id) => !['delivered', 'undelivered', 'expired', 'unknown', 'rejected'].includes(statuses.get(id) ?? ''));
      for (const [id, st] of await messageStatuses(() => port, env.SY_RAW_KEY as string, open)) statuses.set(id, st);
      return ids.every((id) => ['delivered', 'undelivered', 'expired', 'unknown', 'rejected'].includes(statuses.get(id) ?? ''));
    }, 90_000, 'a final status for every acked message');
    statuses = await messageStatuses(() => port, env.SY_RAW_KEY as string, ids);
    const mismatched = ids.filter((id) => statuses.get(id) !== STATUS[outcome(acked.get(id) as number)]);
    expect(mismatched.map((id) => `${acked.get(id)}: ${statuses.get(id)}`)).toEqual([]);
    // Count per status equals what the SMSC reported for these messages.
    const ours = new Map<string, number>();
    const theirs = new Map<string, number>();
    for (const id of ids) ours.set(statuses.get(id) as string, (ours.get(statuses.get(id) as string) ?? 0) + 1);
    for (const n of acked.values()) {
      const stat = s.reported.get(`kill ${n}`);
      expect(stat).toBeDefined();
      theirs.set(STATUS[stat as Stat], (theirs.get(STATUS[stat as Stat]) ?? 0) + 1);
    }
    expect(ours).toEqual(theirs);
    expect(ours.get('unknown')).toBeUndefined();
    // Nothing the SMSC sent stays unanswered, and held receipts really came with bind responses.
    await waitFor(() => s.undelivered === 0, 20_000, 'every receipt answered');
    expect(s.stats.burstWrites).toBeGreaterThan(0);
  }, 240_000);
});
