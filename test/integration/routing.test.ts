/**
 * The router in the engine, against real simulators over SMPP and a real Redis:
 * a route going down moves traffic to the next cheapest SMSC and back when it
 * recovers; messages queued for a dead SMSC fail over without being lost or
 * sent twice; routing reloads without a restart and refuses a bad file; MNP
 * overrides loaded into Redis reach the router. The two failover tests run
 * on a single Redis and on the local Redis Cluster with 48 shards (the
 * failover moves per shard, each on its master).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { startHarness, type Harness, type HarnessOptions } from '../../engine/loadgen/harness.js';
import type { RedisTarget } from '../../engine/redis/connect-redis.js';
import { Keys } from '../../engine/queue/keys.js';
import { parseMnpCsv, storeMnp } from '../../engine/routing/mnp.js';
import { SmscSimulator } from '../../engine/simulator/index.js';
import { connectClient, type Frame, type TestClient } from '../helpers/ws-client.js';
import { waitFor } from '../helpers/wait-for.js';
import { clusterTarget } from '../helpers/redis-cluster.js';

let h: Harness | undefined;
let clients: TestClient[] = [];
const extraSims: SmscSimulator[] = [];

afterEach(async () => {
  for (const c of clients) await c.close();
  clients = [];
  for (const s of extraSims.splice(0)) await s.stop();
  await h?.stop();
  h = undefined;
});

function acks(frames: Frame[]): Frame[] {
  const out: Frame[] = [];
  for (const f of frames) if (f.op === 'batch_ack') out.push(...(f.results as Frame[]));
  return out;
}

const FINAL = new Set(['delivered', 'undelivered', 'rejected', 'expired', 'unknown']);
const finals = (frames: Frame[]) => new Set(frames.filter((f) => f.op === 'status' && FINAL.has(f.status as string)).map((f) => f.id as string));

async function sendBatch(c: TestClient, ref: string, n: number, to: (i: number) => string): Promise<Frame[]> {
  const before = acks(c.frames).length;
  c.send({ op: 'batch', ref, items: Array.from({ length: n }, (_, i) => ({ ref: `${ref}-${i}`, to: to(i), from: 'Acme', text: `route test ${ref} ${i}` })) });
  await waitFor(() => acks(c.frames).length >= before + n, 10_000, `acks of ${ref}`);
  return acks(c.frames).slice(before);
}

/** With routing.downAfterMs as short as these tests set it, a bind still coming up on a loaded machine is "down": wait for them. */
async function bindsUp(x: Harness): Promise<void> {
  await waitFor(() => x.engine.actorStats().length === x.sims.length && x.engine.actorStats().every((s) => s.binds.every((b) => b.up)), 15_000, 'every bind up');
}

const norwegian = (i: number) => `+4791${String(100000 + i).padStart(6, '0')}`;

const targets: Array<[string, () => Partial<HarnessOptions>]> = [
  ['a single Redis', () => ({ redisUrl: inject('redisUrl') })],
  ['the Redis Cluster (48 shards)', () => ({ shards: 48, redis: clusterTarget() as RedisTarget })],
];

