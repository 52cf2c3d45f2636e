/**
 * Costly analytics queries (issue 11): a CSV report with from=0 cost ~206
 * CPU-seconds and four could run per key. Against the real ClickHouse engine
 * (chdb) and the query service on its Unix socket: a range longer than the
 * limit is refused QUERY_TOO_COSTLY before any query runs, a query that would
 * read more rows than its budget is stopped by ClickHouse and refused
 * QUERY_TOO_COSTLY, a query over its time budget likewise, and one CSV report
 * per key runs at a time (THROTTLED) — each refusal naming the limit and how
 * to narrow the request.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openClickHouse } from '../../analytics/clickhouse.js';
import { budgetClause, costlyError } from '../../analytics/query-budget.js';
import { QueryServer, type AnalyticsLimits } from '../../analytics/query-server.js';
import { migrate } from '../../analytics/schema.js';
import { waitFor } from '../helpers/wait-for.js';

const dir = mkdtempSync(join(tmpdir(), 'sy-lim-'));
let ch: ClickHouseClient;
const servers: QueryServer[] = [];
const N = 40_000;
const start = Date.now() - 600_000;
const DAY = 86_400_000;

/** A query service on its own socket (pages of 2,000 rows: fewer queries on a busy machine; a paused client still stalls a 30,000-row report). */
async function serve(limits: Partial<AnalyticsLimits>, name: string): Promise<{ server: QueryServer; get: (path: string, scope?: string) => Promise<IncomingMessage> }> {
  const socketPath = join(dir, `${name}.sock`);
  const server = new QueryServer({
    ch, detector: undefined, log: () => undefined, reportPageRows: 2000,
    limits: { maxSliceDays: 400, maxEventDays: 31, queryTimeoutSec: 30, maxRowsToRead: 100_000_000, reportsPerKey: 1, ...limits },
  });
  await server.listen(socketPath);
  servers.push(server);
  const get = (path: string, scope = 'tenant:acme') => new Promise<IncomingMessage>((ok, fail) => request({ socketPath, path, headers: { 'x-switchyard-scope': scope } }, ok).on('error', fail).end());
  return { server, get };
}

async function body(res: IncomingMessage): Promise<string> {
  let s = '';
  res.setEncoding('utf8');
  for await (const c of res) s += c as string;
  return s;
}

beforeAll(async () => {
  ch = openClickHouse({ dataDir: join(dir, 'chdb'), maxMemoryBytes: 512 * 2 ** 20 });
  await migrate(ch);
  // 40,000 events within 4 s, two tenants (the same data as the report test).
  await ch.command({
    query: `INSERT INTO events (time, eid, message_id, tenant, status, smsc, destination, country, parts, accepted_at)
      SELECT fromUnixTimestamp64Milli(toInt64(${start} + intDiv(number, 10))) AS time, concat(toString(${start} + intDiv(number, 10)), '-', toString(number % 10)) AS eid,
        concat('m', toString(number)), if(number % 4 = 3, 'beta', 'acme'), if(number % 2 = 0, 'sent', 'delivered'), 'sim-a',
        concat('4791', toString(100000 + number % 50000)), 'NO', 1, time
      FROM numbers(${N})`,
  });
});

