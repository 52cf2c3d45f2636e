/**
 * The analytics process: the one process that opens ClickHouse (embedded
 * chdb locks its data directory; or a server by URL). It applies the
 * migrations, runs the events sink, computes the live feed's per-second
 * rollups and the bad-number list from the rows the sink reads, and answers
 * every analytics query on a Unix socket (analytics/query-server.ts) — all
 * away from the ingress event loop. A child process rather than a worker
 * thread: chdb's native library crashes the whole process (SIGSEGV) when a
 * worker thread that loaded it exits.
 *
 *   Redis ev:{T}… ──▶ EventSink ──insert──▶ ClickHouse ◀── QueryServer ◀── engine (unix socket, HTTP)
 *   (RedisEventSource: a consumer group per shard stream, on Redis or a Redis Cluster)
 *                   │ fresh rows ──▶ LiveRollup ──raw seconds, PUBLISH {prefix}{c}:an:live (1/s)──▶ every node's
 *                   │     merged LiveRollup (SUBSCRIBE, this node's own included) ──IPC 'rollups'──▶ engine ─▶ /v1/analytics/ws
 *                   └ inserted rows ─▶ BadNumberDetector ──IPC 'flagged' deltas──▶ engine (ingress set)
 *
 * Migrations run under a Redis lock (migration-lock.ts): once per fleet.
 *
 * The live feed is the fleet's: with several analytics nodes each sink reads a
 * share of the events, so each publishes its due seconds raw (counts and
 * latency histograms, analytics/live-rollup.ts) on one Redis channel and every
 * node's feed renders the seconds merged from all of them, LIVE_MERGE_GRACE_MS
 * after the second (the nodes' flushes are up to a second apart). Pub/sub is
 * best effort: a node's share of a second published while another node's
 * subscriber reconnects is missing from that node's feed (ClickHouse has
 * every event; a frame is never counted twice).
 *
 * Reports its state to the engine once a second over IPC; stops on
 * { type: 'stop' } or when the engine goes away.
 */
import { BadNumberDetector, type BadNumberOptions } from '../../analytics/bad-numbers.js';
import { openClickHouse, type ClickHouseOptions } from '../../analytics/clickhouse.js';
import { ANALYTICS_GROUP, EventSink } from '../../analytics/event-sink.js';
import { eventStreamKeys } from '../queue/event-streams.js';
import { LiveRollup, type RawSecond, type RollupFrame } from '../../analytics/live-rollup.js';
import { QueryServer, type AnalyticsLimits } from '../../analytics/query-server.js';
import { migrate, MIGRATIONS } from '../../analytics/schema.js';
import { clusterMigrations, clusterMigrationsTable } from '../../analytics/cluster-schema.js';
import { withMigrationLock } from './migration-lock.js';
import type { Config } from '../../config/index.js';
import type { NumberingPlan } from '../../router/index.js';
import { loadNumberingPlan } from '../routing/load-routing.js';
import { Keys } from '../queue/keys.js';
import { Shards } from '../queue/shards.js';
import { connectRedis, duplicateClient, type RedisTarget } from '../redis/connect-redis.js';
import { RedisEventSource } from './redis-event-source.js';

export interface SinkWorkerData {
  /** The engine's Redis (a single one or a cluster's seed nodes; connect-redis.ts). */
  readonly redis: RedisTarget;
  readonly keyPrefix: string;
  /** redis.shards: one events stream per shard. */
  readonly shards: number;
  readonly consumer: string;
  readonly clickhouse: ClickHouseOptions;
  /** analytics.cluster: the ClickHouse cluster the cluster schema is created on ('' or undefined: one server). */
  readonly cluster?: string;
  readonly batchMax: number;
  readonly flushMs: number;
  /** Unix socket the query server listens on. */
  readonly socketPath: string;
  /** Bad-number detection; undefined when off. */
  readonly badNumbers: (BadNumberOptions & { readonly refreshSec: number }) | undefined;
  readonly reportPageRows: number;
  /** What one analytics request may cost (analytics.limits); default the config's defaults. */
  readonly limits?: AnalyticsLimits;
  /** The numbering plan (operator names by MCC/MNC) and the directory its relative paths start from. */
  readonly routing: Pick<Config['routing'], 'numberingPlan' | 'rangeFiles'>;
  readonly baseDir: string;
}

