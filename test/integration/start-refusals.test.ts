/**
 * Refusals at start (issue 12, item 2): the routing.downAfterMs grace used to
 * start when the health feed was built, before the accept-path warm-up, the
 * worker threads and the first bind; on a busy machine a freshly started
 * engine answered thousands of submits NO_ROUTE (permanent for clients) for
 * an SMSC that was merely not bound yet, while /readyz said 200.
 *
 * Here the machine is loaded (a CPU hog, bounded) and the SMSC is reachable
 * but slow to bind: a relay in front of the simulator holds the engine's
 * connections until the start has taken several times downAfterMs. Submits
 * go from the engine's first listening moment. None may be refused NO_ROUTE,
 * every one is delivered, and /readyz says 503 until the bind had its chance.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait-for.js';
import { harnessSession } from '../helpers/harness-session.js';

const session = harnessSession();

/** Accepts connections at once, forwards nothing until released (an SMSC slow to answer its binds). */
class HoldingRelay {
  private readonly server: Server = createServer((s) => this.onConnection(s));
  private readonly held: Socket[] = [];
  private readonly sockets: Socket[] = [];
  private released = false;
  target = 0;
  port = 0;

  async start(): Promise<void> {
    await new Promise<void>((ok) => this.server.listen(0, '127.0.0.1', ok));
    this.port = (this.server.address() as { port: number }).port;
  }

  private onConnection(client: Socket): void {
    this.sockets.push(client);
    client.on('error', () => undefined);
    if (this.released) this.pipe(client);
    else {
      client.pause();
      this.held.push(client);
    }
  }

  private pipe(client: Socket): void {
    const up = createConnection({ host: '127.0.0.1', port: this.target });
    this.sockets.push(up);
    up.on('error', () => client.destroy());
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
    client.pipe(up);
    up.pipe(client);
    client.resume();
  }

  get connections(): number {
    return this.sockets.length;
  }

  release(): void {
    this.released = true;
    for (const c of this.held.splice(0)) this.pipe(c);
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((ok) => this.server.close(() => ok()));
  }
}

let relay: HoldingRelay | undefined;
let hog: ChildProcess | undefined;
afterEach(async () => {
  hog?.kill('SIGKILL');
  hog = undefined;
  await relay?.stop();
  relay = undefined;
});

describe('engine start', () => {
  it('refusals at start: no NO_ROUTE from the first listening moment for a configured, reachable SMSC on a loaded machine; /readyz not ready until the binds had their chance', async () => {
    // A CPU hog for the start (it stops by itself after 60 s at the latest; killed after the test).
    hog = spawn(process.execPath, ['-e', 'const end = Date.now() + 60000; while (Date.now() < end) {}'], { stdio: 'ignore' });
    relay = new HoldingRelay();
    await relay.start();
    const r = relay;
    const downAfterMs = 300;
    const adminKey = 'start-refusals-admin-key';
    const metricsKey = 'start-refusals-metrics-key';
    const t0 = Date.now();
    const h = await session.start({
      smscs: 1,
      env: { SWITCHYARD_ADMIN_KEY: adminKey, SWITCHYARD_METRICS_KEY: metricsKey },
      sim: { receiptDelayMs: 0 },
      configOverrides: (raw) => {
        (raw.routing as Record<string, unknown>).downAfterMs = downAfterMs;
        const smsc = (raw.smscs as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
        r.target = smsc.port as number;
        smsc.port = r.port;
        // Reachable, however slowly the loaded machine gets there: a bind attempt does not time out here.
        smsc.connectTimeoutMs = 60_000;
      },
    });
    const base = `http://127.0.0.1:${h.engine.port}`;
    const c = await session.client();
    let n = 0;
    const submit = () => c.send({ op: 'submit', ref: `s${n++}`, to: `+4791${String(100000 + n)}`, from: 'Acme', text: `start ${n}` });

    // From the first moment: submits while no bind is up, for several times downAfterMs.
    submit();
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ status: 'not ready' });
    const detail = (await (await fetch(`${base}/readyz`, { headers: { authorization: `Bearer ${adminKey}` } })).json()) as { status: string; startingSmscs: string[] };
    expect(detail).toMatchObject({ status: 'not ready', startingSmscs: ['sim-a'] });
    await waitFor(async () => {
      submit();
      await new Promise((ok) => setTimeout(ok, 5));
      return r.connections > 0 && Date.now() - t0 > 4 * downAfterMs && n >= 50;
    }, 30_000, 'a held bind and submits across several times downAfterMs');
    expect((await fetch(`${base}/readyz`)).status).toBe(503);

    // The SMSC answers: messages flow, readiness follows.
    r.release();
    await waitFor(async () => {
      submit();
      await new Promise((ok) => setTimeout(ok, 5));
      return c.frames.some((f) => f.op === 'status' && f.status === 'delivered');
    }, 30_000, 'the first delivered status');
    const total = n;
    await waitFor(() => c.frames.filter((f) => f.op === 'ack' || f.op === 'nack').length === total, 20_000, 'an answer to every submit');
    const nacks = c.frames.filter((f) => f.op === 'nack');
    expect(nacks.filter((f) => f.code === 'NO_ROUTE')).toEqual([]);
    expect(nacks).toEqual([]);
    await waitFor(() => c.frames.filter((f) => f.op === 'status' && f.status === 'delivered').length === total, 30_000, 'every message delivered');
    await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, 10_000, '/readyz 200');
    expect(await (await fetch(`${base}/readyz`)).json()).toEqual({ status: 'ready' });
    // detail (SMSC ids, restarts) with the metrics key too, not with a tenant's or a wrong one
    const withMetricsKey = (await (await fetch(`${base}/readyz`, { headers: { authorization: `Bearer ${metricsKey}` } })).json()) as Record<string, unknown>;
    expect(withMetricsKey).toMatchObject({ status: 'ready', redis: 'ok', startingSmscs: [], actors: [expect.objectContaining({ smsc: 'sim-a', running: true })] });
    for (const key of [h.apiKey, 'wrong']) expect(await (await fetch(`${base}/readyz`, { headers: { authorization: `Bearer ${key}` } })).json()).toEqual({ status: 'ready' });
  });
});
