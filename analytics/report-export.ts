/**
 * CSV reports of historical events and messages, of any size, streamed page
 * by page with bounded memory: the caller awaits each page's delivery (the
 * HTTP response draining) before the next is read, so a slow client slows the
 * export down instead of filling memory.
 *
 * Why pages and not one streamed query: with the embedded engine,
 * `@clickhouse/client` receives a query's whole result at once (chdb's
 * connection materialises it), so one query for a 10-million-row report would
 * hold all of it. Each page is a query over a time window, ordered by (time,
 * id) and continued after the last (time, id) sent — keyset pagination, so a
 * page never re-reads what earlier pages sent. The window adapts: it doubles
 * while pages come back short and halves when one fills, so a page reads
 * about one page of rows whatever the traffic density (the minmax index on the
 * time column skips the rest).
 *
 *   window [t, t+w) ─ query ORDER BY time, id LIMIT page ─▶ CSV lines ─▶ caller (awaits drain)
 *        full page: continue after the last (time, id) with w/2, the window's end pulled in to last + w
 *        short page: the window is done; the next starts at its end, twice as wide if it was sparse
 *
 * Unmerged repeats of a row (ReplacingMergeTree before its merge) are dropped
 * with LIMIT 1 BY the row's id; for messages, the latest version wins.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { Filters, Scope } from './analytics-queries.js';
import { chTime } from './event-sink.js';

export type ReportKind = 'events' | 'messages';

export interface ReportQuery {
  readonly kind: ReportKind;
  readonly fromMs: number;
  readonly toMs: number;
  readonly filters: Filters;
  /** Rows per page (bounded memory). */
  readonly pageRows?: number;
  /** A SETTINGS clause (query-budget.ts budgetClause) for each page's query: every page is held to the budget. */
  readonly settings?: string;
}

interface ReportShape {
  readonly table: string;
  readonly timeCol: string;
  readonly idCol: string;
  /** Output columns: [CSV header, SQL expression]. */
  readonly columns: ReadonlyArray<readonly [string, string]>;
  /** Filters apply after deduplication (messages: to the latest status only). */
  readonly dedupe: string;
}

const EVENT_COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['time', "formatDateTime(time, '%Y-%m-%dT%H:%i:%S.%fZ')"],
  ['event_id', 'eid'],
  ['message_id', 'message_id'],
  ['tenant', 'tenant'],
  ['client_ref', 'client_ref'],
  ['status', 'status'],
  ['error_code', 'error_code'],
  ['error_text', 'error_text'],
  ['smpp_stat', 'smpp_stat'],
  ['raw_reply', 'raw_reply'],
  ['smsc', 'smsc'],
  ['to', "concat('+', destination)"],
  ['country', 'country'],
  ['mcc', 'mcc'],
  ['mnc', 'mnc'],
  ['operator', 'operator'],
  ['parts', 'parts'],
  ['price', 'price'],
  ['currency', 'currency'],
  ['latency_ms', 'latency_ms'],
  ['accepted_at', "formatDateTime(accepted_at, '%Y-%m-%dT%H:%i:%S.%fZ')"],
];

const MESSAGE_COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['message_id', 'message_id'],
  ['accepted_at', "formatDateTime(accepted_at, '%Y-%m-%dT%H:%i:%S.%fZ')"],
  ['tenant', 'tenant'],
  ['client_ref', 'client_ref'],
  ['to', "concat('+', destination)"],
  ['country', 'country'],
  ['mcc', 'mcc'],
  ['mnc', 'mnc'],
  ['operator', 'operator'],
  ['smsc', 'smsc'],
  ['parts', 'parts'],
  ['price', 'price'],
  ['currency', 'currency'],
  ['status', 'status'],
  ['status_time', "formatDateTime(status_time, '%Y-%m-%dT%H:%i:%S.%fZ')"],
  ['error_code', 'error_code'],
  ['error_text', 'error_text'],
  ['smpp_stat', 'smpp_stat'],
  ['latency_ms', 'latency_ms'],
];

const SHAPES: Record<ReportKind, ReportShape> = {
  events: { table: 'events', timeCol: 'time', idCol: 'eid', columns: EVENT_COLUMNS, dedupe: 'ORDER BY time, eid LIMIT 1 BY eid' },
  messages: { table: 'messages', timeCol: 'accepted_at', idCol: 'message_id', columns: MESSAGE_COLUMNS, dedupe: 'ORDER BY accepted_at, message_id, version DESC LIMIT 1 BY message_id' },
};

