/**
 * The engine runs the analytics sink in its own process (embedded chdb):
 * every status event of real traffic reaches ClickHouse once, and every status
 * frame the client once, across the shards' events streams, on a single Redis
 * and on the Redis Cluster; /metrics and /readyz show it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { startHarness, type Harness } from '../../engine/loadgen/harness.js';
import { waitFor } from '../helpers/wait-for.js';
import { connectClient, type TestClient } from '../helpers/ws-client.js';
import { ShardWorld, targetOf } from '../helpers/event-shards.js';
import { FILL } from '../../engine/ingress/shard-picker.js';

let h: Harness | undefined;
let c: TestClient | undefined;
let dir: string | undefined;
let world: ShardWorld | undefined;
afterEach(async () => {
  await c?.close();
  await h?.stop();
  await world?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  h = undefined;
  c = undefined;
  world = undefined;
});

/** The eid's shard: "s<K>-<ms>-<seq>" → K. */
const shardOf = (eid: string): number => Number(eid.slice(1, eid.indexOf('-')));

describe.each([
  ['single', 4],
  ['cluster', 6],
] as const)('analytics in the engine, on a %s Redis with %i shards', (mode, shards) => {
  it('every status event of real traffic reaches ClickHouse once and every status frame reaches the client once, across the shards', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sy-an-'));
    world = new ShardWorld(mode);
    const keyPrefix = world.keys(shards).prefix;
    h = await startHarness({ redis: targetOf(mode), keyPrefix, shards, smscs: 2, analyticsDir: dir, env: { SWITCHYARD_ADMIN_KEY: 'analytics-engine-admin' }, sim: { receiptDelayMs: { min: 0, max: 20 }, outcomes: { delivered: 90, undelivered: 10 } } });
    const keys = h.engine.store.keys;
    // The sink's consumer group exists on every shard's stream as soon as the engine runs, before
    // ClickHouse is open: the events trimmer keeps what a group has not read, so no event can be
    // trimmed before the sink reads it.
    for (const k of keys.shards.all()) {
      const groups = (await world.redis.call('xinfo', 'GROUPS', keys.eventsOf(k))) as unknown[][];
      expect(groups.map((g) => g[g.indexOf('name') + 1])).toContain('analytics');
    }
    await waitFor(() => h!.engine.analytics?.ready === true, 60_000, 'analytics ready');
    c = await connectClient(h.wsUrl, h.apiKey);
    const n = 300;
    c.send({ op: 'batch', ref: 'a', items: Array.from({ length: n }, (_, i) => ({ ref: `r${i}`, to: `+4791${String(300000 + i)}`, from: 'Acme', text: `analytics ${i}` })) });
    // each single-part message: "sent" and one final status
    const statuses = () => c!.frames.filter((f) => f.op === 'status');
    await waitFor(() => statuses().length >= 2 * n, 30_000, 'statuses');
    await waitFor(() => h!.engine.analytics?.inserted === 2 * n, 30_000, 'events in ClickHouse');
    // every frame once: 2n frames, 2n distinct eids, each message "sent" then one final status
    const frames = statuses();
    expect(frames.length).toBe(2 * n);
    const eids = new Set(frames.map((f) => f.eid as string));
    expect(eids.size).toBe(2 * n);
    const ack = c.frames.find((f) => f.op === 'batch_ack') as unknown as { results: Array<{ id: string }> };
    for (const { id } of ack.results) {
      const mine = frames.filter((f) => f.id === id).map((f) => f.status);
      expect(mine[0]).toBe('sent');
      expect(mine.length).toBe(2);
    }
    // the traffic went over the shards (the ingress fills a shard's batch of up to 64 and moves on),
    // and each frame's eid names its message's shard
    expect(new Set([...eids].map(shardOf)).size).toBeGreaterThanOrEqual(Math.min(shards, Math.ceil(n / FILL)));
    for (const f of frames) expect(shardOf(f.eid as string)).toBe(keys.shardOf(f.id as string));
    // /readyz detail needs the admin (or metrics) key
    const ready = (await (await fetch(`http://127.0.0.1:${h.engine.port}/readyz`, { headers: { authorization: 'Bearer analytics-engine-admin' } })).json()) as { analytics: { ready: boolean } };
    expect(ready.analytics.ready).toBe(true);
    const text = await (await fetch(`http://127.0.0.1:${h.engine.port}/metrics`)).text();
    expect(text).toContain(`switchyard_analytics_events_inserted_total ${2 * n}`);
    expect(text).toContain('switchyard_analytics_ready 1');
    expect(h.engine.analytics?.failures).toBe(0);
    // ClickHouse holds every event once (the per-minute counts would count a doubled batch twice),
    // under the eid its frame carried
    const base = `http://127.0.0.1:${h.engine.port}/v1/analytics`;
    const auth = { headers: { authorization: 'Bearer analytics-engine-admin' } };
    const range = `from=${Date.now() - 600_000}&to=${Date.now() + 60_000}`;
    const rows = ((await (await fetch(`${base}/statuses?${range}`, auth)).json()) as { rows: Array<{ status: string; count: number }> }).rows;
    expect(rows.reduce((x, y) => x + y.count, 0)).toBe(2 * n);
    const csv = (await (await fetch(`${base}/reports/events.csv?${range}`, auth)).text()).trimEnd().split('\r\n').slice(1);
    expect(new Set(csv.map((l) => l.split(',')[1]))).toEqual(eids);

    // Once Redis has let a message go (final for longer than messages.finalRetentionSec), its
    // lookup comes from analytics: status and every event; another tenant still gets 404.
    const id = ack.results[0]?.id as string;
    const final = frames.filter((f) => f.id === id)[1]?.status as string;
    await world.redis.del(keys.msg(id));
    const res = await fetch(`http://127.0.0.1:${h.engine.port}/v1/messages/${id}`, { headers: { authorization: `Bearer ${h.apiKey}` } });
    expect(res.status).toBe(200);
    const after = (await res.json()) as { id: string; status: string; source: string; to: string; events: Array<{ status: string }> };
    expect(after).toMatchObject({ id, status: final, source: 'analytics', to: '+4791300000' });
    expect(after.events.map((e) => e.status)).toEqual(['sent', final]);
    expect((await fetch(`http://127.0.0.1:${h.engine.port}/v1/messages/nosuchmessage0000`, { headers: { authorization: `Bearer ${h.apiKey}` } })).status).toBe(404);
  }, 120_000);
});

