/**
 * The live analytics feed of a fleet (issue 14): with several analytics nodes
 * each sink reads a share of the events (one consumer group), and every
 * node's feed must show the fleet's seconds, not its own share
 * (engine/analytics/sink-process.ts merges the nodes' raw seconds exchanged
 * over Redis; analytics/live-rollup.ts). Two analytics processes on one Redis
 * (each its own embedded chdb here: the feed does not read ClickHouse, so the
 * merge is the same as with a shared ClickHouse server).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ANALYTICS_GROUP } from '../../analytics/event-sink.js';
import type { RollupFrame } from '../../analytics/live-rollup.js';
import { parseConfig } from '../../config/index.js';
import { AnalyticsHost } from '../../engine/analytics/analytics-host.js';
import { ensureGroups, eventStreamKeys } from '../../engine/queue/event-streams.js';
import { Keys } from '../../engine/queue/keys.js';
import { Shards } from '../../engine/queue/shards.js';
import { waitFor } from '../helpers/wait-for.js';

const SHARDS = 4;
const prefix = `anfleet:${randomBytes(3).toString('hex')}:`;
const keys = new Keys(prefix, new Shards(SHARDS));
const dirs: string[] = [];
const hosts: AnalyticsHost[] = [];
let redis: Redis;

function host(node: string): { host: AnalyticsHost; frames: Array<{ scope: string; frame: RollupFrame }> } {
  const c = parseConfig({
    tenants: [{ id: 'acme', apiKey: { env: 'K' } }],
    smscs: [{ id: 'sim-a', port: 2775, systemId: 'sy', password: { env: 'P' } }],
    routing: { plans: [{ id: 'std', routes: [{ network: '*', candidates: [{ smsc: 'sim-a', price: 0.05 }] }] }] },
  });
  const dir = mkdtempSync(join(tmpdir(), `sy-anfleet-${node}-`));
  dirs.push(dir);
  const h = new AnalyticsHost({
    redis: { kind: 'single', url: inject('redisUrl') },
    keyPrefix: prefix,
    shards: SHARDS,
    consumer: `sink-${node}`,
    batchMax: 50, // small batches: both sinks get a share
    flushMs: 100,
    clickhouse: { dataDir: dir, maxMemoryBytes: 256 * 2 ** 20, serverMemoryBytes: 512 * 2 ** 20 },
    badNumbers: undefined,
    reportPageRows: 1000,
    routing: { numberingPlan: c.routing.numberingPlan, rangeFiles: c.routing.rangeFiles },
    baseDir: process.cwd(),
  }, () => undefined);
  const frames: Array<{ scope: string; frame: RollupFrame }> = [];
  h.onRollup((scope, frame) => frames.push({ scope, frame }));
  hosts.push(h);
  return { host: h, frames };
}

/** Sum of one count over the frames of a scope (frames are increments). */
function total(frames: Array<{ scope: string; frame: RollupFrame }>, scope: string, k: 'submitted' | 'delivered' | 'undelivered'): number {
  return frames.filter((f) => f.scope === scope).reduce((n, f) => n + Object.values(f.frame.smsc).reduce((m, c) => m + c[k], 0), 0);
}

beforeAll(() => {
  redis = new Redis(inject('redisUrl'));
});

afterAll(async () => {
  for (const h of hosts) await h.stop();
  const ks = await redis.keys(`${prefix}*`);
  if (ks.length > 0) await redis.del(...ks);
  redis.disconnect();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('live analytics feed of several nodes', () => {
  it("every node's feed shows the fleet's counts, while each sink reads a share of the events", async () => {
    await ensureGroups(redis, eventStreamKeys(keys), ANALYTICS_GROUP, '0');
    const a = host('a');
    const b = host('b');
    a.host.start();
    b.host.start();
    await waitFor(() => a.host.state.ready && b.host.state.ready, 60_000, 'both analytics processes ready');
    // 600 events of tenant acme now (the feed counts seconds of the last two minutes), over the shards, in bursts.
    const statuses = ['sent', 'delivered', 'undelivered'];
    const now = Date.now();
    for (let burst = 0; burst < 6; burst++) {
      const p = redis.pipeline();
      for (let i = burst * 100; i < burst * 100 + 100; i++) {
        const status = statuses[i % 3] as string;
        const frame = { op: 'status', id: `m${i}`, ref: `r${i}`, status, at: now + (i % 50) };
        p.xadd(keys.eventsOf(i % SHARDS), '*', 't', 'acme', 'f', JSON.stringify(frame), 'x', `sim-a|4791${100000 + i}|1|${now}|NO|242|01|0.031|EUR|${status === 'delivered' ? 100 + i : ''}`);
      }
      await p.exec();
      await waitFor(() => a.host.state.inserted + b.host.state.inserted >= (burst + 1) * 100, 60_000, `burst ${burst} inserted`);
    }
    // Each feed, the admin's and the tenant's scope: all 200 of each status, whichever sink read them.
    for (const [name, n] of [['a', a], ['b', b]] as const) {
      await waitFor(() => total(n.frames, '*', 'submitted') === 200 && total(n.frames, '*', 'delivered') === 200 && total(n.frames, '*', 'undelivered') === 200, 60_000, `node ${name}'s feed: the fleet's counts (has ${total(n.frames, '*', 'submitted')} sent)`);
      expect([total(n.frames, 'acme', 'submitted'), total(n.frames, 'acme', 'delivered'), total(n.frames, 'acme', 'undelivered')]).toEqual([200, 200, 200]);
    }
    expect(a.host.state.inserted + b.host.state.inserted).toBe(600);
    // Both nodes' feeds agree frame by frame once merged: the same seconds with the same counts.
    const perSecond = (frames: Array<{ scope: string; frame: RollupFrame }>) => {
      const m = new Map<number, number>();
      for (const f of frames) if (f.scope === '*') m.set(f.frame.t, (m.get(f.frame.t) ?? 0) + (f.frame.smsc['sim-a']?.delivered ?? 0));
      return [...m].sort((x, y) => x[0] - y[0]);
    };
    expect(perSecond(a.frames)).toEqual(perSecond(b.frames));
  }, 240_000);
});