describe.each(targets)('failover between SMSCs on %s', (_name, target) => {
  it('a route going down moves traffic to the next cheapest SMSC, and back when it recovers (counted at the simulators)', async () => {
    // 242 (Norway): sim-a at 0.032, sim-b at 0.04 as backup.
    h = await startHarness({
      ...target(), smscs: 2, backupRoutes: true, sim: { capture: true, receiptDelayMs: { min: 0, max: 10 } },
      configOverrides: (raw) => void ((raw.routing as Record<string, unknown>).downAfterMs = 300),
      log: (l, m) => process.env.SY_TEST_LOG && console.log(Date.now(), l, m),
    });
    await bindsUp(h);
    const [a, b] = h.sims as [SmscSimulator, SmscSimulator];
    const c = await connectClient(h.wsUrl, h.apiKey);
    clients.push(c);
    // With downAfterMs 300, an SMSC whose binds are still coming up on a loaded machine is down for routing (NO_ROUTE).
    await waitFor(() => h!.engine.actorStats().length === 2 && h!.engine.actorStats().every((s) => s.binds.every((x) => x.up)), 10_000, 'binds up');

    const first = await sendBatch(c, 'up', 100, norwegian);
    expect(first.every((r) => r.op === 'ack')).toBe(true);
    await waitFor(() => a.stats.submitsAccepted === 100, 10_000, 'sim-a got the first 100');
    expect(b.stats.submitsAccepted).toBe(0);
    await waitFor(() => finals(c.frames).size === 100, 10_000, 'receipts of the first 100');

    // sim-a goes away: its binds drop, the router sees it at once.
    const port = a.port;
    await a.stop();
    await waitFor(() => h!.engine.routing.health.up[0] === 0, 5000, 'router sees sim-a down');
    const x = h.engine.routing.explain('+4791100000', 'acme');
    expect('error' in x).toBe(false);
    if (!('error' in x)) {
      expect(x.candidates.map((k) => [k.smsc, k.eligible, k.reasons.join()])).toEqual([['sim-a', false, expect.stringMatching(/^down/)], ['sim-b', true, '']]);
      expect(x.candidates[0]?.reasons[0]).toMatch(/^down: no bound session since /);
    }
    const during = await sendBatch(c, 'down', 100, (i) => norwegian(1000 + i));
    expect(during.every((r) => r.op === 'ack')).toBe(true);
    await waitFor(() => b.stats.submitsAccepted === 100, 10_000, 'sim-b got the 100 sent while sim-a was down');

    // sim-a is back on its port: binds come back, new traffic goes to the cheapest again.
    // It goes on numbering its message ids: an SMSC that reuses the ids of messages final less than
    // messages.finalRetentionSec ago can have a receipt that overtakes its submit_sm_resp matched to the
    // old message (README, Delivery guarantees: a known limit).
    const back = new SmscSimulator({ port, systemId: 'switchyard', password: h.env.SY_HARNESS_SIM_PW as string, capture: true, receiptDelayMs: { min: 0, max: 10 }, firstMessageId: 0x100000 });
    extraSims.push(back);
    await back.start();
    await waitFor(() => h!.engine.routing.health.up[0] === 1, 10_000, 'router sees sim-a up');
    await sendBatch(c, 'again', 100, (i) => norwegian(2000 + i));
    await waitFor(() => back.stats.submitsAccepted === 100, 10_000, 'sim-a got the next 100');
    expect(b.stats.submitsAccepted).toBe(100);
    // Every message ends, and each went out exactly once.
    await waitFor(() => finals(c.frames).size === 300, 15_000, 'final statuses');
    const sent = [...a.captured, ...b.captured, ...back.captured].map((s) => s.destinationAddr);
    expect(sent.length).toBe(300);
    expect(new Set(sent).size).toBe(300);
    // The route and price are recorded on every message.
    const id = (during[0] as Frame).id as string;
    const res = await fetch(`http://127.0.0.1:${h.engine.port}/v1/messages/${id}`, { headers: { authorization: `Bearer ${h.apiKey}` } });
    expect(await res.json()).toMatchObject({ smsc: 'sim-b', route: { mcc: '242', pricePerPart: 0.04, currency: 'EUR' } });
  });

  it('messages queued for an SMSC that stays down move to the next candidate: none lost, none sent twice', async () => {
    h = await startHarness({
      ...target(),
      smscs: 2,
      backupRoutes: true,
      sim: { capture: true, receiptDelayMs: { min: 0, max: 10 } },
      configOverrides: (raw) => {
        (raw.routing as Record<string, unknown>).failoverAfterSec = 1;
        (raw.routing as Record<string, unknown>).downAfterMs = 300;
        // sim-a drains slowly, so a backlog waits in its queue.
        (raw.smscs as Array<Record<string, unknown>>)[0]!.tps = 20;
      },
    });
    await bindsUp(h);
    const [a, b] = h.sims as [SmscSimulator, SmscSimulator];
    const c = await connectClient(h.wsUrl, h.apiKey);
    clients.push(c);
    const total = 400;
    const results = await sendBatch(c, 'q', total, norwegian);
    expect(results.every((r) => r.op === 'ack')).toBe(true);
    await waitFor(() => a.stats.submitsAccepted >= 10, 5000, 'sim-a started sending');
    const port = a.port;
    await a.stop();
    // After failoverAfterSec the backlog nobody has read moves to sim-b and drains there.
    // (Moves go in batches: wait until all but the few entries sim-a's actor held have moved and been sent.)
    await waitFor(() => {
      const moved = h!.engine.routing.failoverMoved;
      return moved + a.stats.submitsAccepted >= total - 5 && b.stats.submitsAccepted === moved;
    }, 15_000, 'backlog moved to sim-b and sent');
    expect(b.stats.submitsAccepted).toBeGreaterThan(total / 2);
    // What sim-a's actor had already taken (at most a few entries at 20/s) waits for sim-a: it may
    // have reached the SMSC before the connection died, so it is never sent elsewhere.
    const back = new SmscSimulator({ port, systemId: 'switchyard', password: h.env.SY_HARNESS_SIM_PW as string, capture: true, receiptDelayMs: { min: 0, max: 10 } });
    extraSims.push(back);
    await back.start();
    // Every message ends, except those the old sim-a took and died before sending their receipts:
    // they stay "sent" (and end "unknown" after validity), as with a real SMSC that went away.
    // (Wait for the status frames themselves: a receipt acked at the simulator reaches the client a moment later.)
    const oldA = new Set(a.captured.map((s) => s.destinationAddr));
    const openNotAtOldA = () => {
      const finalRefs = new Set(c.frames.filter((f) => f.op === 'status' && FINAL.has(f.status as string)).map((f) => f.ref as string));
      return results.map((r, i) => ({ ref: r.ref as string, to: norwegian(i).slice(1) })).filter((r) => !finalRefs.has(r.ref) && !oldA.has(r.to));
    };
    await waitFor(() => openNotAtOldA().length === 0 && b.stats.receiptsAcked === b.stats.submitsAccepted && back.stats.receiptsAcked === back.stats.submitsAccepted, 20_000, 'every message final');
    expect(openNotAtOldA()).toEqual([]);
    const all = [...a.captured, ...b.captured, ...back.captured].map((s) => s.destinationAddr);
    expect(new Set(all).size).toBe(total);
    // Nothing moved was also sent by sim-a's side, before or after.
    const viaA = new Set([...a.captured, ...back.captured].map((s) => s.destinationAddr));
    expect(b.captured.filter((s) => viaA.has(s.destinationAddr))).toEqual([]);
    expect(b.captured.length).toBe(new Set(b.captured.map((s) => s.destinationAddr)).size);
    expect(h.engine.routing.failoverMoved).toBe(b.stats.submitsAccepted);
    const statuses = c.frames.filter((f) => f.op === 'status' && FINAL.has(f.status as string)).map((f) => f.status);
    expect(new Set(statuses)).toEqual(new Set(['delivered']));
  });
});

