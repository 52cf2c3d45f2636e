/**
 * The events sink against a real Redis and the real ClickHouse engine (chdb):
 * events reach ClickHouse exactly once — across a crash between insert and
 * acknowledgement (events, per-minute aggregates and latest states alike),
 * and across ClickHouse failing inserts for a while; MO entries are skipped
 * and any status string is taken.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openClickHouse } from '../../analytics/clickhouse.js';
import { EventSink } from '../../analytics/event-sink.js';
import { migrate } from '../../analytics/schema.js';

let redis: Redis;
let ch: ClickHouseClient;
let dir: string;

beforeAll(async () => {
  redis = new Redis(inject('redisUrl'));
  dir = mkdtempSync(join(tmpdir(), 'sy-chdb-'));
  ch = openClickHouse({ dataDir: dir, maxMemoryBytes: 512 * 2 ** 20 });
  expect(await migrate(ch)).toEqual([1, 2]);
  expect(await migrate(ch)).toEqual([]); // each version once
});

afterAll(async () => {
  await ch.close();
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

const statuses = ['sent', 'delivered', 'undelivered', 'expired'];

async function addEvents(stream: string, n: number, from = 0): Promise<void> {
  const p = redis.pipeline();
  for (let i = from; i < from + n; i++) {
    const status = statuses[i % 4] as string;
    const frame = { op: 'status', id: `m${i}`, ref: `r${i}`, status, at: Date.UTC(2026, 10, 23, 12, 0, 0) + i, ...(status === 'undelivered' ? { error: { code: '011', text: 'UNDELIV' } } : {}) };
    p.xadd(stream, '*', 't', i % 3 === 0 ? 'beta' : 'acme', 'f', JSON.stringify(frame), 'x', `sim-${i % 2}|4791${String(100000 + i)}|1|${Date.UTC(2026, 10, 23, 11, 59, 0)}|NO|242|01|0.031|EUR`);
  }
  await p.exec();
}

async function count(where = '1'): Promise<number> {
  const rs = await ch.query({ query: `SELECT count() AS c FROM events WHERE ${where}`, format: 'JSONEachRow' });
  return Number(((await rs.json()) as Array<{ c: string }>)[0]?.c);
}

describe('analytics events sink', () => {
  it('inserts every event once, with its fields, across a crash between insert and acknowledgement', async () => {
    const stream = `sink1:${Date.now()}:ev`;
    await addEvents(stream, 1000);
    const sink = new EventSink(redis, ch, { streamKey: stream, consumer: 'n1', batchMax: 300, flushMs: 50 });
    await sink.ensureGroup();
    expect(await sink.runOnce()).toBe(300);
    // crash: the next batch reaches ClickHouse but is not acknowledged
    sink.crashAfterInsert = true;
    await expect(sink.runOnce()).rejects.toThrow('simulated crash');
    // a new sink (same consumer) re-reads the pending batch: ClickHouse drops the repeat
    const again = new EventSink(redis, ch, { streamKey: stream, consumer: 'n1', batchMax: 300, flushMs: 50 });
    while ((await again.runOnce()) > 0);
    expect(await count(`message_id LIKE 'm%' AND eid >= '0'`)).toBe(1000);
    expect(await count(`status = 'undelivered' AND error_code = '011' AND error_text = 'UNDELIV'`)).toBe(250);
    // 64-bit integers as text: the embedded engine and a server format them alike
    const rs = await ch.query({ query: `SELECT tenant, smsc, destination, country, mcc, mnc, price, currency, parts, toString(toUnixTimestamp64Milli(time)) AS t, toString(toUnixTimestamp64Milli(accepted_at)) AS a FROM events WHERE message_id = 'm5'`, format: 'JSONEachRow' });
    expect(await rs.json()).toEqual([{ tenant: 'acme', smsc: 'sim-1', destination: '4791100005', country: 'NO', mcc: '242', mnc: '01', price: 0.031, currency: 'EUR', parts: 1, t: String(Date.UTC(2026, 10, 23, 12, 0, 0) + 5), a: String(Date.UTC(2026, 10, 23, 11, 59, 0)) }]);
    expect((await redis.xpending(stream, 'analytics')) as unknown[]).toEqual([0, null, null, null]);
    // the per-minute aggregates and the latest-state table were not doubled by the repeated batch either
    const agg = await ch.query({ query: `SELECT sum(events) AS n, sumIf(events, status = 'undelivered') AS u FROM events_minute WHERE minute = toDateTime('2026-11-23 12:00:00', 'UTC')`, format: 'JSONEachRow' });
    expect(((await agg.json()) as Array<{ n: string | number; u: string | number }>).map((r) => [Number(r.n), Number(r.u)])).toEqual([[1000, 250]]);
    const msgs = await ch.query({ query: `SELECT count() AS n, uniqExact(message_id) AS u FROM messages WHERE message_id LIKE 'm%' AND length(message_id) <= 4`, format: 'JSONEachRow' });
    expect(((await msgs.json()) as Array<{ n: string | number; u: string | number }>).map((r) => [Number(r.n), Number(r.u)])).toEqual([[1000, 1000]]);
  });

  it('skips MO entries and takes any status string (issue 6 adds scheduled, queued, paused, stopped, ...)', async () => {
    const stream = `sink3:${Date.now()}:ev`;
    const frame = (id: string, status: string, extra = {}) => JSON.stringify({ op: 'status', id, ref: '', status, at: Date.UTC(2026, 10, 24, 9, 0, 0), ...extra });
    const x = 'sim-a|4791300001|2|1795000000000|NO|242|01|0.03|EUR';
    await redis.xadd(stream, '*', 't', 'acme', 'f', frame('s1', 'scheduled'), 'x', x);
    await redis.xadd(stream, '*', 't', 'acme', 'k', 'mo', 'f', JSON.stringify({ op: 'mo', id: 'mo1', from: '+4791300001', to: '2222', text: 'STOP', at: 1, smsc: 'sim-a', optOut: true }));
    await redis.xadd(stream, '*', 't', 'acme', 'f', frame('s1', 'stopped', { error: { code: 'OPTED_OUT', text: 'the number opted out' } }), 'x', x);
    // a receipt-caused failure: latency and the operator's raw reply ride at the end of x ('|' inside the raw text is kept)
    await redis.xadd(stream, '*', 't', 'acme', 'f', frame('s2', 'undelivered', { error: { code: '001', text: 'UNDELIV' } }), 'x', `${x}|1234|id:7 stat:UNDELIV err:001 text:a|b`);
    const warnings: string[] = [];
    const sink = new EventSink(redis, ch, { streamKey: stream, consumer: 'n3', batchMax: 100, flushMs: 20, log: (_l, m) => warnings.push(m) });
    await sink.ensureGroup();
    expect(await sink.runOnce()).toBe(3);
    expect(warnings).toEqual([]);
    const rs = await ch.query({ query: `SELECT message_id, status, error_code, smpp_stat, raw_reply, latency_ms, parts FROM events WHERE message_id IN ('s1', 's2') ORDER BY eid`, format: 'JSONEachRow' });
    expect(await rs.json()).toEqual([
      { message_id: 's1', status: 'scheduled', error_code: '', smpp_stat: '', raw_reply: '', latency_ms: null, parts: 2 },
      { message_id: 's1', status: 'stopped', error_code: 'OPTED_OUT', smpp_stat: '', raw_reply: '', latency_ms: null, parts: 2 },
      { message_id: 's2', status: 'undelivered', error_code: '001', smpp_stat: 'UNDELIV', raw_reply: 'id:7 stat:UNDELIV err:001 text:a|b', latency_ms: 1234, parts: 2 },
    ]);
  });

  it('keeps events pending while ClickHouse refuses inserts, and loses and doubles nothing when it is back', async () => {
    const stream = `sink2:${Date.now()}:ev`;
    await addEvents(stream, 500, 5000);
    // A ClickHouse server that is not there: every insert fails.
    const down = openClickHouse({ url: 'http://127.0.0.1:9', dataDir: dir, maxMemoryBytes: 2 ** 28 });
    const failing = new EventSink(redis, down, { streamKey: stream, consumer: 'n2', batchMax: 200, flushMs: 50 });
    await failing.ensureGroup();
    await expect(failing.runOnce()).rejects.toThrow();
    await down.close();
    expect(((await redis.xpending(stream, 'analytics')) as [number])[0]).toBe(200);
    const before = await count(`message_id >= 'm5000' AND message_id < 'm6000' AND length(message_id) = 5`);
    const sink = new EventSink(redis, ch, { streamKey: stream, consumer: 'n2', batchMax: 200, flushMs: 50, log: () => undefined });
    sink.start();
    const deadline = Date.now() + 20_000;
    while (sink.inserted < 500 && Date.now() < deadline) await new Promise((ok) => setTimeout(ok, 50));
    await sink.stop();
    expect(sink.inserted).toBe(500);
    expect(await count(`message_id >= 'm5000' AND message_id < 'm6000' AND length(message_id) = 5`)).toBe(before + 500);
  });
});
