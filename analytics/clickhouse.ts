/**
 * The one way Switchyard talks to ClickHouse: `@clickhouse/client`. Embedded
 * by default — chdb (the ClickHouse engine in-process) plugged in through
 * `createChdbConnection`, storing in a data directory — or a ClickHouse server
 * when a URL is given (CLICKHOUSE_URL, with CLICKHOUSE_USER / CLICKHOUSE_PASSWORD
 * from the environment). Same client API, same SQL, both ways.
 *
 * chdb runs its queries in the calling thread's process, so Switchyard opens
 * it only in the analytics worker thread (engine/analytics/), never on the
 * ingress thread. Its memory is capped with ClickHouse's own settings.
 */
import { createClient, type ClickHouseClient } from '@clickhouse/client';
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
}

export function openClickHouse(o: ClickHouseOptions): ClickHouseClient {
  const clickhouse_settings = { max_memory_usage: String(o.maxMemoryBytes) };
  if (o.url !== undefined && o.url !== '') {
    return createClient({ url: o.url, username: o.user ?? 'default', password: o.password ?? '', database: o.database ?? 'default', clickhouse_settings });
  }
  // chdb implements @clickhouse/client-common's Connection; @clickhouse/client 1.23 bundles its own copy of
  // those types, which differ only in settings added since: the same interface at run time.
  const connection = createChdbConnection({ path: o.dataDir }) as unknown as NonNullable<Parameters<typeof createClient>[0]>['connection'];
  return createClient({ connection, clickhouse_settings });
}