describe('routing in the engine', () => {
  it('reloads routing from the changed file without a restart, and keeps the old routing when the file is bad', async () => {
    h = await startHarness({ redisUrl: inject('redisUrl'), smscs: 2, configFile: true });
    const file = h.configFile as string;
    const admin = { authorization: `Bearer ${h.env.SWITCHYARD_ADMIN_KEY ?? ''}` };
    const price = () => {
      const x = h!.engine.routing.explain('+4791234567', 'acme');
      return 'error' in x || !x.decision.ok ? undefined : x.decision.price;
    };
    expect(price()).toBe(0.032);
    const raw = JSON.parse(readFileSync(file, 'utf8')) as { routing: { plans: Array<{ routes: Array<{ network: string; candidates: Array<{ smsc: string; price: number }> }> }> } };
    raw.routing.plans[0]!.routes[0]!.candidates[0]!.price = 0.029;
    writeFileSync(file, JSON.stringify(raw));
    // The file watch picks it up.
    await waitFor(() => price() === 0.029, 5000, 'new price after the file changed');
    // A bad file: refused with the precise error, the old routing stays.
    raw.routing.plans[0]!.routes[0]!.candidates[0]!.smsc = 'sim-z';
    writeFileSync(file, JSON.stringify(raw));
    await waitFor(() => h!.engine.routing.reloadFailures >= 1, 5000, 'the bad file refused');
    expect(price()).toBe(0.029);
    void admin;
    const before = h.engine.routing.reloads;
    let err: unknown;
    try {
      h.engine.routing.reload();
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).toContain(`${file}: routing.plans[0].routes[0].candidates[0].smsc: no SMSC with id "sim-z" is configured`);
    expect(h.engine.routing.reloads).toBe(before);
    // Messages still flow on the old routing.
    const c = await connectClient(h.wsUrl, h.apiKey);
    clients.push(c);
    const r = await sendBatch(c, 'after', 10, norwegian);
    expect(r.every((x) => x.op === 'ack')).toBe(true);
  });

  it('an MNP table loaded into Redis reaches the router: the ported number routes by its new network', async () => {
    h = await startHarness({ redisUrl: inject('redisUrl'), smscs: 2 });
    const redis = new Redis(h.redisUrl);
    try {
      // +47 912 34 567 is ported to a German network (262-01): it now takes the 262 route (sim-b).
      await storeMnp(redis, new Keys(h.config.redis.keyPrefix), parseMnpCsv('number,mcc,mnc\n+4791234567,262,01\n', 'ported.csv'));
      await waitFor(() => h!.engine.routing.mnpSize === 1, 5000, 'MNP table reloaded');
      const x = h.engine.routing.explain('+4791234567', 'acme');
      expect('error' in x ? x.error : x.networkSource).toBe('mnp');
      if (!('error' in x)) expect(x.decision).toMatchObject({ ok: true, smsc: 'sim-b', ported: true });
      const other = h.engine.routing.explain('+4791234568', 'acme');
      if (!('error' in other)) expect(other.decision).toMatchObject({ ok: true, smsc: 'sim-a', ported: false });
    } finally {
      redis.disconnect();
    }
    expect(() => parseMnpCsv('4791234567,24,01\n', 'bad.csv')).toThrow('bad.csv:1: MCC "24" must be 3 digits');
  });

  it('a network lookup hook (HLR/MNP provider over HTTP) routes an uncached number by its answer, cached; a failing provider falls back to the plan', async () => {
    const asked: string[] = [];
    let failing = false;
    const provider = createServer((req, res) => {
      const n = new URL(req.url ?? '', 'http://x').searchParams.get('n') ?? '';
      asked.push(n);
      // +47 91 00 00 01 is ported to a German network; everything else is "not known".
      if (req.headers.authorization !== 'Bearer hlr-token') res.writeHead(401).end();
      else if (failing) res.writeHead(503).end();
      else if (n === '4791000001') res.writeHead(200, { 'content-type': 'application/json' }).end('{"mcc":"262","mnc":"01"}');
      else res.writeHead(404).end();
    });
    await new Promise<void>((ok) => provider.listen(0, '127.0.0.1', ok));
    const port = (provider.address() as AddressInfo).port;
    try {
      h = await startHarness({
        redisUrl: inject('redisUrl'), smscs: 2, sim: { capture: true },
        env: { SY_HLR_TOKEN: 'Bearer hlr-token' },
        configOverrides: (raw) => void ((raw.routing as Record<string, unknown>).lookupHook = { url: `http://127.0.0.1:${port}/lookup?n={number}`, authorization: { env: 'SY_HLR_TOKEN' }, timeoutMs: 500, ttlSec: 3600 }),
      });
      const [a, b] = h.sims as [SmscSimulator, SmscSimulator];
      const c = await connectClient(h.wsUrl, h.apiKey);
      clients.push(c);
      const r = await sendBatch(c, 'hlr', 3, (i) => ['+4791000001', '+4791000002', '+4791000001'][i] as string);
      expect(r.every((x) => x.op === 'ack')).toBe(true);
      await waitFor(() => a.stats.submitsAccepted + b.stats.submitsAccepted === 3, 10_000, 'three submits');
      // the ported number (twice) went to the German route (sim-b), the other by the plan (sim-a)
      expect(b.captured.map((s) => s.destinationAddr).sort()).toEqual(['4791000001', '4791000001']);
      expect(a.captured.map((s) => s.destinationAddr)).toEqual(['4791000002']);
      // one question per number: concurrent submits shared it, the cache answered the rest
      expect(asked.sort()).toEqual(['4791000001', '4791000002']);
      const x = h.engine.routing.explain('+4791000001', 'acme');
      if (!('error' in x)) expect(x).toMatchObject({ networkSource: 'mnp', decision: { smsc: 'sim-b', ported: true } });
      // a failing provider: the message is still accepted, routed by the plan
      failing = true;
      const f = await sendBatch(c, 'hlr-down', 1, () => '+4791000003');
      expect(f[0]?.op).toBe('ack');
      await waitFor(() => a.stats.submitsAccepted === 2, 10_000, 'routed by the plan');
      expect(h.engine.routing.lookupHook?.failures).toBe(1);
    } finally {
      await new Promise((ok) => provider.close(ok));
    }
  });
});
