/**
 * The analytics process: opens ClickHouse (embedded chdb, or a server by
 * URL), applies the migrations and runs the events sink, away from the
 * ingress thread (chdb runs queries in its caller's thread). A child process
 * rather than a worker thread: chdb's native library crashes the whole
 * process (SIGSEGV) when a worker thread that loaded it exits. Reports its
 * state to the engine once a second over IPC; stops on { type: 'stop' } or
 * when the engine goes away.
 */
import { Redis } from 'ioredis';
import { openClickHouse, type ClickHouseOptions } from '../../analytics/clickhouse.js';
import { EventSink } from '../../analytics/event-sink.js';
import { migrate } from '../../analytics/schema.js';

export interface SinkWorkerData {
  readonly redisUrl: string;
  readonly streamKey: string;
  readonly consumer: string;
  readonly clickhouse: ClickHouseOptions;
  readonly batchMax: number;
  readonly flushMs: number;
}

export type SinkReport =
  | { readonly type: 'ready'; readonly migrated: number[] }
  | { readonly type: 'stats'; readonly inserted: number; readonly batches: number; readonly failures: number; readonly lagMs: number; readonly lastBatchSize: number }
  | { readonly type: 'log'; readonly level: 'info' | 'warn' | 'error'; readonly msg: string };

const d = JSON.parse(process.env.SWITCHYARD_SINK_CONFIG ?? 'null') as SinkWorkerData;
if (d === null || process.send === undefined) throw new Error('sink-process is started by the engine (engine/analytics/analytics-host.ts)');
const send = process.send.bind(process);
const post = (r: SinkReport) => void send(r);
// The engine went away: stop too.
process.on('disconnect', () => process.exit(0));
const redis = new Redis(d.redisUrl, { maxRetriesPerRequest: null, connectionName: 'sy-analytics' });
redis.on('error', () => undefined); // reconnects; the sink logs failed batches
const ch = openClickHouse(d.clickhouse);
const log = (level: 'info' | 'warn' | 'error', msg: string) => post({ type: 'log', level, msg });
const sink = new EventSink(redis, ch, { streamKey: d.streamKey, consumer: d.consumer, batchMax: d.batchMax, flushMs: d.flushMs, log });

let migrated: number[] = [];
for (;;) {
  try {
    migrated = await migrate(ch);
    break;
  } catch (err) {
    log('warn', `analytics: ClickHouse not ready (${(err as Error).message}); retrying in 2 s`);
    await new Promise((ok) => setTimeout(ok, 2000));
  }
}
post({ type: 'ready', migrated });
sink.start();
const timer = setInterval(() => post({ type: 'stats', inserted: sink.inserted, batches: sink.batches, failures: sink.failures, lagMs: sink.lagMs, lastBatchSize: sink.lastBatchSize }), 1000);
process.on('message', (m: { type: string }) => {
  if (m.type !== 'stop') return;
  clearInterval(timer);
  void sink.stop().then(async () => {
    post({ type: 'stats', inserted: sink.inserted, batches: sink.batches, failures: sink.failures, lagMs: sink.lagMs, lastBatchSize: sink.lastBatchSize });
    await ch.close();
    redis.disconnect();
    process.disconnect();
  });
});
