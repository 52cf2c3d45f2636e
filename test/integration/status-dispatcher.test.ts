/**
 * The status dispatcher against a real Redis: a connection that is
 * backpressured, catches up by itself and goes live again while the live
 * reader is behind gets every frame exactly once, in order (regression: the
 * live reader moved the connection's position back to its own, and the
 * frames between were sent twice: 36,943 duplicate finals in one load run).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { StatusDispatcher, type StatusSink } from '../../engine/push/status-dispatcher.js';
import { Keys } from '../../engine/queue/keys.js';
import { waitFor } from '../helpers/wait-for.js';

let redis: Redis;
let blocking: Redis;
const keys = new Keys(`t:${randomBytes(3).toString('hex')}:`);

beforeAll(() => {
  redis = new Redis(inject('redisUrl'));
  blocking = new Redis(inject('redisUrl'));
});
afterAll(async () => {
  await redis.del(keys.events(), keys.statusCursor('acme'));
  redis.disconnect();
  blocking.disconnect();
});

describe('status dispatcher', () => {
  it('a connection that catches up while the live reader is behind gets every frame once', async () => {
    const d = new StatusDispatcher(redis, blocking, keys);
    d.start();
    const got: string[] = [];
    let refuse = 0; // the next `refuse` pushes report backpressure (the frames are still taken, as uWS buffers them)
    const take = (frames: string[]) => {
      for (const f of frames) got.push((/^\{"eid":"([^"]+)"/.exec(f) as RegExpExecArray)[1] as string);
      if (refuse > 0) {
        refuse--;
        // the buffer drains a moment later, as a socket's does (uWS: drain → resume)
        setTimeout(() => d.resume(sink), 5);
        return false;
      }
      return true;
    };
    const sink: StatusSink = { tenant: 'acme', lastEid: '0-0', live: false, closed: false, push: (f) => take([f]), pushMany: take };
    await d.attach(sink, '$');
    expect(sink.live).toBe(true);
    const total = 30_000;
    const written: string[] = [];
    for (let round = 0; round < 6; round++) {
      const p = redis.pipeline();
      for (let i = 0; i < total / 6; i++) p.xadd(keys.events(), '*', 't', 'acme', 'f', `{"op":"status","n":${written.length + i}}`);
      const res = (await p.exec()) ?? [];
      for (const [, id] of res) written.push(id as string);
      // backpressure now and then: the connection drops out of live and catches up by scan pages
      refuse = 1;
      await new Promise((ok) => setTimeout(ok, 5));
    }
    await waitFor(() => got.length >= total && sink.live, 20_000, 'every frame');
    await new Promise((ok) => setTimeout(ok, 200)); // anything sent twice would come now
    expect(got.length).toBe(total);
    expect(new Set(got).size).toBe(total);
    expect(got).toEqual(written);
    sink.closed = true;
    d.detach(sink);
    await d.stop();
  });
});