export type SinkReport =
  | { readonly type: 'ready'; readonly migrated: number[] }
  | {
      readonly type: 'stats'; readonly inserted: number; readonly batches: number; readonly failures: number; readonly lagMs: number; readonly lastBatchSize: number;
      /** Entries in the streams the sink has not read yet (XINFO GROUPS lag, summed over shards), -1 when unknown. */
      readonly backlog: number; readonly rssMb: number; readonly flagged: number; readonly queries: number; readonly reportPages: number;
    }
  | { readonly type: 'rollups'; readonly frames: ReadonlyArray<{ readonly scope: string; readonly frame: RollupFrame }> }
  | { readonly type: 'flagged'; readonly reset: boolean; readonly add: ReadonlyArray<readonly [string, string]>; readonly remove: ReadonlyArray<readonly [string, string]> }
  | { readonly type: 'detected'; readonly rounds: number }
  /** A dead node's sink drained (takeover): its pending events inserted or found inserted, its consumer deleted. */
  | { readonly type: 'drained'; readonly consumer: string; readonly events: number; readonly error?: string }
  | { readonly type: 'log'; readonly level: 'info' | 'warn' | 'error'; readonly msg: string };

const d = JSON.parse(process.env.SWITCHYARD_SINK_CONFIG ?? 'null') as SinkWorkerData;
// Everything this process writes (ClickHouse's parts, its temporary files) is this user's only: 0600 files, 0700 directories.
process.umask(0o077);
if (d === null || process.send === undefined) throw new Error('sink-process is started by the engine (engine/analytics/analytics-host.ts)');
const send = process.send.bind(process);
const post = (r: SinkReport) => void send(r);
// The engine went away: stop too.
process.on('disconnect', () => process.exit(0));
const log = (level: 'info' | 'warn' | 'error', msg: string) => post({ type: 'log', level, msg });

/**
 * Operator names: by "MCC-MNC", the most common name of that network in the
 * numbering plan (right for ported numbers, whose route carries the network
 * they moved to); when the route knows only the MCC, the plan's operator of
 * the number's own range.
 */
function operatorNames(): (mcc: string, mnc: string, e164: string) => string {
  const counts = new Map<string, Map<string, number>>();
  let plan: NumberingPlan | undefined;
  try {
    plan = loadNumberingPlan(d.routing as Config['routing'], d.baseDir);
    for (const [, n] of plan.entries()) {
      if (n.mnc === '' || n.operator === '') continue;
      const k = `${n.mcc}-${n.mnc}`;
      let m = counts.get(k);
      if (m === undefined) counts.set(k, (m = new Map()));
      m.set(n.operator, (m.get(n.operator) ?? 0) + 1);
    }
  } catch (err) {
    log('warn', `analytics: numbering plan not read, operators left empty: ${(err as Error).message}`);
  }
  const byNetwork = new Map<string, string>();
  for (const [k, m] of counts) byNetwork.set(k, [...m].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '');
  return (mcc, mnc, e164) => {
    if (mnc !== '') return byNetwork.get(`${mcc}-${mnc}`) ?? '';
    const n = plan?.lookup(e164);
    return n !== undefined && n.mcc === mcc ? n.operator : '';
  };
}
const operatorOf = operatorNames();

// Commands, and the sink's reads on connections of their own (they block on a single Redis).
const redis = connectRedis(d.redis, { connectionName: 'sy-analytics', maxRetriesPerRequest: null });
redis.on('error', () => undefined); // reconnects; the sink logs failed batches
const reader = duplicateClient(redis, 'sy-analytics-read');
reader.on('error', () => undefined);
const keys = new Keys(d.keyPrefix, new Shards(d.shards));
const source = new RedisEventSource(reader, redis, keys, d.consumer);
const ch = openClickHouse(d.clickhouse);
const rollup = new LiveRollup();
/** Seconds of every analytics node's rollup, merged: what this node's feed shows (see the header). */
const LIVE_MERGE_GRACE_MS = 3000;
const merged = new LiveRollup({ graceMs: LIVE_MERGE_GRACE_MS, horizonMs: 120_000 });
const liveChannel = keys.control('an:live');
// Its own connection: a subscribed connection takes no other commands.
const subscriber = duplicateClient(redis, 'sy-analytics-live', false);
subscriber.on('error', () => undefined);
subscriber.on('message', (channel: string, message: string) => {
  if (channel !== liveChannel) return;
  try {
    const m = JSON.parse(message) as { raws?: unknown };
    if (Array.isArray(m.raws)) merged.addRaw(m.raws as RawSecond[]);
  } catch {
    // Not a frame of ours (another program on the channel): ignored.
  }
});
void subscriber.subscribe(liveChannel).catch((err: Error) => log('warn', `analytics: live feed subscription failed: ${err.message}`));
const detector = d.badNumbers === undefined ? undefined : new BadNumberDetector(ch, d.badNumbers);
const sink = new EventSink(source, ch, {
  consumer: d.consumer,
  batchMax: d.batchMax,
  flushMs: d.flushMs,
  log,
  operatorOf,
  onFresh: (rows) => rollup.add(rows),
  ...(detector === undefined ? {} : { onInserted: (rows: Parameters<BadNumberDetector['observe']>[0]) => detector.observe(rows) }),
});
const queries = new QueryServer({ ch, detector, log, reportPageRows: d.reportPageRows, ...(d.limits === undefined ? {} : { limits: d.limits }) });

