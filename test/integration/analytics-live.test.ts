/**
 * The live feed and the dashboard against the real engine: /v1/analytics/ws
 * pushes per-second rollups per SMSC and country whose counts add up exactly
 * to what the simulators did (a tenant's feed, and the admin's), and the
 * dashboard page served by the engine draws them — checked in headless
 * Chromium (Debian's chromium driven by playwright-core; no browser is ever
 * downloaded), with a screenshot in test-output/.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { startHarness, type Harness } from '../../engine/loadgen/harness.js';
import { waitFor } from '../helpers/wait-for.js';
import { connectClient, type Frame, type TestClient } from '../helpers/ws-client.js';

// What the page functions below touch in the browser (the tests compile without the DOM library).
declare const document: { getElementById(id: string): { textContent: string | null } | null; body: { dataset: Record<string, string | undefined> } };
interface PageCanvas { width: number; height: number; getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } }

const ADMIN = 'admin-key-live-test';
let h: Harness;
let dir: string;
let userDir: string;
let browser: BrowserContext | undefined;
let client: TestClient;

interface Cell { submitted: number; delivered: number; undelivered: number; deliveryRate: number | null; latencyMs: { p50: number | null } }
interface Rollup { op: string; t: number; smsc: Record<string, Cell>; country: Record<string, Cell> }

function feed(key: string): Promise<{ frames: Rollup[]; ws: WebSocket }> {
  const ws = new WebSocket(`ws://127.0.0.1:${h.engine.port}/v1/analytics/ws?key=${encodeURIComponent(key)}`);
  const frames: Rollup[] = [];
  ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as Rollup));
  return new Promise((ok, fail) => {
    ws.once('open', () => ok({ frames, ws }));
    ws.once('unexpected-response', (_q, res) => fail(new Error(`HTTP ${res.statusCode}`)));
  });
}

function sum(frames: Rollup[], dim: 'smsc' | 'country', key: string, k: 'submitted' | 'delivered' | 'undelivered'): number {
  return frames.filter((f) => f.op === 'rollup').reduce((n, f) => n + (f[dim][key]?.[k] ?? 0), 0);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sy-live-'));
  userDir = mkdtempSync(join(tmpdir(), 'sy-chromium-'));
  h = await startHarness({
    redisUrl: inject('redisUrl'),
    smscs: 2,
    analyticsDir: dir,
    sim: { receiptDelayMs: { min: 30, max: 250 }, outcomes: { delivered: 80, undelivered: 20 }, capture: true },
    env: { SWITCHYARD_ADMIN_KEY: ADMIN },
  });
  await waitFor(() => h.engine.analytics?.ready === true, 30_000, 'analytics ready');
  client = await connectClient(h.wsUrl, h.apiKey);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await client?.close();
  await h?.stop();
  rmSync(dir, { recursive: true, force: true });
  rmSync(userDir, { recursive: true, force: true });
});

describe('live analytics', () => {
  it('pushes per-second rollups per SMSC and country that add up to the simulators\' counts, and the dashboard draws them', async () => {
    const tenant = await feed(h.apiKey);
    const admin = await feed(ADMIN);
    await waitFor(() => tenant.frames.some((f) => f.op === 'hello') && admin.frames.some((f) => f.op === 'hello'), 5000, 'hello');
    expect(tenant.frames[0]).toMatchObject({ op: 'hello', scope: 'acme' });
    expect(admin.frames[0]).toMatchObject({ op: 'hello', scope: '*' });
    // a wrong key is refused before the upgrade
    await expect(feed('nope')).rejects.toThrow('HTTP 401');

    // A fresh profile directory (playwright passes it as --user-data-dir).
    browser = await chromium.launchPersistentContext(userDir, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      viewport: { width: 1400, height: 760 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    // The page runs under its Content-Security-Policy (only its own hashed script and style): nothing it needs is refused.
    const cspViolations: string[] = [];
    page.on('console', (m) => /Content Security Policy/i.test(m.text()) && cspViolations.push(m.text()));
    const served = await fetch(`http://127.0.0.1:${h.engine.port}/v1/analytics/dashboard`);
    expect(served.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'sha256-[^']+'; style-src 'sha256-[^']+'; connect-src 'self'/);
    expect(served.headers.get('x-content-type-options')).toBe('nosniff');
    await page.goto(`http://127.0.0.1:${h.engine.port}/v1/analytics/dashboard#key=${encodeURIComponent(ADMIN)}`);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live', undefined, { timeout: 10_000 });

    // About four seconds of traffic to Norway (sim-a) and Germany (sim-b).
    const n = 600;
    let sent = 0;
    await new Promise<void>((ok) => {
      const t = setInterval(() => {
        const items = Array.from({ length: 40 }, (_, i) => {
          const k = sent + i;
          return { ref: `l${k}`, to: k % 3 === 0 ? `+49151${String(30000000 + k)}` : `+4791${String(400000 + k)}`, from: 'Acme', text: `live ${k}` };
        });
        client.send({ op: 'batch', ref: `b${sent}`, items });
        sent += items.length;
        if (sent >= n) {
          clearInterval(t);
          ok();
        }
      }, 250);
    });
    const finals = () => client.frames.filter((f: Frame) => f.op === 'status' && f.status !== 'sent').length;
    await waitFor(() => finals() === n, 20_000, 'every final status');
    const [a, b] = h.sims as [(typeof h.sims)[0], (typeof h.sims)[0]];
    // Every event is in exactly one rollup frame of its second, once that second is over.
    const settled = (frames: Rollup[]) =>
      sum(frames, 'smsc', 'sim-a', 'delivered') + sum(frames, 'smsc', 'sim-b', 'delivered') + sum(frames, 'smsc', 'sim-a', 'undelivered') + sum(frames, 'smsc', 'sim-b', 'undelivered') === n;
    await waitFor(() => settled(tenant.frames) && settled(admin.frames), 20_000, 'rollups of every outcome');
    for (const f of [tenant.frames, admin.frames]) {
      expect(sum(f, 'smsc', 'sim-a', 'submitted')).toBe(a.stats.submitsAccepted);
      expect(sum(f, 'smsc', 'sim-b', 'submitted')).toBe(b.stats.submitsAccepted);
      expect(sum(f, 'smsc', 'sim-a', 'delivered')).toBe(a.stats.outcomes.delivered);
      expect(sum(f, 'smsc', 'sim-b', 'undelivered')).toBe(b.stats.outcomes.undelivered);
      expect(sum(f, 'country', 'NO', 'submitted')).toBe(a.stats.submitsAccepted);
      expect(sum(f, 'country', 'DE', 'delivered')).toBe(b.stats.outcomes.delivered);
    }
    const rollups = admin.frames.filter((f) => f.op === 'rollup');
    expect(new Set(rollups.map((f) => f.t)).size).toBeGreaterThanOrEqual(3); // several seconds
    expect(rollups.every((f) => f.t % 1000 === 0)).toBe(true);
    const withLatency = rollups.flatMap((f) => Object.values(f.smsc)).filter((c) => c.latencyMs.p50 !== null);
    expect(withLatency.length).toBeGreaterThan(0);
    for (const c of withLatency) {
      expect(c.latencyMs.p50 as number).toBeGreaterThanOrEqual(20);
      expect(c.latencyMs.p50 as number).toBeLessThanOrEqual(1000);
    }

    // The dashboard got the same frames and drew them: legends name every SMSC and country, the canvases are not blank.
    await page.waitForFunction((k) => Number(document.body.dataset.frames) >= k, rollups.length, { timeout: 20_000 });
    // one redraw after the last frame
    const r0 = await page.evaluate(() => Number(document.body.dataset.renders));
    await page.waitForFunction((r) => Number(document.body.dataset.renders) > r, r0, { timeout: 5000 });
    const legends = await page.$$eval('[data-legend]', (els) => els.map((e) => e.textContent));
    expect(legends).toEqual(['sim-asim-b', 'DENO']);
    const inked = await page.$$eval('canvas', (cs) =>
      cs.map((c) => {
        const el = c as unknown as PageCanvas;
        const g = el.getContext('2d');
        const px = g.getImageData(0, 0, el.width, el.height).data;
        let coloured = 0;
        // pixels of a series colour (not the grey grid and labels): saturated ones
        for (let i = 0; i < px.length; i += 4) if (Math.max(px[i] as number, px[i + 1] as number, px[i + 2] as number) - Math.min(px[i] as number, px[i + 1] as number, px[i + 2] as number) > 80) coloured++;
        return coloured;
      }),
    );
    expect(inked).toHaveLength(6);
    for (const x of inked) expect(x).toBeGreaterThan(50);
    expect(pageErrors).toEqual([]);
    expect(cspViolations).toEqual([]);
    // The policy is enforced: a script the page did not ship is refused.
    await page.evaluate(() => {
      const s = (document as unknown as { createElement(t: string): { textContent: string } }).createElement('script');
      s.textContent = 'document.body.dataset.injected = "yes"';
      (document.body as unknown as { appendChild(n: unknown): void }).appendChild(s);
    });
    expect(await page.evaluate(() => document.body.dataset.injected ?? 'no')).toBe('no');
    await waitFor(() => cspViolations.length > 0, 5000, 'the refusal reported on the console');
    mkdirSync('test-output', { recursive: true });
    await page.screenshot({ path: 'test-output/analytics-dashboard.png', fullPage: true });
    tenant.ws.close();
    admin.ws.close();
  });
});
