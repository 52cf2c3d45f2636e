/**
 * The one way Switchyard talks to ClickHouse: `@clickhouse/client`. Embedded
 * by default — chdb (the ClickHouse engine in-process) plugged in through
 * `createChdbConnection`, storing in a data directory — or a ClickHouse server
 * when a URL is given (CLICKHOUSE_URL, with CLICKHOUSE_USER / CLICKHOUSE_PASSWORD
 * from the environment). Same client API, same SQL, both ways.
 *
 * chdb runs in the process that opens it and locks its data directory, so
 * Switchyard opens it only in the analytics process (engine/analytics/), which
 * also answers every query; never on the ingress thread.
 *
 * Memory is capped with ClickHouse's own settings: per query
 * (`max_memory_usage`, with GROUP BY and ORDER BY spilling to disk at half of
 * it), and for the embedded engine as a whole (`max_server_memory_usage` and
 * the cache sizes). The latter are server settings that no SET can change, so
 * the embedded engine is started with them: a chdb Session opened first with
 * those arguments (chdb's documented way to pass server options); the client's
 * connection then joins that engine (same data directory, one engine per
 * process). That Session runs no query.
 *
 * The embedded data directory holds every message's number: it is created
 * 0700 (and made so if it existed), so another local user cannot read it.
 *
 * chdb runs one query at a time per session, and a query that fails after it
 * produced rows (a timeout, a memory limit, throwIf) leaves those rows behind:
 * they arrive at the start of the next query's answer, whoever asked it
 * (found with the query budgets of issue 11; see `drainingConnection`).
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { Session } from 'chdb';
import { createChdbConnection } from 'chdb/connection';

export interface ClickHouseOptions {
  /** A ClickHouse server (http://host:8123); undefined: embedded chdb in `dataDir`. */
  readonly url?: string | undefined;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  readonly database?: string;
  readonly dataDir: string;
  /** max_memory_usage for each query (bytes). */
  readonly maxMemoryBytes: number;
  /** Embedded engine only: max_server_memory_usage (bytes; default 2 × maxMemoryBytes). */
  readonly serverMemoryBytes?: number;
}

export function openClickHouse(o: ClickHouseOptions): ClickHouseClient {
  const half = String(Math.floor(o.maxMemoryBytes / 2));
  const clickhouse_settings = { max_memory_usage: String(o.maxMemoryBytes), max_bytes_before_external_group_by: half, max_bytes_before_external_sort: half };
  if (o.url !== undefined && o.url !== '') {
    return createClient({ url: o.url, username: o.user ?? 'default', password: o.password ?? '', database: o.database ?? 'default', clickhouse_settings });
  }
  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
  chmodSync(o.dataDir, 0o700);
  const server = o.serverMemoryBytes ?? 2 * o.maxMemoryBytes;
  const cache = Math.max(16 * 2 ** 20, Math.floor(server / 16));
  const engine = new Session(o.dataDir, {
    connectionArgs: [
      `--max_server_memory_usage=${server}`,
      `--mark_cache_size=${cache}`,
      `--primary_index_cache_size=${cache}`,
      `--index_mark_cache_size=${cache}`,
      `--uncompressed_cache_size=0`,
      `--query_condition_cache_size=${cache}`,
    ],
  });
  // chdb implements @clickhouse/client-common's Connection; @clickhouse/client 1.23 bundles its own copy of
  // those types, which differ only in settings added since: the same interface at run time.
  const connection = drainingConnection(createChdbConnection({ path: o.dataDir }) as unknown as ChdbCalls) as unknown as NonNullable<Parameters<typeof createClient>[0]>['connection'];
  const client = createClient({ connection, clickhouse_settings });
  const close = client.close.bind(client);
  // The engine Session lives exactly as long as the client.
  client.close = async () => {
    await close();
    engine.close();
  };
  return client;
}

type Call = (params: unknown) => Promise<unknown>;
/** The calls of @clickhouse/client-common's Connection that run SQL on the session. */
const SQL_CALLS = ['ping', 'query', 'insert', 'command', 'exec'] as const;
type ChdbCalls = Record<(typeof SQL_CALLS)[number], Call> & { close(): Promise<void> };

/**
 * The chdb connection with its calls queued, and after a call that failed a
 * query of our own (`SELECT 1`, answer thrown away) runs before the next one,
 * so that rows the failed query left in the session go nowhere. chdb queues
 * the calls itself (measured: a `SELECT 1` waits for a running 2 s query), so
 * the queue here costs no concurrency; it only fixes the order. Each call's
 * answer is whole when its promise resolves (chdb copies it into one buffer).
 */
export function drainingConnection(conn: ChdbCalls): ChdbCalls {
  let tail: Promise<unknown> = Promise.resolve();
  const drain = async () => {
    try {
      await conn.query({ query: 'SELECT 1 FORMAT TabSeparated' });
    } catch {
      // the session is closing, or broken: the next call will say so
    }
  };
  const queued = (call: Call): Call => (params) => {
    const run = tail.then(async () => {
      try {
        return await call(params);
      } catch (err) {
        await drain();
        throw err;
      }
    });
    tail = run.catch(() => undefined);
    return run;
  };
  const calls = new Map<PropertyKey, Call>(SQL_CALLS.map((k) => [k, queued(conn[k].bind(conn))]));
  // Everything else (close, chdb's own properties) as it is, on the connection itself (it has private fields).
  return new Proxy(conn, {
    get(target, prop) {
      const call = calls.get(prop);
      if (call !== undefined) return call;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as Call).bind(target) : v;
    },
  });
}
