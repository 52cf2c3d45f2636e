/**
 * The events sink against the real ClickHouse engine (chdb) and 4 shard
 * streams on a single Redis and on the Redis Cluster: events reach ClickHouse
 * exactly once — across a crash between insert and acknowledgement (events,
 * per-minute aggregates and latest states alike), across a crash between the
 * acknowledgements of a batch's shards, and across ClickHouse failing inserts
 * for a while; rows carry the sharded eid; MO entries are skipped and any
 * status string is taken.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openClickHouse } from '../../analytics/clickhouse.js';
import { EventSink, type SourceEntry } from '../../analytics/event-sink.js';
import { migrate } from '../../analytics/schema.js';
import { RedisEventSource } from '../../engine/analytics/redis-event-source.js';
import type { Keys } from '../../engine/queue/keys.js';
import { ShardWorld, modes, type Mode } from '../helpers/event-shards.js';

let ch: ClickHouseClient;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sy-chdb-'));
  ch = openClickHouse({ dataDir: dir, maxMemoryBytes: 512 * 2 ** 20 });
  expect(await migrate(ch)).toEqual([1, 2]);
  expect(await migrate(ch)).toEqual([]); // each version once
});

afterAll(async () => {
  await ch.close();
  rmSync(dir, { recursive: true, force: true });
});

const statuses = ['sent', 'delivered', 'undelivered', 'expired'];

async function count(where = '1'): Promise<number> {
  const rs = await ch.query({ query: `SELECT count() AS c FROM events WHERE ${where}`, format: 'JSONEachRow' });
  return Number(((await rs.json()) as Array<{ c: string }>)[0]?.c);
}

describe.each(modes)('analytics events sink (%s, 4 shards)', (mode: Mode) => {
  let w: ShardWorld;
  /** Message ids of this mode's rows (the ClickHouse is shared by both modes). */
  const m = `${mode[0]}m`;
  beforeAll(() => {
    w = new ShardWorld(mode);
  });
  afterAll(async () => {
    await w.close();
  });

  /** This mode's hour: the per-minute aggregates of one mode's tests are apart from the other's. */
  const hour = mode === 'single' ? 12 : 13;

  /** n status events m<from..>, spread over the shards in bursts of 8, at `minute` of the mode's hour. */
  async function addEvents(keys: Keys, n: number, from: number, minute: number): Promise<string[]> {
    const items = [];
    for (let i = from; i < from + n; i++) {
      const status = statuses[i % 4] as string;
      const frame = { op: 'status', id: `${m}${i}`, ref: `r${i}`, status, at: Date.UTC(2026, 10, 23, hour, minute, 0) + i - from, ...(status === 'undelivered' ? { error: { code: '011', text: 'UNDELIV' } } : {}) };
      items.push({ shard: Math.floor(i / 8) % 4, fields: ['t', i % 3 === 0 ? 'beta' : 'acme', 'f', JSON.stringify(frame), 'x', `sim-${i % 2}|4791${String(100000 + i)}|1|${Date.UTC(2026, 10, 23, 11, 59, 0)}|NO|242|01|0.031|EUR`] });
    }
    return w.add(keys, items);
  }

  function source(keys: Keys, consumer: string): RedisEventSource {
    return new RedisEventSource(w.reader('sy-test-sink-read'), w.client('sy-test-sink'), keys, consumer);
  }

  /** Events and undelivered ones in the per-minute aggregates of a minute of the mode's hour. */
  async function minuteTotals(minute: number): Promise<[number, number]> {
    const agg = await ch.query({ query: `SELECT sum(events) AS n, sumIf(events, status = 'undelivered') AS u FROM events_minute WHERE minute = toDateTime('2026-11-23 ${hour}:0${minute}:00', 'UTC')`, format: 'JSONEachRow' });
    return ((await agg.json()) as Array<{ n: string | number; u: string | number }>).map((r) => [Number(r.n), Number(r.u)] as [number, number])[0] as [number, number];
  }

  const mine = (from: number, to: number) => `message_id IN (${Array.from({ length: to - from }, (_, i) => `'${m}${from + i}'`).join(',')})`;

  it('inserts every event once, with its fields and sharded eid, across a crash between insert and acknowledgement', async () => {
    const keys = w.keys(4);
    const eids = await addEvents(keys, 1000, 0, 0);
    const sink = new EventSink(source(keys, 'n1'), ch, { consumer: 'n1', batchMax: 300, flushMs: 50 });
    await sink.ensureGroup();
    expect(await sink.runOnce()).toBeGreaterThanOrEqual(300);
    // crash: the next batch reaches ClickHouse but is not acknowledged
    sink.crashAfterInsert = true;
    await expect(sink.runOnce()).rejects.toThrow('simulated crash');
    // a new sink (same consumer) re-reads the pending batch: ClickHouse drops the repeat
    const again = new EventSink(source(keys, 'n1'), ch, { consumer: 'n1', batchMax: 300, flushMs: 50 });
    while ((await again.runOnce()) > 0);
    expect(await count(mine(0, 1000))).toBe(1000);
    expect(await count(`${mine(0, 1000)} AND status = 'undelivered' AND error_code = '011' AND error_text = 'UNDELIV'`)).toBe(250);
    // 64-bit integers as text: the embedded engine and a server format them alike
    const rs = await ch.query({ query: `SELECT eid, tenant, smsc, destination, country, mcc, mnc, price, currency, parts, toString(toUnixTimestamp64Milli(time)) AS t, toString(toUnixTimestamp64Milli(accepted_at)) AS a FROM events WHERE message_id = '${m}5'`, format: 'JSONEachRow' });
    expect(await rs.json()).toEqual([{ eid: eids[5], tenant: 'acme', smsc: 'sim-1', destination: '4791100005', country: 'NO', mcc: '242', mnc: '01', price: 0.031, currency: 'EUR', parts: 1, t: String(Date.UTC(2026, 10, 23, hour, 0, 0) + 5), a: String(Date.UTC(2026, 10, 23, 11, 59, 0)) }]);
    expect(eids[5]).toMatch(/^s0-\d+-\d+$/);
    for (let k = 0; k < 4; k++) expect(((await w.redis.xpending(keys.eventsOf(k), 'analytics')) as unknown[])[0]).toBe(0);
    // the per-minute aggregates and the latest-state table were not doubled by the repeated batch either
    expect(await minuteTotals(0)).toEqual([1000, 250]);
    const msgs = await ch.query({ query: `SELECT count() AS n, uniqExact(message_id) AS u FROM messages WHERE ${mine(0, 1000)}`, format: 'JSONEachRow' });
    expect(((await msgs.json()) as Array<{ n: string | number; u: string | number }>).map((r) => [Number(r.n), Number(r.u)])).toEqual([[1000, 1000]]);
  });

  it('a crash between the acknowledgements of a batch\'s shards inserted their rest again: the part left pending is only acknowledged', async () => {
    const keys = w.keys(4);
    await addEvents(keys, 400, 20_000, 1);
    // The acknowledgements of the first batch reach shards 0 and 1, then the sink dies (on a cluster,
    // shards live on several masters: one may answer and another not).
    const crashing = source(keys, 'n4');
    crashing.ack = async (entries: ReadonlyArray<SourceEntry>) => {
      await RedisEventSource.prototype.ack.call(crashing, entries.filter((e) => e.shard < 2));
      throw new Error('simulated crash between acknowledgements');
    };
    const sink = new EventSink(crashing, ch, { consumer: 'n4', batchMax: 1000, flushMs: 50 });
    await sink.ensureGroup();
    await expect(sink.runOnce()).rejects.toThrow('between acknowledgements');
    let pending = 0;
    for (let k = 0; k < 4; k++) pending += ((await w.redis.xpending(keys.eventsOf(k), 'analytics')) as [number])[0];
    const left = (await w.redis.xlen(keys.eventsOf(2))) + (await w.redis.xlen(keys.eventsOf(3)));
    expect(pending).toBe(left); // shards 2 and 3
    const again = new EventSink(source(keys, 'n4'), ch, { consumer: 'n4', batchMax: 1000, flushMs: 50 });
    for (let i = 0; i < 10; i++) await again.runOnce();
    expect(await count(mine(20_000, 20_400))).toBe(400);
    expect(again.acknowledgedOnly).toBe(left);
    expect(await minuteTotals(1)).toEqual([400, 100]);
    for (let k = 0; k < 4; k++) expect(((await w.redis.xpending(keys.eventsOf(k), 'analytics')) as unknown[])[0]).toBe(0);
  });

  it('skips MO entries and takes any status string (issue 6 adds scheduled, queued, paused, stopped, ...)', async () => {
    const keys = w.keys(4);
    const frame = (id: string, status: string, extra = {}) => JSON.stringify({ op: 'status', id, ref: '', status, at: Date.UTC(2026, 10, 24, 9, 0, 0), ...extra });
    const x = 'sim-a|4791300001|2|1795000000000|NO|242|01|0.03|EUR';
    await w.add(keys, [
      { shard: 1, fields: ['t', 'acme', 'f', frame(`${m}s1`, 'scheduled'), 'x', x] },
      { shard: 2, fields: ['t', 'acme', 'k', 'mo', 'f', JSON.stringify({ op: 'mo', id: 'mo1', from: '+4791300001', to: '2222', text: 'STOP', at: 1, smsc: 'sim-a', optOut: true })] },
      { shard: 1, fields: ['t', 'acme', 'f', frame(`${m}s1`, 'stopped', { error: { code: 'OPTED_OUT', text: 'the number opted out' } }), 'x', x] },
      // a receipt-caused failure: latency and the operator's raw reply ride at the end of x ('|' inside the raw text is kept)
      { shard: 3, fields: ['t', 'acme', 'f', frame(`${m}s2`, 'undelivered', { error: { code: '001', text: 'UNDELIV' } }), 'x', `${x}|1234|id:7 stat:UNDELIV err:001 text:a|b`] },
    ]);
    const warnings: string[] = [];
    const sink = new EventSink(source(keys, 'n3'), ch, { consumer: 'n3', batchMax: 100, flushMs: 20, log: (_l, msg) => warnings.push(msg) });
    await sink.ensureGroup();
    let n = 0;
    while (n < 3) n += await sink.runOnce();
    expect(n).toBe(3);
    expect(warnings).toEqual([]);
    const rs = await ch.query({ query: `SELECT message_id, status, error_code, smpp_stat, raw_reply, latency_ms, parts FROM events WHERE message_id IN ('${m}s1', '${m}s2') ORDER BY message_id, time, status`, format: 'JSONEachRow' });
    expect(await rs.json()).toEqual([
      { message_id: `${m}s1`, status: 'scheduled', error_code: '', smpp_stat: '', raw_reply: '', latency_ms: null, parts: 2 },
      { message_id: `${m}s1`, status: 'stopped', error_code: 'OPTED_OUT', smpp_stat: '', raw_reply: '', latency_ms: null, parts: 2 },
      { message_id: `${m}s2`, status: 'undelivered', error_code: '001', smpp_stat: 'UNDELIV', raw_reply: 'id:7 stat:UNDELIV err:001 text:a|b', latency_ms: 1234, parts: 2 },
    ]);
  });

  it('keeps events pending while ClickHouse refuses inserts, and loses and doubles nothing when it is back', async () => {
    const keys = w.keys(4);
    await addEvents(keys, 500, 5000, 2);
    // A ClickHouse server that is not there: every insert fails.
    const down = openClickHouse({ url: 'http://127.0.0.1:9', dataDir: dir, maxMemoryBytes: 2 ** 28 });
    const failing = new EventSink(source(keys, 'n2'), down, { consumer: 'n2', batchMax: 200, flushMs: 50 });
    await failing.ensureGroup();
    await expect(failing.runOnce()).rejects.toThrow();
    await down.close();
    let pending = 0;
    for (let k = 0; k < 4; k++) pending += ((await w.redis.xpending(keys.eventsOf(k), 'analytics')) as [number])[0];
    expect(pending).toBeGreaterThanOrEqual(200);
    const sink = new EventSink(source(keys, 'n2'), ch, { consumer: 'n2', batchMax: 200, flushMs: 50, log: () => undefined });
    sink.start();
    const deadline = Date.now() + 20_000;
    while (sink.inserted < 500 && Date.now() < deadline) await new Promise((ok) => setTimeout(ok, 50));
    await sink.stop();
    expect(sink.inserted).toBe(500);
    expect(await count(mine(5000, 5500))).toBe(500);
  });
});