/**
 * RFC 4180 field: quoted when it holds a comma, quote, CR or LF. A text that a
 * spreadsheet would run as a formula (it starts with = + - @, tab or CR; a
 * client's ref, an operator's reply) gets a leading ' (OWASP's advice against
 * CSV injection); numbers are written as they are.
 */
function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s = String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = "'" + s;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The report's CSV, header first, then one chunk per page; stops early if `alive()` turns false. */
export async function* exportReport(ch: ClickHouseClient, scope: Scope, q: ReportQuery, alive: () => boolean = () => true): AsyncGenerator<string> {
  const shape = SHAPES[q.kind];
  const page = Math.max(100, Math.min(q.pageRows ?? 20_000, 200_000));
  // The header goes out with the first page, so a query that fails at once fails before anything is sent.
  let header = shape.columns.map(([h]) => h).join(',') + '\r\n';
  const base: Record<string, unknown> = { page };
  const terms: string[] = [];
  const tenant = 'tenant' in scope ? scope.tenant : q.filters.tenant;
  if (tenant !== undefined) {
    terms.push('tenant = {tenant:String}');
    base.tenant = tenant;
  }
  const after: string[] = [];
  for (const k of ['status', 'country', 'operator', 'smsc', 'mcc', 'mnc'] as const) {
    const v = q.filters[k];
    if (v === undefined) continue;
    // Events filter before deduplication (a row's repeats are identical); messages after it (latest status).
    (q.kind === 'messages' && k === 'status' ? after : terms).push(`${k} = {f_${k}:String}`);
    base[`f_${k}`] = v;
  }
  const select = shape.columns.map(([h, e]) => `${e} AS \`${h}\``).join(', ');
  let lastId: string | undefined;
  let lastTime = q.fromMs;
  let w = 60_000;
  let inWindow = 0;
  let start = q.fromMs;
  let end = Math.min(q.toMs, start + w);
  while (start < q.toMs && alive()) {
    const params = { ...base, wfrom: chTime(lastId === undefined ? start : lastTime), wto: chTime(end), last_id: lastId ?? '' };
    const key = lastId === undefined
      ? `${shape.timeCol} >= {wfrom:DateTime64(3)}`
      : `(${shape.timeCol} > {wfrom:DateTime64(3)} OR (${shape.timeCol} = {wfrom:DateTime64(3)} AND ${shape.idCol} > {last_id:String}))`;
    const inner = `SELECT *, toUnixTimestamp64Milli(${shape.timeCol}) AS _t, ${shape.idCol} AS _id FROM ${shape.table}
      WHERE ${[key, `${shape.timeCol} < {wto:DateTime64(3)}`, ...terms].join(' AND ')} ${shape.dedupe}${after.length === 0 ? ' LIMIT {page:UInt32}' : ''}`;
    const sql = `SELECT ${select}, _t, _id FROM (${inner}) ${after.length > 0 ? `WHERE ${after.join(' AND ')}` : ''} ORDER BY _t, _id LIMIT {page:UInt32}${q.settings ?? ''}`;
    const rs = await ch.query({ query: sql, query_params: params, format: 'JSONCompactEachRow' });
    const rows = (await rs.json()) as unknown[][];
    if (rows.length > 0) {
      const n = shape.columns.length;
      let out = header;
      header = '';
      for (const r of rows) {
        for (let i = 0; i < n; i++) out += (i > 0 ? ',' : '') + csvField(r[i]);
        out += '\r\n';
      }
      yield out;
    }
    inWindow += rows.length;
    if (rows.length >= page) {
      // A full page: go on after the last row sent, over a narrower rest of the window.
      const last = rows[rows.length - 1] as unknown[];
      lastTime = Number(last[shape.columns.length]);
      lastId = String(last[shape.columns.length + 1]);
      w = Math.max(1, Math.floor(w / 2));
      end = Math.min(end, lastTime + w + 1);
    } else {
      // The window is done; the next one is wider when this one was sparse.
      if (inWindow < page / 2) w = Math.min(w * 2, 86_400_000);
      start = end;
      end = Math.min(q.toMs, start + w);
      lastId = undefined;
      inWindow = 0;
    }
  }
  if (header !== '') yield header;
}