afterAll(async () => {
  for (const s of servers) await s.close();
  await ch?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('analytics cost limits', () => {
  it('a CSV report with from=0 cost ~206 CPU-seconds: now refused QUERY_TOO_COSTLY at once, naming the limit and how to narrow', async () => {
    const { server, get } = await serve({}, 'range');
    for (const path of ['/reports/events.csv?from=0', '/reports/messages.csv?from=0', '/numbers/+4791100001?from=0', `/reports/events.csv?from=${Date.now() - 32 * DAY}`]) {
      const res = await get(path);
      expect(res.statusCode, path).toBe(400);
      const b = JSON.parse(await body(res)) as { code: string; error: string };
      expect(b.code, path).toBe('QUERY_TOO_COSTLY');
      expect(b.error).toMatch(/at most 31 days per request \(analytics\.limits\.maxEventDays\)/);
      expect(b.error).toMatch(/narrow from\/to/);
    }
    const slice = await get(`/statuses?from=0`);
    expect(slice.statusCode).toBe(400);
    expect(JSON.parse(await body(slice))).toMatchObject({ code: 'QUERY_TOO_COSTLY', error: expect.stringMatching(/analytics\.limits\.maxSliceDays/) as unknown });
    // Refused before any query ran: no report page read.
    expect(server.reportPages).toBe(0);
    // Within the limits, the same requests are answered.
    const ok = await get(`/reports/events.csv?from=${Date.now() - 30 * DAY}`);
    expect(ok.statusCode).toBe(200);
    expect((await body(ok)).trimEnd().split('\r\n').length - 1).toBe(N - N / 4);
    expect((await get(`/statuses?from=${Date.now() - 399 * DAY}`)).statusCode).toBe(200);
  });

  it('a query that would read more rows than analytics.limits.maxRowsToRead is stopped by ClickHouse: QUERY_TOO_COSTLY, not its text', async () => {
    const { get } = await serve({ maxRowsToRead: 5_000 }, 'rows');
    // The first report page reads the 4 s that hold all 40,000 rows.
    const res = await get(`/reports/events.csv?from=${start}&to=${Date.now()}`, 'admin');
    expect(res.statusCode).toBe(400);
    const b = JSON.parse(await body(res)) as { code: string; error: string };
    expect(b).toMatchObject({ code: 'QUERY_TOO_COSTLY' });
    expect(b.error).toMatch(/more than 5,000 rows \(analytics\.limits\.maxRowsToRead\)/);
    expect(b.error).toMatch(/shorter from\.\.to, filters/);
    expect(b.error).not.toMatch(/TOO_MANY_ROWS|max_rows_to_read|Code:/);
    const number = await get(`/numbers/+4791100001?from=${start}&to=${Date.now()}`, 'admin');
    expect(number.statusCode).toBe(400);
    expect(JSON.parse(await body(number))).toMatchObject({ code: 'QUERY_TOO_COSTLY' });
  });

  it('a query over its time budget is stopped by ClickHouse (max_execution_time) and becomes QUERY_TOO_COSTLY', async () => {
    const budget = { timeoutSec: 0.3, maxRowsToRead: 1_000_000 };
    // ~10 s of sleeping, one row per block: ClickHouse checks the time between blocks.
    const err = await ch
      .query({ query: `SELECT sleepEachRow(0.1) FROM numbers(100)${budgetClause(budget)}, max_block_size = 1`, format: 'JSONEachRow' })
      .then((rs) => rs.json())
      .then(() => undefined, (e: unknown) => e);
    const mapped = costlyError(err, budget);
    expect(mapped?.code).toBe('QUERY_TOO_COSTLY');
    expect(mapped?.message).toMatch(/longer than 0\.3 s \(analytics\.limits\.queryTimeoutSec\)/);
    // Other errors are not mistaken for it.
    expect(costlyError(new Error('Code: 60. UNKNOWN_TABLE'), budget)).toBeUndefined();
    // The budget binds its own query only, and the rows the stopped query had produced before the
    // timeout (chdb keeps them in the session) do not start the next query's answer.
    const rs = await ch.query({ query: "SELECT getSetting('max_execution_time') AS t, getSetting('max_rows_to_read') AS r", format: 'JSONEachRow' });
    expect(await rs.json()).toEqual([{ t: 0, r: 0 }]);
  });

  it("a query stopped after it produced rows left them in chdb's session, at the start of the next query's answer (another tenant's): now they go nowhere", async () => {
    // The failing query and the next one are queued together, as two tenants' requests would be.
    const failing = ch.query({ query: "SELECT concat('acme-secret-', toString(number)) AS s, sleepEachRow(0.05) AS z FROM numbers(100) SETTINGS max_execution_time = 0.4, timeout_overflow_mode = 'throw', max_block_size = 1", format: 'JSONEachRow' }).then((r) => r.json());
    const next = ch.query({ query: "SELECT 'beta' AS tenant", format: 'JSONEachRow' }).then((r) => r.json());
    await expect(failing).rejects.toMatchObject({ type: 'TIMEOUT_EXCEEDED' });
    expect(await next).toEqual([{ tenant: 'beta' }]);
    // Also a failure of the query's own making (throwIf after rows went out).
    await expect(ch.query({ query: 'SELECT throwIf(number = 200000) AS t FROM numbers(1000000)', format: 'JSONEachRow' }).then((r) => r.json())).rejects.toThrow(/throwIf/);
    expect(await (await ch.query({ query: 'SELECT 7 AS seven', format: 'JSONEachRow' })).json()).toEqual([{ seven: 7 }]);
  });

  it('four reports could run per key: now one at a time (THROTTLED naming the limit), while other keys run theirs', { timeout: 180_000 }, async () => {
    const { server, get } = await serve({}, 'one');
    const first = await get(`/reports/events.csv?from=${start}&to=${Date.now()}`);
    expect(first.statusCode).toBe(200);
    first.pause();
    await waitFor(() => server.reportStalls > 0, 15_000, 'the first report waiting for its client');
    const second = await get(`/reports/messages.csv?from=${start}&to=${Date.now()}`);
    expect(second.statusCode).toBe(429);
    expect(JSON.parse(await body(second))).toMatchObject({ code: 'THROTTLED', error: expect.stringMatching(/analytics\.limits\.reportsPerKey = 1/) as unknown });
    // Another key, and the same key's other queries, are not held up.
    const beta = await get(`/reports/events.csv?from=${start}&to=${Date.now()}`, 'tenant:beta');
    expect(beta.statusCode).toBe(200);
    expect((await body(beta)).trimEnd().split('\r\n').length - 1).toBe(N / 4);
    expect((await get(`/statuses?from=${start}`)).statusCode).toBe(200);
    // The first one finishes; then the key may run another.
    expect((await body(first)).trimEnd().split('\r\n').length - 1).toBe(N - N / 4);
    await waitFor(async () => {
      const r = await get(`/reports/messages.csv?from=${start}&to=${Date.now()}`);
      const text = await body(r);
      return r.statusCode === 200 && text.trimEnd().split("\r\n").length - 1 === N - N / 4;
    }, 60_000, 'a second report of the key once the first is done');
  });
});