let migrated: number[] = [];
for (;;) {
  try {
    // Once per fleet (a Redis lock): nodes sharing a ClickHouse server must not both run a backfill.
    const cluster = d.cluster ?? '';
    migrated = await withMigrationLock(redis, keys.control('an:migrate'), () =>
      cluster === '' ? migrate(ch) : migrate(ch, clusterMigrations(cluster, MIGRATIONS), clusterMigrationsTable(cluster)),
    );
    break;
  } catch (err) {
    log('warn', `analytics: ClickHouse not ready (${(err as Error).message}); retrying in 2 s`);
    await new Promise((ok) => setTimeout(ok, 2000));
  }
}
await queries.listen(d.socketPath);
post({ type: 'ready', migrated });
sink.start();

let backlog = -1;
async function readBacklog(): Promise<void> {
  backlog = await source.backlog().catch(() => -1);
}
const stats = (): SinkReport => ({
  type: 'stats', inserted: sink.inserted, batches: sink.batches, failures: sink.failures, lagMs: sink.lagMs, lastBatchSize: sink.lastBatchSize,
  backlog, rssMb: Math.round(process.memoryUsage().rss / 2 ** 20), flagged: detector?.size ?? 0, queries: queries.requests, reportPages: queries.reportPages,
});
const timer = setInterval(() => {
  const raws = rollup.flushRaw();
  if (raws.length > 0) void redis.publish(liveChannel, JSON.stringify({ node: d.consumer, raws })).catch(() => undefined);
  const frames = merged.flush();
  if (frames.length > 0) post({ type: 'rollups', frames });
  void readBacklog().then(() => post(stats()));
}, 1000);

// Bad-number detection rounds: one at start (the ingress gets the whole set), then every refreshSec; never two at once.
let detecting: Promise<void> | undefined;
let firstRound = true;
function round(): Promise<void> {
  if (detector === undefined) return Promise.resolve();
  if (detecting !== undefined) return detecting.then(round);
  detecting = detector
    .refresh()
    .then(
      (delta) => {
        if (firstRound || delta.add.length > 0 || delta.remove.length > 0) post({ type: 'flagged', reset: firstRound, ...delta });
        firstRound = false;
      },
      (err: Error) => log('warn', `analytics: bad-number detection failed: ${err.message}`),
    )
    .finally(() => (detecting = undefined));
  return detecting;
}
void round();
const detectTimer = detector === undefined ? undefined : setInterval(() => detecting === undefined && void round(), (d.badNumbers?.refreshSec ?? 15) * 1000);

/**
 * Takeover of a dead node's sink (engine/fleet/takeover.ts): its pending batch is finished as that
 * consumer — read whole, compared with its saved description, inserted under the same deduplication
 * token (a batch inserted before the crash is only acknowledged) — then the consumer is deleted
 * (it has nothing pending) with its batch description. Reads go on the command connection: they
 * never block.
 */
async function drainConsumer(consumer: string): Promise<number> {
  if (consumer === d.consumer) return 0;
  const src = new RedisEventSource(redis, redis, keys, consumer);
  const other = new EventSink(src, ch, { consumer, batchMax: d.batchMax, flushMs: d.flushMs, log, operatorOf, ...(detector === undefined ? {} : { onInserted: (rows: Parameters<BadNumberDetector['observe']>[0]) => detector.observe(rows) }) });
  let guard = 0;
  while ((await src.pending()).length > 0 && guard++ < 100) await other.runOnce();
  for (const key of eventStreamKeys(keys)) await redis.xgroup('DELCONSUMER', key, ANALYTICS_GROUP, consumer).catch(() => undefined);
  await redis.del(keys.analyticsBatch(consumer));
  return other.inserted + other.acknowledgedOnly;
}

process.on('message', (m: { type: string; consumer?: string }) => {
  if (m.type === 'drain' && typeof m.consumer === 'string') {
    const consumer = m.consumer;
    drainConsumer(consumer).then(
      (events) => post({ type: 'drained', consumer, events }),
      (err: Error) => post({ type: 'drained', consumer, events: 0, error: err.message }),
    );
    return;
  }
  if (m.type === 'detect') {
    // Test and admin hook: one detection round now (after any running one).
    void round().then(() => post({ type: 'detected', rounds: detector?.rounds ?? 0 }));
    return;
  }
  if (m.type !== 'stop') return;
  clearInterval(timer);
  clearInterval(detectTimer);
  source.interrupt();
  void sink.stop().then(async () => {
    post(stats());
    await queries.close();
    await detecting;
    await ch.close();
    redis.disconnect();
    reader.disconnect();
    subscriber.disconnect();
    process.disconnect();
  });
});
