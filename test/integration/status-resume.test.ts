/**
 * Status resume over 4 shard streams, on a single Redis and on the Redis
 * Cluster (issue 12 item 7, issue 11 item 6, issue 13): `$` means from now,
 * the saved cursor (a hash shard → position) keeps up with the pushes, a
 * resume reaches back a bounded time, many resuming connections cost one pass
 * over the streams reading only their tenants' frames, `since=s<K>-…` resumes
 * shard K exactly and the others from the margin, and the unsharded form is
 * still taken.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { ORDER_SLACK_MS, StatusDispatcher, type StatusDispatcherOptions, type StatusSink } from '../../engine/push/status-dispatcher.js';
import type { Keys } from '../../engine/queue/keys.js';
import { isCluster, masterNodes, type RedisClient } from '../../engine/redis/connect-redis.js';
import { ShardWorld, idOfEid, modes, shardOfEid, statusFields } from '../helpers/event-shards.js';
import { waitFor } from '../helpers/wait-for.js';

interface TestSink extends StatusSink {
  readonly frames: Array<Record<string, unknown>>;
  readonly eids: string[];
  onPush?: (frames: string[]) => void;
}

function sink(tenant: string): TestSink {
  const s: TestSink = {
    tenant, live: false, closed: false, frames: [], eids: [],
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

/** Bytes read by a client's connections so far (every master's on a cluster). */
function bytesRead(c: RedisClient): number {
  const nodes = isCluster(c) ? masterNodes(c) : [c as Redis];
  return nodes.reduce((n, r) => n + ((r as unknown as { stream?: { bytesRead: number } }).stream?.bytesRead ?? 0), 0);
}

const byMs = (a: string, b: string) => {
  const [am, as] = idOfEid(a).split('-').map(Number) as [number, number];
  const [bm, bs] = idOfEid(b).split('-').map(Number) as [number, number];
  return am - bm || as - bs;
};