describe('analytics in the engine', () => {
  it('the analytics process killed in the middle of traffic is restarted and loses and doubles nothing', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sy-an-'));
    h = await startHarness({ redisUrl: inject('redisUrl'), smscs: 2, analyticsDir: dir, env: { SWITCHYARD_ADMIN_KEY: 'restart-admin' }, sim: { receiptDelayMs: { min: 0, max: 50 }, outcomes: { delivered: 80, undelivered: 20 } } });
    await waitFor(() => h!.engine.analytics?.ready === true, 30_000, 'analytics ready');
    c = await connectClient(h.wsUrl, h.apiKey);
    const n = 3000;
    const pid = h.engine.analyticsHost?.pid as number;
    for (let b = 0; b < n / 500; b++) {
      c.send({ op: 'batch', ref: `k${b}`, items: Array.from({ length: 500 }, (_, i) => ({ ref: `k${b}-${i}`, to: `+4791${String(500000 + b * 500 + i)}`, from: 'Acme', text: `restart ${i}` })) });
      // kill it once a part of the traffic is in ClickHouse: the rest is in the stream, some of it read and not acknowledged
      if (b === 1) {
        await waitFor(() => (h!.engine.analytics?.inserted ?? 0) > 0, 15_000, 'first events inserted');
        process.kill(pid, 'SIGKILL');
        // Analytics down does not make the engine unready: messages keep flowing.
        await waitFor(() => h!.engine.analytics?.ready === false, 10_000, 'analytics seen down');
        const ready = await fetch(`http://127.0.0.1:${h.engine.port}/readyz`, { headers: { authorization: 'Bearer restart-admin' } });
        expect(ready.status).toBe(200);
        expect(((await ready.json()) as { analytics: { ready: boolean } }).analytics.ready).toBe(false);
      }
    }
    await waitFor(() => c!.frames.filter((f) => f.op === 'status').length === 2 * n, 30_000, 'statuses');
    await waitFor(() => h!.engine.analytics?.restarts === 1 && h!.engine.analytics.ready, 30_000, 'restarted');
    expect(h.engine.analyticsHost?.pid).not.toBe(pid);
    const base = `http://127.0.0.1:${h.engine.port}/v1/analytics`;
    const auth = { headers: { authorization: 'Bearer restart-admin' } };
    const range = `from=${Date.now() - 600_000}&to=${Date.now() + 60_000}`;
    // every event exactly once: the per-minute aggregates (which would count a doubled batch twice) and the events themselves
    await waitFor(async () => {
      const r = (await (await fetch(`${base}/statuses?${range}`, auth)).json()) as { rows?: Array<{ count: number }> };
      return (r.rows ?? []).reduce((x, y) => x + y.count, 0) >= 2 * n;
    }, 30_000, 'all events in ClickHouse');
    const rows = ((await (await fetch(`${base}/statuses?${range}`, auth)).json()) as { rows: Array<{ status: string; count: number }> }).rows;
    expect(rows.reduce((x, y) => x + y.count, 0)).toBe(2 * n);
    expect(rows.find((r) => r.status === 'sent')?.count).toBe(n);
    const csv = (await (await fetch(`${base}/reports/events.csv?${range}`, auth)).text()).trimEnd().split('\r\n').slice(1);
    expect(new Set(csv.map((l) => l.split(',')[1])).size).toBe(2 * n);
  });
});
