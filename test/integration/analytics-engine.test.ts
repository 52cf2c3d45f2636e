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
    h = await startHarness({ redisUrl: inject('redisUrl'), smscs: 2, analyticsDir: dir, sim: { receiptDelayMs: { min: 0, max: 20 }, outcomes: { delivered: 90, undelivered: 10 } } });
    await waitFor(() => h!.engine.analytics?.ready === true, 30_000, 'analytics ready');
    c = await connectClient(h.wsUrl, h.apiKey);
    const n = 300;
    c.send({ op: 'batch', ref: 'a', items: Array.from({ length: n }, (_, i) => ({ ref: `r${i}`, to: `+4791${String(300000 + i)}`, from: 'Acme', text: `analytics ${i}` })) });
    // each single-part message: "sent" and one final status
    await waitFor(() => c!.frames.filter((f) => f.op === 'status').length === 2 * n, 15_000, 'statuses');
    await waitFor(() => h!.engine.analytics?.inserted === 2 * n, 15_000, 'events in ClickHouse');
    const ready = (await (await fetch(`http://127.0.0.1:${h.engine.port}/readyz`)).json()) as { analytics: { ready: boolean } };
    expect(ready.analytics.ready).toBe(true);
    const text = await (await fetch(`http://127.0.0.1:${h.engine.port}/metrics`)).text();
    expect(text).toContain(`switchyard_analytics_events_inserted_total ${2 * n}`);
    expect(text).toContain('switchyard_analytics_ready 1');
    expect(h.engine.analytics?.failures).toBe(0);
  });
});