describe.each(modes)('status resume (%s, 4 shards)', (mode) => {
  let w: ShardWorld;
  const running: StatusDispatcher[] = [];

  beforeAll(() => {
    w = new ShardWorld(mode);
  });
  afterAll(async () => {
    for (const d of running) await d.stop().catch(() => undefined);
    await w.close();
  });

  function dispatcher(keys: Keys, o: Partial<StatusDispatcherOptions> = {}, r = w.client('sy-test-cmd'), b = w.reader('sy-test-read')): StatusDispatcher {
    const d = new StatusDispatcher(r, b, keys, o);
    d.start();
    running.push(d);
    return d;
  }

  /** n statuses of a tenant, spread over the shards in bursts of 8 (as the ingress does). */
  function write(keys: Keys, tenant: string, n: number, tag = 'x', from = 0): Promise<string[]> {
    return w.add(keys, Array.from({ length: n }, (_, i) => ({ shard: Math.floor((from + i) / 8) % keys.shards.count, fields: statusFields(tenant, `${tag}${i}`) })));
  }

  it('since=$ on a node with no open status connection replayed old frames of the idle reader\'s cursor: $ is from now', async () => {
    const keys = w.keys(4);
    const d = dispatcher(keys);
    await write(keys, 'acme', 30, 'before');
    const first = sink('acme');
    await d.attach(first, '$');
    expect(first.live).toBe(true);
    d.detach(first);
    // nobody connected: the live reader idles while 100 statuses are written
    await write(keys, 'acme', 100, 'idle');
    const second = sink('acme');
    await d.attach(second, '$');
    const now = await write(keys, 'acme', 4, 'new', 0);
    await waitFor(() => second.eids.length >= 1, 10_000, 'the new frames');
    await waitFor(() => second.eids.length >= 4, 10_000, 'the new frames');
    expect(second.eids.sort()).toEqual([...now].sort());
    d.detach(second);
  });

  it('a since beyond the stream\'s end waited for the clock to pass it: it is from now, in every shard', async () => {
    const keys = w.keys(4);
    const d = dispatcher(keys);
    await write(keys, 'acme', 40);
    for (const since of ['s2-99999999999999-0', '99999999999999-0']) {
      const s = sink('acme');
      await d.attach(s, since);
      const now = await w.add(keys, [0, 1, 2, 3].map((k) => ({ shard: k, fields: statusFields('acme', `new${k}`) })));
      await waitFor(() => s.eids.length >= 4, 10_000, 'the new frames');
      expect(s.eids.sort()).toEqual([...now].sort());
      d.detach(s);
    }
  });

  it('resuming from the saved cursor re-sent frames pushed before an engine kill: it repeats at most the batch in flight, and loses nothing', async () => {
    const keys = w.keys(4);
    const r1 = w.client('sy-test-cmd1');
    const b1 = w.reader('sy-test-read1');
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
      written.push(...(await write(keys, 'acme', 100, `k${i}-`, i)));
      await waitFor(() => first.eids.length >= Math.min(total, i + 100), 10_000, 'pushed');
    }
    await waitFor(() => killed && (r1.status === 'end' || r1.status === 'close'), 10_000, 'the kill');
    expect([...first.eids].sort()).toEqual([...written].sort());
    // a new engine; the client reconnects without since (its saved cursor)
    const d2 = dispatcher(keys);
    const second = sink('acme');
    await d2.attach(second, undefined);
    const after = await write(keys, 'acme', 20, 'after');
    await waitFor(() => after.every((e) => second.eids.includes(e)), 10_000, 'frames after the restart');
    const repeated = second.eids.filter((e) => first.eids.includes(e));
    expect(repeated.length).toBeLessThanOrEqual(inFlight.length);
    for (const e of repeated) expect(inFlight).toContain(e);
    expect(new Set([...first.eids, ...second.eids])).toEqual(new Set([...written, ...after]));
    expect(second.eids.length).toBe(new Set(second.eids).size);
    d2.detach(second);
  });

  it('a resume reached back to the start of the events stream: it reaches back resumeMaxAgeMs, and says so', async () => {
    const keys = w.keys(4);
    const now = Date.now();
    // an hour-old status in shard 1 and recent ones in shards 0 and 3 (explicit ids: their times)
    await w.add(keys, [
      { shard: 1, id: `${now - 3600_000}-0`, fields: statusFields('acme', 'old') },
      { shard: 0, id: `${now - 10_000}-0`, fields: statusFields('acme', 'r1') },
      { shard: 3, id: `${now - 5_000}-0`, fields: statusFields('acme', 'r2') },
    ]);
    const d = dispatcher(keys, { resumeMaxAgeMs: 300_000 });
    for (const since of ['0-0', 's1-0-0']) {
      const s = sink('acme');
      await d.attach(s, since);
      await waitFor(() => s.live, 10_000, 'live');
      expect(s.frames.map((f) => f.id ?? f.code)).toEqual(['RESUME_LIMITED', 'r1', 'r2']);
      expect(s.frames[0]).toMatchObject({ op: 'error', code: 'RESUME_LIMITED' });
      expect(String(s.frames[0]?.error)).toContain('300 s');
      d.detach(s);
    }
    // A position within the reach is not clamped and gets no notice, whatever the margin reaches for.
    const s = sink('acme');
    await d.attach(s, `s0-${now - 10_000}-0`);
    await waitFor(() => s.live, 10_000, 'live');
    expect(s.frames.map((f) => f.id ?? f.code)).toEqual(['r2']);
    d.detach(s);
  });

  it('since=s<K>-<ms>-<seq> resumes shard K exactly and the other shards from the margin before it: a client that dedups by eid loses nothing', async () => {
    const keys = w.keys(4);
    const d = dispatcher(keys, { resumeMarginMs: 60_000 });
    const first = sink('acme');
    await d.attach(first, '$');
    const before = await write(keys, 'acme', 64, 'a');
    await waitFor(() => first.eids.length >= 64, 10_000, 'pushed');
    // The client processed up to a frame of shard 2 and went away; more came meanwhile.
    const last = first.eids.filter((e) => shardOfEid(e) === 2).at(-1) as string;
    const processed = first.eids.slice(0, first.eids.indexOf(last) + 1);
    d.detach(first);
    const meanwhile = await write(keys, 'acme', 32, 'b', 64);
    const again = sink('acme');
    await d.attach(again, last);
    await waitFor(() => meanwhile.every((e) => again.eids.includes(e)), 10_000, 'the frames written meanwhile');
    // Nothing of shard 2 up to `last` again; everything not processed is there; repeats only of other shards.
    expect(again.eids.filter((e) => shardOfEid(e) === 2 && byMs(e, last) <= 0)).toEqual([]);
    for (const e of [...before, ...meanwhile]) if (!processed.includes(e)) expect(again.eids).toContain(e);
    for (const e of again.eids.filter((x) => processed.includes(x))) expect(shardOfEid(e)).not.toBe(2);
    // Within a shard, in order, and across shards by time.
    for (let k = 0; k < 4; k++) {
      const mine = again.eids.filter((e) => shardOfEid(e) === k);
      expect(mine).toEqual([...mine].sort(byMs));
    }
    d.detach(again);
  });

  it('a catch-up gives the frames of every shard in time order, within ORDER_SLACK_MS (a full page stops the others soon after its end)', async () => {
    const keys = w.keys(4);
    const now = Date.now();
    // Shard 0 dense (2,000 entries over 20 s), shards 1-3 sparse (20 entries each over the same 20 s).
    const items: Array<{ shard: number; id: string; fields: string[] }> = [];
    for (let i = 0; i < 2000; i++) items.push({ shard: 0, id: `${now - 60_000 + i * 10}-0`, fields: statusFields('acme', `d${i}`) });
    for (let k = 1; k < 4; k++) for (let i = 0; i < 20; i++) items.push({ shard: k, id: `${now - 60_000 + i * 1000 + k}-0`, fields: statusFields('acme', `s${k}-${i}`) });
    await w.add(keys, items);
    const d = dispatcher(keys);
    const s = sink('acme');
    await d.attach(s, `${now - 61_000}-0`);
    await waitFor(() => s.live, 10_000, 'live');
    expect(s.eids.length).toBe(2060);
    expect(new Set(s.eids).size).toBe(2060);
    // Nothing arrives more than ORDER_SLACK_MS older than a frame before it.
    let latest = 0;
    for (const e of s.eids) {
      const ms = Number(idOfEid(e).split('-')[0]);
      expect(ms).toBeGreaterThan(latest - ORDER_SLACK_MS);
      latest = Math.max(latest, ms);
    }
    for (let k = 0; k < 4; k++) {
      const mine = s.eids.filter((e) => shardOfEid(e) === k);
      expect(mine).toEqual([...mine].sort(byMs));
    }
    expect(d.catchUps.rescanned).toBeGreaterThan(0); // a full page did stop the others
    d.detach(s);
  });

  it('since=0-0 from many connections made each scan every tenant\'s events: one shared scan reads only their frames, within the limits', async () => {
    const keys = w.keys(4);
    const TENANTS = 40;
    const PER = 250;
    // 10,000 statuses of 40 tenants, interleaved, over the 4 shards
    for (let round = 0; round < PER; round += 50) {
      const items = [];
      for (let i = 0; i < 50; i++) for (let t = 0; t < TENANTS; t++) items.push({ shard: (round + i) % 4, fields: ['t', `t${t}`, 'f', `{"op":"status","id":"m${round + i}","status":"delivered","at":1732290000123}`, 'x', 'sim-a|4791234567|1|1732290000000|NO|242|01|0.032|EUR|812|'] });
      await w.add(keys, items);
    }
    const r = w.client('sy-test-cmd');
    await r.ping();
    if (isCluster(r)) await Promise.all(masterNodes(r).map((m) => m.ping()));
    const before = bytesRead(r);
    const d = dispatcher(keys, { maxCatchUps: 8, maxCatchUpsPerTenant: 1 }, r);
    // 60 connections: every tenant once, and a second connection for 20 of them
    const sinks = [...Array.from({ length: TENANTS }, (_, t) => sink(`t${t}`)), ...Array.from({ length: 20 }, (_, t) => sink(`t${t}`))];
    await Promise.all(sinks.map((s) => d.attach(s, '0-0')));
    for (const s of sinks) {
      expect(s.frames.length).toBe(PER);
      expect(s.frames.every((f) => f.op === 'status')).toBe(true);
    }
    // each connection got its tenant's frames only, in order within each shard (m<j> is in shard j mod 4)
    for (let k = 0; k < 4; k++) {
      const mine = (sinks[3] as TestSink).frames.filter((f) => shardOfEid(f.eid as string) === k).map((f) => f.id);
      expect(mine).toEqual(Array.from({ length: PER }, (_, j) => j).filter((j) => j % 4 === k).map((j) => `m${j}`));
    }
    // Redis sent this client about what the tenants needed (their frames and ids), not 60 times
    // the whole stream (~190 bytes an entry × 10,000 × 60 ≈ 114 MB)
    const read = bytesRead(r) - before;
    const needed = sinks.reduce((n, s) => n + s.frames.reduce((b, f) => b + JSON.stringify(f).length, 0), 0);
    expect(read).toBeLessThan(2 * needed);
    expect(d.catchUps.maxRunning).toBeLessThanOrEqual(8);
    expect(d.catchUps.scanned).toBeLessThan(10 * TENANTS * PER);
    for (const s of sinks) d.detach(s);
  });

  it('the saved cursor is a hash shard → position, and since names a shard this deployment has', async () => {
    const keys = w.keys(4);
    const d = dispatcher(keys);
    const s = sink('acme');
    await d.attach(s, '$');
    const eids = await write(keys, 'acme', 32);
    await waitFor(() => s.eids.length >= 32, 10_000, 'pushed');
    await waitFor(async () => Object.keys(await w.redis.hgetall(keys.statusCursor('acme'))).length === 4, 10_000, 'the saved cursor');
    const saved = await w.redis.hgetall(keys.statusCursor('acme'));
    for (let k = 0; k < 4; k++) expect(saved[String(k)]).toBe(idOfEid(eids.filter((e) => shardOfEid(e) === k).at(-1) as string));
    expect(d.checkSince('s3-1732290000000-0')).toBeUndefined();
    expect(d.checkSince('1732290000000-0')).toBeUndefined();
    expect(d.checkSince('$')).toBeUndefined();
    for (const bad of ['s4-1732290000000-0', 's-1-0', 'sx-1-0', 's1-1', '1-2-3', 'abc']) expect(d.checkSince(bad)).toContain('"since" must be an event id');
    d.detach(s);
  });
});
