/**
 * Status resume against a real Redis (issue 12 item 7, issue 11 item 6):
 * `$` means from now, the saved cursor keeps up with the pushes, a resume
 * reaches back a bounded time, and many resuming connections cost one pass
 * over the events stream, reading only their tenants' frames.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { StatusDispatcher, type StatusDispatcherOptions, type StatusSink } from '../../engine/push/status-dispatcher.js';
import { Keys } from '../../engine/queue/keys.js';
import { waitFor } from '../helpers/wait-for.js';

const url = () => inject('redisUrl');
let redis: Redis;
const prefixes: string[] = [];
const opened: Redis[] = [];
const running: StatusDispatcher[] = [];

function conn(): Redis {
  const r = new Redis(url());
  opened.push(r);
  return r;
}

function freshKeys(): Keys {
  const p = `t:${randomBytes(4).toString('hex')}:`;
  prefixes.push(p);
  return new Keys(p);
}

function dispatcher(keys: Keys, o: Partial<StatusDispatcherOptions> = {}, r = conn(), b = conn()): StatusDispatcher {
  const d = new StatusDispatcher(r, b, keys, o);
  d.start();
  running.push(d);
  return d;
}

interface TestSink extends StatusSink {
  readonly frames: Array<Record<string, unknown>>;
  readonly eids: string[];
  onPush?: (frames: string[]) => void;
}

function sink(tenant: string): TestSink {
  const s: TestSink = {
    tenant, lastEid: '0-0', live: false, closed: false, frames: [], eids: [],
    push: (f) => s.pushMany([f]),
    pushMany: (fs) => {
      for (const f of fs) {
        const o = JSON.parse(f) as Record<string, unknown>;
        s.frames.push(o);
        if (typeof o.eid === 'string') s.eids.push(o.eid);
      }
      s.onPush?.(fs);
      return true;
    },
  };
  return s;
}

async function write(keys: Keys, tenant: string, n: number, tag = 'x'): Promise<string[]> {
  const p = redis.pipeline();
  for (let i = 0; i < n; i++) p.xadd(keys.events(), '*', 't', tenant, 'f', `{"op":"status","id":"${tag}${i}","status":"sent"}`, 'x', 'a|4791234567|1|0|NO|242|01|0.03|EUR||');
  return ((await p.exec()) ?? []).map(([, id]) => id as string);
}

beforeAll(() => {
  redis = new Redis(url());
});

afterAll(async () => {
  for (const d of running) await d.stop().catch(() => undefined);
  for (const p of prefixes) {
    const keys = await redis.keys(p + '*');
    if (keys.length > 0) await redis.del(...keys);
  }
  for (const r of opened) r.disconnect();
  redis.disconnect();
});

describe('status resume', () => {
  it('since=$ on a node with no open status connection replayed old frames of the idle reader\'s cursor: $ is from now', async () => {
    const keys = freshKeys();
    const d = dispatcher(keys);
    await write(keys, 'acme', 3, 'before');
    const first = sink('acme');
    await d.attach(first, '$');
    expect(first.live).toBe(true);
    d.detach(first);
    // nobody connected: the live reader idles while 100 statuses are written
    await write(keys, 'acme', 100, 'idle');
    const second = sink('acme');
    await d.attach(second, '$');
    const [now] = await write(keys, 'acme', 1, 'new');
    await waitFor(() => second.eids.length >= 1, 10_000, 'the new frame');
    expect(second.eids).toEqual([now]);
    d.detach(second);
  });

  it('a since beyond the stream\'s end waited for the clock to pass it: it is from now', async () => {
    const keys = freshKeys();
    const d = dispatcher(keys);
    await write(keys, 'acme', 2);
    const s = sink('acme');
    await d.attach(s, '99999999999999-0');
    const [now] = await write(keys, 'acme', 1, 'new');
    await waitFor(() => s.eids.length >= 1, 10_000, 'the new frame');
    expect(s.eids).toEqual([now]);
    d.detach(s);
  });

  it('resuming from the saved cursor re-sent frames pushed before an engine kill: it repeats at most the batch in flight, and loses nothing', async () => {
    const keys = freshKeys();
    const r1 = conn();
    const b1 = conn();
    const d1 = new StatusDispatcher(r1, b1, keys);
    d1.start();
    const first = sink('acme');
    await d1.attach(first, '$');
    const written: string[] = [];
    let killed = false;
    let inFlight: string[] = [];
    const total = 3000;
    first.onPush = (frames) => {
      if (killed) return;
      inFlight = frames.map((f) => (JSON.parse(f) as { eid: string }).eid);
      if (first.eids.length >= total) {
        // SIGKILL right after the last push batch: the connections to Redis go, whatever the
        // dispatcher had not yet written with them is lost.
        killed = true;
        setImmediate(() => {
          r1.disconnect();
          b1.disconnect();
        });
      }
    };
    // statuses arrive in many small batches, as under load
    for (let i = 0; i < total; i += 100) {
      written.push(...(await write(keys, 'acme', 100, `k${i}-`)));
      await waitFor(() => first.eids.length >= Math.min(total, i + 100), 10_000, 'pushed');
    }
    await waitFor(() => killed && r1.status === 'end', 10_000, 'the kill');
    expect(first.eids).toEqual(written);
    // a new engine; the client reconnects without since (its saved cursor)
    const d2 = dispatcher(keys);
    const second = sink('acme');
    await d2.attach(second, undefined);
    const after = await write(keys, 'acme', 5, 'after');
    await waitFor(() => second.eids.includes(after[4] as string), 10_000, 'frames after the restart');
    const repeated = second.eids.filter((e) => first.eids.includes(e));
    expect(repeated.length).toBeLessThanOrEqual(inFlight.length);
    for (const e of repeated) expect(inFlight).toContain(e);
    expect([...new Set([...first.eids, ...second.eids])]).toEqual([...written, ...after]);
    d2.detach(second);
  });

  it('a resume reached back to the start of the events stream: it reaches back resumeMaxAgeMs, and says so', async () => {
    const keys = freshKeys();
    const now = Date.now();
    // an hour-old status and two recent ones (explicit ids: their times)
    await redis.xadd(keys.events(), `${now - 3600_000}-0`, 't', 'acme', 'f', '{"op":"status","id":"old","status":"sent"}');
    await redis.xadd(keys.events(), `${now - 10_000}-0`, 't', 'acme', 'f', '{"op":"status","id":"r1","status":"sent"}');
    await redis.xadd(keys.events(), `${now - 5_000}-0`, 't', 'acme', 'f', '{"op":"status","id":"r2","status":"sent"}');
    const d = dispatcher(keys, { resumeMaxAgeMs: 300_000 });
    const s = sink('acme');
    await d.attach(s, '0-0');
    await waitFor(() => s.live, 10_000, 'live');
    expect(s.frames.map((f) => f.id ?? f.code)).toEqual(['RESUME_LIMITED', 'r1', 'r2']);
    expect(s.frames[0]).toMatchObject({ op: 'error', code: 'RESUME_LIMITED' });
    expect(String(s.frames[0]?.error)).toContain('300 s');
    d.detach(s);
  });

  it('since=0-0 from many connections made each scan every tenant\'s events: one shared scan reads only their frames, within the limits', async () => {
    const keys = freshKeys();
    const TENANTS = 40;
    const PER = 250;
    // 10,000 statuses of 40 tenants, interleaved
    for (let round = 0; round < PER; round += 50) {
      const p = redis.pipeline();
      for (let i = 0; i < 50; i++) for (let t = 0; t < TENANTS; t++) p.xadd(keys.events(), '*', 't', `t${t}`, 'f', `{"op":"status","id":"m${round + i}","status":"delivered","at":1732290000123}`, 'x', 'sim-a|4791234567|1|1732290000000|NO|242|01|0.032|EUR|812|');
      await p.exec();
    }
    const r = conn();
    await r.ping();
    const before = (r as unknown as { stream: { bytesRead: number } }).stream.bytesRead;
    const d = dispatcher(keys, { maxCatchUps: 8, maxCatchUpsPerTenant: 1 }, r);
    // 60 connections: every tenant once, and a second connection for 20 of them
    const sinks = [...Array.from({ length: TENANTS }, (_, t) => sink(`t${t}`)), ...Array.from({ length: 20 }, (_, t) => sink(`t${t}`))];
    await Promise.all(sinks.map((s) => d.attach(s, '0-0')));
    for (const s of sinks) {
      expect(s.frames.length).toBe(PER);
      expect(s.frames.every((f) => f.op === 'status')).toBe(true);
    }
    // each connection got its tenant's frames only, in order
    expect(sinks[3]?.frames.map((f) => f.id)).toEqual(Array.from({ length: PER }, (_, i) => `m${i}`));
    // Redis sent this connection about what the tenants needed (their frames and ids), not 60 times
    // the whole stream (~190 bytes an entry × 10,000 × 60 ≈ 114 MB)
    const read = (r as unknown as { stream: { bytesRead: number } }).stream.bytesRead - before;
    const needed = sinks.reduce((n, s) => n + s.frames.reduce((b, f) => b + JSON.stringify(f).length, 0), 0);
    expect(read).toBeLessThan(2 * needed);
    expect(d.catchUps.maxRunning).toBeLessThanOrEqual(8);
    expect(d.catchUps.scanned).toBeLessThan(10 * TENANTS * PER);
    for (const s of sinks) d.detach(s);
  });
});
