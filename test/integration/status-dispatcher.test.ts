/**
 * The status dispatcher over 4 shard streams, on a single Redis and on the
 * Redis Cluster: a connection that is backpressured, catches up by itself and
 * goes live again while the live reader is behind gets every frame exactly
 * once, in order within each shard (regression: the live reader moved the
 * connection's position back to its own, and the frames between were sent
 * twice: 36,943 duplicate finals in one load run).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StatusDispatcher, type StatusSink } from '../../engine/push/status-dispatcher.js';
import { ShardWorld, modes, shardOfEid } from '../helpers/event-shards.js';
import { waitFor } from '../helpers/wait-for.js';

describe.each(modes)('status dispatcher (%s, 4 shards)', (mode) => {
  let w: ShardWorld;
  beforeAll(() => {
    w = new ShardWorld(mode);
  });
  afterAll(async () => {
    await w.close();
  });

  it('a connection that catches up while the live reader is behind gets every frame once', async () => {
    const keys = w.keys(4);
    const d = new StatusDispatcher(w.client('sy-test-cmd'), w.reader('sy-test-read'), keys);
    d.start();
    const got: string[] = [];
    let refuse = 0; // the next `refuse` pushes report backpressure (the frames are still taken, as uWS buffers them)
    let drained = true;
    const take = (frames: string[]) => {
      for (const f of frames) got.push((/^\{"eid":"([^"]+)"/.exec(f) as RegExpExecArray)[1] as string);
      if (refuse > 0) {
        refuse--;
        drained = false;
        return false;
      }
      return true;
    };
    const sink: StatusSink = { tenant: 'acme', live: false, closed: false, push: (f) => take([f]), pushMany: take };
    // Another connection of the tenant that always keeps up: when it has a round's frames, the live reader has passed them.
    const other: string[] = [];
    const witness: StatusSink = { tenant: 'acme', live: false, closed: false, push: (f) => witness.pushMany([f]), pushMany: (fs) => (other.push(...fs), true) };
    await d.attach(sink, '$');
    await d.attach(witness, '$');
    expect(sink.live).toBe(true);
    const total = mode === 'single' ? 30_000 : 12_000;
    const written: string[] = [];
    for (let round = 0; round < 6; round++) {
      // bursts of 64 per shard in turn, as the ingress spreads them
      const items = Array.from({ length: total / 6 }, (_, i) => ({ shard: Math.floor((written.length + i) / 64) % 4, fields: ['t', 'acme', 'f', `{"op":"status","n":${written.length + i}}`] }));
      written.push(...(await w.add(keys, items)));
      // A backpressured connection's buffer drains (uWS: drain → resume) once the live reader has moved on:
      // it catches up by scan pages, while the reader goes on.
      await waitFor(() => other.length >= written.length, 30_000, 'the live reader');
      if (!drained) {
        drained = true;
        d.resume(sink);
      }
      // backpressure now and then: the connection drops out of live
      refuse = 1;
    }
    refuse = 0;
    await waitFor(() => {
      if (!drained) {
        drained = true;
        d.resume(sink);
      }
      return got.length >= total && sink.live;
    }, 30_000, 'every frame');
    await new Promise((ok) => setTimeout(ok, 200)); // anything sent twice would come now
    expect(got.length).toBe(total);
    expect(new Set(got).size).toBe(total);
    expect(d.catchUps.pages).toBeGreaterThan(0); // it did catch up by scan pages
    for (let k = 0; k < 4; k++) expect(got.filter((e) => shardOfEid(e) === k)).toEqual(written.filter((e) => shardOfEid(e) === k));
    witness.closed = true;
    d.detach(witness);
    sink.closed = true;
    d.detach(sink);
    await d.stop();
  });
});
