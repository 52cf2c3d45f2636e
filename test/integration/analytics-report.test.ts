/**
 * CSV reports stream with backpressure and bounded memory: against the real
 * ClickHouse engine (chdb) and the analytics query service on its Unix
 * socket, a 30,000-event report in 200-row pages stops reading pages while
 * its client does not read (the service keeps answering other queries), and
 * completes when the client reads again — every event once, in time order,
 * including events that share a millisecond across page boundaries.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openClickHouse } from '../../analytics/clickhouse.js';
import { QueryServer } from '../../analytics/query-server.js';
import { migrate } from '../../analytics/schema.js';
import { waitFor } from '../helpers/wait-for.js';

const dir = mkdtempSync(join(tmpdir(), 'sy-rep-'));
const socketPath = join(dir, 'q.sock');
let ch: ClickHouseClient;
let server: QueryServer;
const N = 40_000;
const start = Date.now() - 600_000;

function get(path: string, scope = 'tenant:acme'): Promise<IncomingMessage> {
  return new Promise((ok, fail) => request({ socketPath, path, headers: { 'x-switchyard-scope': scope } }, ok).on('error', fail).end());
}

beforeAll(async () => {
  ch = openClickHouse({ dataDir: join(dir, 'chdb'), maxMemoryBytes: 512 * 2 ** 20 });
  await migrate(ch);
  // 10 events per millisecond (ties across page boundaries), two tenants.
  await ch.command({
    query: `INSERT INTO events (time, eid, message_id, tenant, status, smsc, destination, country, parts, accepted_at)
      SELECT fromUnixTimestamp64Milli(toInt64(${start} + intDiv(number, 10))) AS time, concat(toString(${start} + intDiv(number, 10)), '-', toString(number % 10)) AS eid,
        concat('m', toString(number)), if(number % 4 = 3, 'beta', 'acme'), if(number % 2 = 0, 'sent', 'delivered'), 'sim-a',
        concat('4791', toString(100000 + number % 50000)), 'NO', 1, time
      FROM numbers(${N})`,
  });
  server = new QueryServer({ ch, detector: undefined, log: () => undefined, reportPageRows: 200 });
  await server.listen(socketPath);
});

afterAll(async () => {
  await server?.close();
  await ch?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('CSV report streaming', () => {
  it('reads no further pages while the client does not read, and sends every row once when it does', async () => {
    const acme = N - N / 4;
    const res = await get(`/reports/events.csv?from=${start}&to=${Date.now()}`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    res.pause();
    // The service fills the socket, then waits for it to drain.
    await waitFor(() => server.reportStalls > 0, 15_000, 'the report waiting for its client');
    // Meanwhile the service answers other queries. The report fills the socket buffers, then reads no page while its client is paused.
    const others = async () => {
      for (let i = 0; i < 20; i++) {
        const r = await get(`/statuses?from=${start}&to=${Date.now()}`);
        let body = '';
        for await (const c of r) body += String(c);
        expect(JSON.parse(body).rows.length).toBeGreaterThan(0);
      }
    };
    await others();
    const stalled = server.reportPages;
    await others();
    expect(server.reportPages).toBe(stalled);
    expect(stalled).toBeLessThan(acme / 200 / 4);

    let text = '';
    res.setEncoding('utf8');
    res.resume();
    for await (const c of res) text += c as string;
    const lines = text.trimEnd().split('\r\n');
    expect(lines[0]?.startsWith('time,event_id,message_id,tenant,')).toBe(true);
    const rows = lines.slice(1).map((l) => l.split(','));
    expect(rows.length).toBe(acme);
    expect(new Set(rows.map((r) => r[1])).size).toBe(acme);
    expect(rows.every((r) => r[3] === 'acme')).toBe(true);
    const times = rows.map((r) => r[0] as string);
    expect(times.every((t, i) => i === 0 || t >= (times[i - 1] as string))).toBe(true);
    expect(server.reportPages).toBeGreaterThanOrEqual(acme / 200);
  });

  it('a messages report with a status filter takes the latest status of each message only', async () => {
    const res = await get(`/reports/messages.csv?from=${start}&to=${Date.now()}&status=delivered`, 'admin');
    let text = '';
    for await (const c of res) text += String(c);
    // the generated rows are single events per message id: half of them delivered
    expect(text.trimEnd().split('\r\n').length - 1).toBe(N / 2);
  });
});
