/**
 * One view of SMSC health across nodes (issue 14: "the same message gets a
 * different route and price depending on the node that accepted it", "a node
 * fails over traffic off an SMSC another node is serving"). Two engine nodes
 * on one Redis: the cheap SMSC is reachable from node A only (node B's binds
 * to it are refused). Both route to it at its price, a message accepted by B
 * is sent by A's bind and delivered, and B's /readyz stays ready.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { parseConfig } from '../../config/index.js';
import { startEngine, type Engine } from '../../engine/engine.js';
import { SmscSimulator } from '../../engine/simulator/smsc-simulator.js';
import { api } from '../helpers/http.js';
import { rawEngineConfig, rawEngineEnv } from '../helpers/raw-engine.js';
import { waitFor } from '../helpers/wait-for.js';

const redisUrl = inject('redisUrl');
const quiet = (): void => undefined;
const DOWN_AFTER_MS = 300;

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const port = (s.address() as { port: number }).port;
  await new Promise((ok) => s.close(ok));
  return port;
}

describe('fleet health', () => {
  const engines: Engine[] = [];
  // One simulator per SMSC: a simulator sends a receipt on any of its sessions, and a receipt of
  // smsc-a's message must come back on an smsc-a bind.
  const sim = new SmscSimulator({ port: 0, systemId: 'switchyard', password: 'pw', receiptDelayMs: { min: 0, max: 5 } });
  const simB = new SmscSimulator({ port: 0, systemId: 'switchyard', password: 'pw', receiptDelayMs: { min: 0, max: 5 } });
  afterAll(async () => {
    for (const e of engines.reverse()) await e.stop();
    await sim.stop();
    await simB.stop();
  });

  it('two nodes agree on route and price for an SMSC bound on one node only; a message accepted by the other is delivered', async () => {
    await sim.start();
    await simB.start();
    const dead = await closedPort();
    const prefix = `fh:${randomBytes(3).toString('hex')}:`;
    const env = rawEngineEnv();
    const config = (node: string, aPort: number) =>
      parseConfig(
        rawEngineConfig(
          {
            // smsc-a's two bind slots are shared: one each (fleet bind leases); B's cannot connect.
            smscs: [{ port: aPort, extra: { binds: 2 } }, { port: simB.port }],
            configOverrides: (c) => {
              (c.engine as Record<string, unknown>).nodeId = node;
              c.fleet = { heartbeatTtlMs: 3000, leaseTtlMs: 2000 };
              c.routing = {
                downAfterMs: DOWN_AFTER_MS,
                plans: [{ id: 'p', routes: [{ network: '*', candidates: [{ smsc: 'smsc-a', price: 0.01 }, { smsc: 'smsc-b', price: 0.09 }] }] }],
              };
            },
          },
          prefix,
        ),
        node,
      );
    const a = await startEngine(config('node-a', sim.port), { redisUrl, env, log: quiet });
    engines.push(a);
    const b = await startEngine(config('node-b', dead), { redisUrl, env, log: quiet });
    engines.push(b);
    await waitFor(() => a.supervisor.stats().every((s) => s.binds.some((x) => x.up)), 30_000, 'node A bound to both SMSCs');
    // B sees A's figures (smsc-a bound there), and B's own bind to smsc-a has failed for longer than downAfterMs.
    await waitFor(() => (b.fleet.liveNodes().find((n) => n.id === 'node-a')?.figures ?? '').includes('"smsc-a":[1,'), 30_000, "node A's figures at node B");
    const bindsA = () => b.supervisor.stats().find((s) => s.smsc === 'smsc-a')?.binds ?? [];
    // (An actor lists every slot; the one B holds has been tried, none is up.)
    await waitFor(() => bindsA().some((x) => x.tried) && !bindsA().some((x) => x.up) && !b.routing.startingSmscs.includes('smsc-a'), 30_000, "node B's bind to smsc-a to fail").catch((err: Error) => {
      throw new Error(`${err.message}: B ${JSON.stringify(b.supervisor.stats().map((x) => [x.smsc, x.binds]))} starting ${JSON.stringify(b.routing.startingSmscs)} leases ${JSON.stringify(b.fleet.leases('smsc-a'))} A ${JSON.stringify(a.supervisor.stats().map((x) => [x.smsc, x.binds]))}`);
    });
    const failedAt = Math.max(...bindsA().filter((x) => x.tried).map((x) => x.since));
    await waitFor(() => Date.now() - failedAt > 2 * DOWN_AFTER_MS, 10_000, 'downAfterMs to pass');
    // Judge now (the feed does so every second anyway).
    b.routing.onStats(b.supervisor.stats(), () => true);
    a.routing.onStats(a.supervisor.stats(), () => true);
    const ia = b.routing.health.index.get('smsc-a') as number;
    expect(b.routing.health.up[ia]).toBe(1);

    const chosen = (e: Engine) => {
      const x = e.routing.explain('+4791234567', 'acme');
      if ('error' in x || !x.decision.ok) throw new Error(`no route: ${JSON.stringify(x)}`);
      return { smsc: x.decision.smsc, price: x.decision.price };
    };
    expect(chosen(b)).toEqual({ smsc: 'smsc-a', price: 0.01 });
    expect(chosen(a)).toEqual(chosen(b));

    // Accepted by B at smsc-a's price, sent on A's bind, delivered.
    const key = env.SY_RAW_KEY as string;
    const r = await api(b.port, key, 'POST', '/v1/messages', { to: '+4791234567', from: 'Acme', text: 'hello fleet' });
    expect(r.status).toBe(202);
    expect(r.body.price).toBe(0.01);
    const id = String(r.body.id);
    await waitFor(async () => (await api(b.port, key, 'GET', `/v1/messages/${id}`)).body.status === 'delivered', 30_000, 'the message delivered').catch(async (err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify((await api(b.port, key, 'GET', `/v1/messages/${id}`)).body)} A ${JSON.stringify(a.supervisor.stats().map((s) => [s.smsc, s.submitted, s.binds.map((x) => x.up)]))} B ${JSON.stringify(b.supervisor.stats().map((s) => [s.smsc, s.submitted, s.buffered, s.binds.map((x) => x.up)]))}`);
    });
    expect((await api(a.port, key, 'GET', `/v1/messages/${id}`)).body.smsc).toBe('smsc-a');

    // B can route (through A): ready.
    const ready = await fetch(`http://127.0.0.1:${b.port}/readyz`);
    expect(ready.status).toBe(200);
  }, 90_000);
});
