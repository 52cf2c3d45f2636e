/**
 * Webhooks end to end: engine + simulated SMSC + real Redis + the test
 * receiver (which checks every signature). A receiver that is down gets
 * every event once back, in order per message, none lost; a hanging one
 * holds no other tenant back and costs Redis, not engine memory; engine
 * restarts and worker crashes mid-backlog lose nothing; refused and expired
 * events go to the dead letters, which an admin lists and replays; bad
 * webhook config stops the engine at boot. The first and the re-read tests
 * run on a single Redis and on the Redis Cluster (16 shards each), the dead
 * letters' test on a single Redis and on the cluster with 4 shards.
 */
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { parseConfig } from '../../config/index.js';
import { startEngine } from '../../engine/engine.js';
import { startHarness, type Harness, type HarnessOptions } from '../../engine/loadgen/harness.js';
import type { ChannelState } from '../../engine/webhooks/tenant-channel.js';
import { errorOf } from '../helpers/error-of.js';
import { waitFor } from '../helpers/wait-for.js';
import { formatEid } from '../../engine/queue/event-id.js';
import type { RedisTarget } from '../../engine/redis/connect-redis.js';
import { clusterTarget } from '../helpers/redis-cluster.js';
import { eventsOf, startReceiver, waitForEvents, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { connectClient, type Frame, type TestClient } from '../helpers/ws-client.js';
import { modes, ShardWorld, targetOf, type Mode } from '../helpers/event-shards.js';
import { connectRedis, type RedisClient } from '../../engine/redis/connect-redis.js';

const ADMIN = 'webhook-test-admin-key';
let h: Harness | undefined;
let clients: TestClient[] = [];
let receivers: WebhookReceiver[] = [];
let redis: RedisClient | undefined;
/** The Redis the next harness runs on (the cluster tests set it), and its key cleanup. */
let mode: Mode = 'single';
let world: ShardWorld | undefined;

afterEach(async () => {
  for (const c of clients) await c.close();
  clients = [];
  await h?.stop();
  h = undefined;
  for (const r of receivers) await r.stop();
  receivers = [];
  redis?.disconnect();
  redis = undefined;
  await world?.close();
  world = undefined;
  mode = 'single';
});

interface Hook {
  readonly url: string;
  readonly secretEnv: string;
  readonly [k: string]: unknown;
}

/** A harness whose tenant acme (and optionally beta) has a webhook; fast backoff so tests run in seconds. */
async function harness(acme: Hook, beta?: Hook, extra: Partial<HarnessOptions> = {}): Promise<Harness> {
  const env: Record<string, string> = { SWITCHYARD_ADMIN_KEY: ADMIN, SY_BETA_KEY: 'beta-api-key-0123456789' };
  const hook = ({ url, secretEnv, ...rest }: Hook) => ({ url, secret: { env: secretEnv }, backoffMs: { min: 50, max: 400 }, ...rest });
  world = new ShardWorld(mode);
  h = await startHarness({
    redis: mode === 'single' ? { kind: 'single', url: inject('redisUrl') } : targetOf(mode),
    keyPrefix: world.keys(16).prefix,
    smscs: 1,
    sim: { receiptDelayMs: { min: 0, max: 20 } },
    ...extra,
    env: { ...env, ...extra.env },
    configOverrides: (raw) => {
      const tenants = raw.tenants as Array<Record<string, unknown>>;
      (tenants[0] as Record<string, unknown>).webhook = hook(acme);
      if (beta !== undefined) tenants.push({ id: 'beta', apiKey: { env: 'SY_BETA_KEY' }, tps: 50_000, window: 20_000, webhook: hook(beta) });
    },
  });
  return h;
}

async function client(key: string): Promise<TestClient> {
  const c = await connectClient((h as Harness).wsUrl, key);
  clients.push(c);
  return c;
}

async function receiver(o: { down?: boolean } = {}): Promise<{ receiver: WebhookReceiver; secret: string }> {
  const r = await startReceiver(o);
  receivers.push(r.receiver);
  return r;
}

/** Submits n messages in batch frames of up to 500; resolves with their ids once all are acked. */
async function submit(c: TestClient, n: number, tag: string, o: { dlr?: (i: number) => boolean; to?: number } = {}): Promise<string[]> {
  const refs: string[] = [];
  for (let b = 0; b < n; b += 500) {
    const items = [];
    for (let i = b; i < Math.min(n, b + 500); i++) {
      items.push({ ref: `${tag}${i}`, to: `+4791${String((o.to ?? 100000) + i).padStart(6, '0')}`, from: 'Acme', text: `webhook ${tag} ${i}`, ...(o.dlr ? { dlr: o.dlr(i) } : {}) });
      refs.push(`${tag}${i}`);
    }
    c.send({ op: 'batch', ref: `${tag}-b${b}`, items });
  }
  const results = async () => c.frames.filter((f) => f.op === 'batch_ack' && String(f.ref).startsWith(`${tag}-b`)).flatMap((f) => f.results as Frame[]);
  await waitFor(async () => (await results()).length === n, 30_000, `acks of ${tag}`);
  const all = await results();
  expect(all.filter((r) => r.op !== 'ack')).toEqual([]);
  return all.map((r) => r.id as string);
}

function channel(tenant: string): ChannelState | undefined {
  return h?.engine.webhooks?.state.tenants.find((t) => t.tenant === tenant);
}

async function admin(method: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${(h as Harness).engine.port}${path}`, { method, headers: { authorization: `Bearer ${ADMIN}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function metricsText(): Promise<string> {
  return await (await fetch(`http://127.0.0.1:${(h as Harness).engine.port}/metrics`)).text();
}

function metric(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((kv) => l.includes(kv)));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** The status frames a WebSocket client got: eid → frame. */
function wsStatuses(c: TestClient): Map<string, Frame> {
  return new Map(c.frames.filter((f) => f.op === 'status').map((f) => [f.eid as string, f]));
}

describe.each(modes)('webhooks on a %s Redis (16 shards)', (m) => {
  beforeEach(() => {
    mode = m;
  });

  it('a receiver that is down gets every event once it is back: signed, in order per message, none lost, none doubled; no dlr:false events; MO entries too', async () => {
    const { receiver: rx, secret } = await receiver({ down: true });
    await harness({ url: rx.url, secretEnv: 'SY_WH_ACME', maxBatch: 50 }, undefined, { env: { SY_WH_ACME: secret } });
    // The webhooks group exists on every shard's events stream before any traffic (the trimmer keeps what it has not read).
    redis = connectRedis(h!.target, { connectionName: 'sy-test-webhooks' });
    const keys = h!.engine.store.keys;
    for (const k of keys.shards.all()) {
      const groups = (await redis.call('xinfo', 'GROUPS', keys.eventsOf(k))) as unknown[][];
      expect(groups.map((g) => g[g.indexOf('name') + 1])).toContain('webhooks');
    }
    const c = await client(h!.apiKey);
    const n = 300;
    const ids = await submit(c, n, 'd', { dlr: (i) => i % 15 !== 0 });
    const silent = new Set(ids.filter((_, i) => i % 15 === 0));
    const withDlr = n - silent.size;
    await waitFor(() => wsStatuses(c).size === 2 * withDlr, 20_000, 'WS statuses (sent + delivered)');
    // Everything waits in Redis, retried with backoff, while the receiver is down.
    await waitFor(() => channel('acme')?.queued === 2 * withDlr && (channel('acme')?.failures ?? 0) >= 3, 20_000, 'events queued, retried');
    expect(channel('acme')?.mode).toBe('queued');
    expect(rx.postCount).toBe(0);
    // An MO message entry on the events stream, as engine/mo/mo-store.ts writes it (analytics/status-events.ts).
    const mo = { op: 'mo', id: 'mo-1', from: '+4791234567', to: '2222', text: 'Hei på deg 🙂', at: Date.now(), smsc: 'sim-a', optOut: false };
    const moEid = formatEid(3, (await redis.xadd(h!.engine.store.keys.eventsOf(3), '*', 't', 'acme', 'k', 'mo', 'f', JSON.stringify(mo))) as string);

    await rx.up();
    await waitForEvents(rx, 2 * withDlr + 1, 20_000);
    expect(rx.badSignatures).toBe(0);
    expect(rx.duplicates).toBe(0);
    expect(rx.posts.every((p) => p.validSignature && p.tenant === 'acme' && p.events <= 50)).toBe(true);
    // Exactly the events the WebSocket client got, with the same eids and frames (and, issue 15, the
    // message's to, from, parts, price and currency), plus the MO.
    const ws = wsStatuses(c);
    const got = new Map(rx.events.map((e) => [e.eid, e]));
    expect(got.size).toBe(ws.size + 1);
    for (const [eid, f] of ws) expect(got.get(eid)).toEqual({ ...f, to: expect.stringMatching(/^\+4791\d{6}$/), from: 'Acme', parts: 1, price: expect.any(Number), currency: expect.any(String) });
    expect(got.get(moEid as string)).toEqual({ eid: moEid, ...mo });
    for (const id of ids) {
      if (silent.has(id)) expect(eventsOf(rx, id)).toEqual([]);
      else expect(eventsOf(rx, id).map((e) => e.status)).toEqual(['sent', 'delivered']);
    }
    await waitFor(() => channel('acme')?.mode === 'direct' && channel('acme')?.queued === 0, 5000, 'back to direct delivery');
    // Later traffic goes straight from memory.
    const more = await submit(c, 20, 'e', { to: 200000 });
    await waitForEvents(rx, 2 * withDlr + 1 + 40, 10_000);
    for (const id of more) expect(eventsOf(rx, id).map((e) => e.status)).toEqual(['sent', 'delivered']);
    const m = await metricsText();
    await waitFor(async () => metric(await metricsText(), 'switchyard_webhook_events_delivered_total', 'tenant="acme"') === 2 * withDlr + 41, 5000, 'delivered metric');
    expect(metric(m, 'switchyard_webhook_deliveries_total', 'result="network"')).toBeGreaterThanOrEqual(3);
    expect(metric(m, 'switchyard_webhook_retries_total', 'tenant="acme"')).toBeGreaterThanOrEqual(3);
    expect(m).toMatch(/switchyard_webhook_latency_seconds_count\{tenant="acme"\} \d+/);
    expect(m).toContain('switchyard_webhook_queue_depth{tenant="acme"} 0');
  });

  it('events held in memory (a POST hangs, the rest wait behind it) survive an engine restart: re-read from the events stream', async () => {
    const { receiver: rx, secret } = await receiver();
    rx.hang();
    await harness({ url: rx.url, secretEnv: 'SY_WH_ACME', maxBatch: 20, timeoutMs: 30_000 }, undefined, { env: { SY_WH_ACME: secret } });
    let c = await client(h!.apiKey);
    const n = 200;
    const ids = await submit(c, n, 'm');
    // Every event read, all in memory (pending on ev), none in Redis's list: the receiver is slow, not failing.
    await waitFor(() => channel('acme')?.inMemory === 2 * n, 20_000, 'events read');
    expect(channel('acme')).toMatchObject({ mode: 'direct', queued: 0, failures: 0 });
    expect(rx.waitingPosts).toBeGreaterThan(0);
    await c.close();
    await h!.restartEngine(); // aborts the hanging POSTs
    c = await client(h!.apiKey);
    await rx.down();
    await rx.up();
    await waitForEvents(rx, 2 * n, 30_000);
    expect(rx.badSignatures).toBe(0);
    expect(rx.duplicates).toBe(0); // nothing was answered before the restart
    // In order per message.
    for (const id of ids) expect(eventsOf(rx, id).map((e) => e.status)).toEqual(['sent', 'delivered']);
  });
});

describe('webhooks', () => {
  it('a hanging receiver holds no other tenant back, and its backlog goes to Redis, not engine memory', async () => {
    const a = await receiver();
    const b = await receiver();
    a.receiver.hang();
    await harness({ url: a.receiver.url, secretEnv: 'SY_WH_A', maxBatch: 100, timeoutMs: 30_000, concurrency: 1 }, { url: b.receiver.url, secretEnv: 'SY_WH_B', maxBatch: 100 }, { env: { SY_WH_A: a.secret, SY_WH_B: b.secret } });
    const ca = await client(h!.apiKey);
    const cb = await client('beta-api-key-0123456789');
    const na = 1500;
    const nb = 300;
    const [ida, idb] = await Promise.all([submit(ca, na, 'a'), submit(cb, nb, 'b', { to: 500000 })]);
    await waitForEvents(b.receiver, 2 * nb, 20_000, "beta's events");
    // All of beta's events arrived while acme's first POST still hangs (its timeout is 30 s).
    expect(a.receiver.postCount).toBe(0);
    expect(b.receiver.badSignatures).toBe(0);
    for (const id of idb) expect(eventsOf(b.receiver, id).map((e) => e.status)).toEqual(['sent', 'delivered']);
    // Acme's events beyond its bounded buffer wait in Redis.
    await waitFor(() => (channel('acme')?.queued ?? 0) + (channel('acme')?.inMemory ?? 0) === 2 * na, 20_000, "acme's events read");
    const st = channel('acme') as ChannelState;
    expect(st.mode).toBe('queued');
    expect(st.inMemory).toBeLessThanOrEqual(2000 + 100);
    expect(st.queued).toBeGreaterThanOrEqual(2 * na - 2100);
    // The hanging receiver goes away and comes back: acme gets everything.
    await a.receiver.down();
    await a.receiver.up();
    await waitForEvents(a.receiver, 2 * na, 30_000, "acme's events");
    expect(a.receiver.badSignatures).toBe(0);
    for (const id of ida) expect(eventsOf(a.receiver, id).map((e) => e.status)).toEqual(['sent', 'delivered']);
    expect(b.receiver.eids.size).toBe(2 * nb);
    expect([...a.receiver.eids].some((e) => b.receiver.eids.has(e))).toBe(false); // tenants see only their own events
  });

  it('an engine restart and a worker crash mid-backlog lose nothing (repeats only of posts in flight)', async () => {
    const { receiver: rx, secret } = await receiver({ down: true });
    await harness({ url: rx.url, secretEnv: 'SY_WH_ACME', maxBatch: 25 }, undefined, { env: { SY_WH_ACME: secret } });
    let c = await client(h!.apiKey);
    const n = 400;
    await submit(c, n, 'r');
    await waitFor(() => channel('acme')?.queued === 2 * n, 20_000, 'backlog queued');
    // A slow receiver drains it; it stops answering (POSTs in flight) and the engine restarts.
    rx.delayMs = 20;
    await rx.up();
    await waitFor(() => rx.eids.size >= 100, 20_000, 'drain started');
    rx.hang();
    await c.close();
    await h!.restartEngine();
    expect(rx.eids.size).toBeLessThan(2 * n);
    c = await client(h!.apiKey);
    await rx.down();
    await rx.up();
    await waitFor(() => rx.eids.size >= 300, 20_000, 'drain goes on after the restart');
    // POSTs in flight again, and the worker thread crashes (its host restarts it).
    rx.hang();
    await waitFor(() => rx.waitingPosts > 0, 10_000, 'posts in flight');
    h!.engine.webhooks?.crash();
    await waitFor(() => (h!.engine.webhooks?.state.restarts ?? 0) === 1 && h!.engine.webhooks?.state.running === true, 10_000, 'worker restarted');
    expect(rx.eids.size).toBeLessThan(2 * n);
    await rx.down();
    await rx.up();
    await submit(c, 50, 's', { to: 300000 });
    await waitForEvents(rx, 2 * n + 100, 30_000);
    expect(rx.badSignatures).toBe(0);
    // At least once: a repeat is a batch that was in flight (25 events per lane, 4 lanes) at the restart or the crash.
    expect(rx.duplicates).toBeLessThanOrEqual(2 * 4 * 25);
    await waitFor(() => channel('acme')?.mode === 'direct' && channel('acme')?.queued === 0, 10_000, 'backlog drained');
  });

  // The dead letters and the replay script live in the tenant's slot; the events come from every shard: also on the cluster.
  it.each<[string, () => Partial<HarnessOptions>]>([
    ['a single Redis', () => ({})],
    ['the Redis Cluster with 4 shards', () => ({ shards: 4, redis: clusterTarget() as RedisTarget })],
  ])('refused events go to the dead letters at once, expired ones after retryForSec; an admin lists and replays them (%s)', async (_name, target) => {
    const a = await receiver();
    const b = await receiver();
    a.receiver.respond(400);
    b.receiver.respond(503);
    await harness({ url: a.receiver.url, secretEnv: 'SY_WH_A' }, { url: b.receiver.url, secretEnv: 'SY_WH_B', retryForSec: 1 }, { ...target(), env: { SY_WH_A: a.secret, SY_WH_B: b.secret } });
    const ca = await client(h!.apiKey);
    const cb = await client('beta-api-key-0123456789');
    await submit(ca, 20, 'x');
    await submit(cb, 10, 'y', { to: 600000 });
    await waitFor(() => channel('acme')?.deadLetters === 40, 15_000, "acme's refused events dead-lettered");
    await waitFor(() => channel('beta')?.deadLetters === 20 && channel('beta')?.queued === 0, 15_000, "beta's events dead-lettered after retryForSec");
    expect(a.receiver.eids.size + b.receiver.eids.size).toBe(0);

    expect((await fetch(`http://127.0.0.1:${h!.engine.port}/v1/admin/webhooks`)).status).toBe(401);
    expect((await admin('GET', '/v1/admin/webhooks/nobody/dead-letters')).status).toBe(404);
    const all = await admin('GET', '/v1/admin/webhooks');
    expect(all.status).toBe(200);
    expect(all.body.tenants).toEqual(expect.arrayContaining([expect.objectContaining({ tenant: 'acme', url: a.receiver.url, deadLetters: 40, queued: 0 })]));
    const page = await admin('GET', '/v1/admin/webhooks/acme/dead-letters?offset=5&limit=10');
    expect(page.body.total).toBe(40);
    const items = page.body.items as Array<{ reason: string; status: number; failedAt: number; event: { eid: string; op: string } }>;
    expect(items).toHaveLength(10);
    expect(items.every((d) => d.reason === 'refused' && d.status === 400 && d.event.op === 'status' && d.failedAt > 0)).toBe(true);
    const beta = await admin('GET', '/v1/admin/webhooks/beta/dead-letters?limit=1000');
    expect((beta.body.items as Array<{ reason: string }>).every((d) => d.reason === 'expired')).toBe(true);
    expect((await admin('GET', '/v1/admin/webhooks/acme/dead-letters?limit=x')).status).toBe(400);
    const m = await metricsText();
    expect(metric(m, 'switchyard_webhook_dead_letters_total', 'tenant="acme",reason="refused"')).toBe(40);
    expect(metric(m, 'switchyard_webhook_dead_letters_total', 'tenant="beta",reason="expired"')).toBe(20);

    // Receivers fixed: replay. Acme's in two steps (limit), beta's at once; then discard what is left.
    a.receiver.respond(200);
    b.receiver.respond(200);
    expect((await admin('POST', '/v1/admin/webhooks/acme/dead-letters/replay?limit=15')).body).toEqual({ tenant: 'acme', replayed: 15, remaining: 25 });
    await waitForEvents(a.receiver, 15, 10_000);
    expect((await admin('POST', '/v1/admin/webhooks/acme/dead-letters/replay')).body).toEqual({ tenant: 'acme', replayed: 25, remaining: 0 });
    await waitForEvents(a.receiver, 40, 10_000);
    expect(a.receiver.duplicates).toBe(0);
    expect((await admin('DELETE', '/v1/admin/webhooks/beta/dead-letters')).body).toEqual({ tenant: 'beta', deleted: 20 });
    expect((await admin('GET', '/v1/admin/webhooks/beta/dead-letters')).body.total).toBe(0);
    expect(b.receiver.eids.size).toBe(0);
  });

  it('refuses bad webhook config at boot with a clear error', async () => {
    const raw = (webhook: Record<string, unknown>) => ({
      tenants: [{ id: 'acme', apiKey: { env: 'K' }, webhook }],
      smscs: [{ id: 'sim-a', port: 2775, systemId: 'sy', password: { env: 'P' } }],
      routing: { plans: [{ id: 'std', routes: [{ network: '*', candidates: [{ smsc: 'sim-a', price: 0.05 }] }] }] },
    });
    const bad = (w: Record<string, unknown>) => errorOf(() => parseConfig(raw(w), 'c.json'));
    expect(bad({ url: 'ftp://example.com/hook', secret: { env: 'S' } })).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('c.json: tenants[0].webhook.url: must be an http:// or https:// URL') });
    expect(bad({ url: 'not a url', secret: { env: 'S' } }).message).toContain('tenants[0].webhook.url');
    expect(bad({ url: 'https://user:pw@example.com/hook', secret: { env: 'S' } }).message).toContain('without user:password');
    expect(bad({ url: 'https://example.com/hook' }).message).toContain('tenants[0].webhook.secret');
    expect(bad({ url: 'https://example.com/hook', secret: 'inline-secret' }).message).toContain('tenants[0].webhook.secret');
    expect(bad({ url: 'https://example.com/hook', secret: { env: 'S' }, retries: 3 }).message).toContain('tenants[0].webhook.retries: unknown key');
    expect(bad({ url: 'https://example.com/hook', secret: { env: 'S' }, backoffMs: { min: 10, max: 5 } }).message).toContain('tenants[0].webhook.backoffMs');
    const ok = parseConfig(raw({ url: 'https://example.com/hook', secret: { env: 'SY_WH_SECRET' } }));
    expect(ok.tenants[0]?.webhook).toMatchObject({ timeoutMs: 10_000, maxBatch: 500, retryForSec: 86_400, backoffMs: { min: 1000, max: 600_000 } });
    // Secrets are checked before the engine opens anything.
    const env = { K: 'api-key-for-the-test', P: 'pw' };
    const boot = async (e: Record<string, string>) => await startEngine(ok, { redisUrl: inject('redisUrl'), env: e, port: 0 }).then(
      () => {
        throw new Error('the engine started');
      },
      (err: { code: string; message: string }) => err,
    );
    expect(await boot(env)).toMatchObject({ code: 'CONFIG_INVALID', message: 'tenants[acme].webhook.secret: environment variable SY_WH_SECRET is not set' });
    expect(await boot({ ...env, SY_WH_SECRET: 'short' })).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('tenants[acme].webhook.secret: must be at least 16 characters') });
  });
});
