/**
 * The engine runs the analytics sink in its own process (embedded chdb):
 * every status event of real traffic reaches ClickHouse, and /metrics and
 * /readyz show it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { startHarness, type Harness } from '../../engine/loadgen/harness.js';
import { waitFor } from '../helpers/wait-for.js';
import { connectClient, type TestClient } from '../helpers/ws-client.js';

let h: Harness | undefined;
let c: TestClient | undefined;
let dir: string | undefined;
afterEach(async () => {
  await c?.close();
  await h?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  h = undefined;
});

describe('analytics in the engine', () => {
  it('every status event of real traffic is inserted once, by its own process, visible in /readyz and /metrics', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sy-an-'));
    h = await startHarness({ redisUrl: inject('redisUrl'), smscs: 2, analyticsDir: dir, env: { SWITCHYARD_ADMIN_KEY: 'analytics-engine-admin' }, sim: { receiptDelayMs: { min: 0, max: 20 }, outcomes: { delivered: 90, undelivered: 10 } } });
    // The sink's consumer group exists as soon as the engine runs, before ClickHouse is open: the
    // events trimmer keeps what a group has not read, so no event can be trimmed before the sink reads it.
    const groups = (await h.engine.store.redis.xinfo('GROUPS', h.engine.store.keys.events())) as unknown[][];
    expect(groups.map((g) => g[g.indexOf('name') + 1])).toContain('analytics');
    await waitFor(() => h!.engine.analytics?.ready === true, 30_000, 'analytics ready');
    c = await connectClient(h.wsUrl, h.apiKey);
    const n = 300;
    c.send({ op: 'batch', ref: 'a', items: Array.from({ length: n }, (_, i) => ({ ref: `r${i}`, to: `+4791${String(300000 + i)}`, from: 'Acme', text: `analytics ${i}` })) });
    // each single-part message: "sent" and one final status
    await waitFor(() => c!.frames.filter((f) => f.op === 'status').length === 2 * n, 15_000, 'statuses');
    await waitFor(() => h!.engine.analytics?.inserted === 2 * n, 15_000, 'events in ClickHouse');
    // /readyz detail needs the admin (or metrics) key
    const ready = (await (await fetch(`http://127.0.0.1:${h.engine.port}/readyz`, { headers: { authorization: 'Bearer analytics-engine-admin' } })).json()) as { analytics: { ready: boolean } };
    expect(ready.analytics.ready).toBe(true);
    const text = await (await fetch(`http://127.0.0.1:${h.engine.port}/metrics`)).text();
    expect(text).toContain(`switchyard_analytics_events_inserted_total ${2 * n}`);
    expect(text).toContain('switchyard_analytics_ready 1');
    expect(h.engine.analytics?.failures).toBe(0);

    // Once Redis has let a message go (final for longer than messages.finalRetentionSec), its
    // lookup comes from analytics: status and every event; another tenant still gets 404.
    const ack = c.frames.find((f) => f.op === 'batch_ack') as unknown as { results: Array<{ id: string }> };
    const id = ack.results[0]?.id as string;
    const before = (await (await fetch(`http://127.0.0.1:${h.engine.port}/v1/messages/${id}`, { headers: { authorization: `Bearer ${h.apiKey}` } })).json()) as { status: string; source?: string };
    expect(before.source).toBeUndefined();
    await h.engine.store.redis.del(h.engine.store.keys.message(id));
    const res = await fetch(`http://127.0.0.1:${h.engine.port}/v1/messages/${id}`, { headers: { authorization: `Bearer ${h.apiKey}` } });
    expect(res.status).toBe(200);
    const after = (await res.json()) as { id: string; status: string; source: string; to: string; events: Array<{ status: string }> };
    expect(after).toMatchObject({ id, status: before.status, source: 'analytics', to: '+4791300000' });
    expect(after.events.map((e) => e.status)).toEqual(['sent', before.status]);
    expect((await fetch(`http://127.0.0.1:${h.engine.port}/v1/messages/nosuchmessage0000`, { headers: { authorization: `Bearer ${h.apiKey}` } })).status).toBe(404);
  });

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
