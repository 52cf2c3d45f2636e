/**
 * What one analytics query may cost (issue 11: a CSV report from 1970 cost
 * ~206 CPU-seconds, four of them could run per key). Three bounds:
 *
 *   range   ─ the query server refuses a from..to longer than the limit for
 *             its kind (analytics.limits.maxSliceDays / maxEventDays) before any query runs
 *   budget  ─ every query a caller can cause carries ClickHouse's own limits in
 *             a SETTINGS clause: max_execution_time and max_rows_to_read, both with
 *             overflow mode 'throw' (a truncated answer would look complete)
 *   reports ─ one CSV report per key at a time (query-server.ts)
 *
 * Why a SETTINGS clause and not the client's `clickhouse_settings`: with the
 * embedded engine those become `SET` statements on the one shared chdb
 * session, where they would stay and bind the sink's inserts and the
 * bad-number rounds too. A SETTINGS clause binds its query only, on chdb and
 * on a server alike.
 *
 * When ClickHouse stops a query at a limit (TIMEOUT_EXCEEDED, TOO_MANY_ROWS,
 * TOO_MANY_BYTES) the caller gets QUERY_TOO_COSTLY naming the limit and how to
 * narrow the request, never ClickHouse's own text.
 */
import { AnalyticsQueryError } from './analytics-queries.js';

export interface QueryBudget {
  /** max_execution_time (seconds; fractions allowed). */
  readonly timeoutSec: number;
  /** max_rows_to_read (rows). */
  readonly maxRowsToRead: number;
}

/** The SETTINGS clause that puts a query under `b` (appended to the query's SQL; undefined: none). */
export function budgetClause(b: QueryBudget | undefined): string {
  if (b === undefined) return '';
  const t = Number(b.timeoutSec);
  const rows = Math.floor(Number(b.maxRowsToRead));
  if (!(t > 0) || !(rows > 0)) throw new RangeError('a query budget needs a positive timeoutSec and maxRowsToRead');
  return ` SETTINGS max_execution_time = ${t}, timeout_overflow_mode = 'throw', max_rows_to_read = ${rows}, read_overflow_mode = 'throw'`;
}

/** ClickHouse's error names (and numeric codes) for a query stopped at a limit. */
const LIMIT_ERRORS: Record<string, 'time' | 'rows'> = { TIMEOUT_EXCEEDED: 'time', '159': 'time', TOO_MANY_ROWS: 'rows', '158': 'rows', TOO_MANY_BYTES: 'rows', '307': 'rows' };

const HOW_TO_NARROW = 'narrow the request: a shorter from..to, filters (smsc, country, operator, status, tenant), or a coarser bucket';

/**
 * QUERY_TOO_COSTLY for an error ClickHouse raised because a query hit its
 * budget; undefined for any other error.
 */
export function costlyError(err: unknown, b: QueryBudget | undefined, what = 'the query'): AnalyticsQueryError | undefined {
  if (b === undefined || err === null || typeof err !== 'object') return undefined;
  const e = err as { type?: unknown; code?: unknown };
  const kind = LIMIT_ERRORS[String(e.type)] ?? LIMIT_ERRORS[String(e.code)];
  if (kind === undefined) return undefined;
  return new AnalyticsQueryError(
    'QUERY_TOO_COSTLY',
    kind === 'time'
      ? `${what} ran longer than ${b.timeoutSec} s (analytics.limits.queryTimeoutSec) and was stopped; ${HOW_TO_NARROW}`
      : `${what} would read more than ${b.maxRowsToRead.toLocaleString('en')} rows (analytics.limits.maxRowsToRead) and was stopped; ${HOW_TO_NARROW}`,
  );
}
