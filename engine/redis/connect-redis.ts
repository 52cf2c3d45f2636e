/**
 * One client API for a single Redis and a Redis Cluster (issue 13): the
 * target comes from the environment, `REDIS_URL=redis://…` (one instance, the
 * default) or `REDIS_CLUSTER_NODES=host:port,…` (seed nodes of a cluster, with
 * REDIS_PASSWORD / REDIS_USERNAME), and `connectRedis` returns an ioredis
 * `Redis` or `Cluster`: both are `RedisClient`, with the same commands,
 * `defineCommand`, pipelines and MULTI above them.
 *
 * How ioredis 5 (pinned 5.8.2) behaves on a cluster, and what the code above
 * may rely on. Each point is checked against the local cluster by
 * test/integration/redis-cluster.test.ts and redis-cluster-failover.test.ts;
 * sources: ioredis built/cluster/index.js (sendCommand, handleError),
 * built/Pipeline.js, built/Script.js, built/autoPipelining.js, and the issues
 * redis/ioredis#1602, #1264 (pipelines), #1136, #850/#867 (blocking commands),
 * #559, #597 (failover), Nordix/hiredis-cluster#140 (why retries are unsafe).
 *
 * - Scripts (defineCommand → EVALSHA with KEYS). The command goes to the master
 *   of the slot of its first key; keys of several slots are refused, even on one
 *   node: by ioredis before sending when auto-pipelining ("All the keys in a
 *   pipeline command should belong to the same slot"), else by Redis (CROSSSLOT). A script with numberOfKeys 0 goes to a random master,
 *   and one that touches a key another node serves fails ("Script attempted to
 *   access a non local key"): every key must be declared in KEYS, all in one
 *   slot (a hash tag, `{s17}`). ioredis sends EVAL on a connection's first use
 *   and EVALSHA after; a NOSCRIPT (a promoted replica has no script cache) is
 *   retried as EVAL by ioredis itself.
 * - Pipelines. Each command's keys must share a slot and every command must go
 *   to the same master (ioredis checks before sending: "All keys in the pipeline
 *   should belong to the same slots allocation group"); commands without keys
 *   (WAIT, PING) go with the keyed ones, so `pipeline().set(k).wait(1, t)`
 *   waits on k's master. A pipeline is resent whole after MOVED/ASK/CLUSTERDOWN
 *   or a closed connection only if every command failed alike or the others are
 *   flagged read-only; otherwise (a write with WAIT or INFO, which are not) the
 *   caller gets each command's error at once, MOVED included, unfollowed. Such a
 *   pipeline does not refresh the slot map either: a client that only sends
 *   pipelines would get MOVED forever after a failover. Hence slotsRefreshMs
 *   (default 1 s, CLUSTER SLOTS on a connection of its own), and callers of
 *   pipelines retry 'not-run' errors themselves, with a backoff.
 * - MULTI/EXEC: all keys in one slot (Redis refuses others with CROSSSLOT and
 *   aborts the transaction: EXECABORT).
 * - Auto-pipelining (enableAutoPipelining, on for command clients): commands of
 *   one tick are grouped per master and sent as one pipeline per node; commands
 *   to different nodes in one tick are fine. The group is chosen by the slot of
 *   a command's first argument, so commands whose first argument is not their
 *   key (EVAL/EVALSHA, scripts with a dynamic key count, XREADGROUP, XGROUP,
 *   XINFO) are left out of it (NOT_KEY_FIRST) and sent on their own, routed by
 *   their keys.
 * - Blocking commands (XREADGROUP BLOCK). A Cluster client has one connection
 *   per node; a blocking command holds its node's connection, and every later
 *   command to that node waits behind it (other nodes are unaffected). Blocking
 *   reads get their own client: `duplicateClient` (Cluster.duplicate: new
 *   connections to every node). Concurrent blocking reads to different nodes on
 *   one duplicate run in parallel; two to the same node take turns. A read that
 *   spanned partitions in one XREADGROUP becomes one command per slot.
 * - MOVED / ASK. MOVED: ioredis points that slot at the new node, resends there
 *   and refreshes its slot map in the background. ASK (a slot being migrated):
 *   ASKING + the command at the target, map unchanged. At most maxRedirections
 *   (16) per command, then "Too many Cluster redirections".
 * - Master failover (SIGKILL of a master with a replica). Single commands in
 *   flight on the dead connection, and those sent to it while it still owns
 *   its slots, fail inside ioredis with "Connection is closed." and are resent
 *   after retryDelayOnFailover with a slot-map refresh; once the cluster marks
 *   the master failed it may answer CLUSTERDOWN (resent after
 *   retryDelayOnClusterDown) until the replica is promoted; then the map points
 *   at the replica and the command succeeds. Each resend uses one of the 16
 *   redirections: with the delays below a caller waits up to about 5 s, then
 *   gets "Too many Cluster redirections. Last error: …". The local cluster (node
 *   timeout 3 s) fails over within that; still, a command can get "Connection
 *   is closed." itself (ioredis resends only while the cluster client is
 *   'ready'): the test saw 0 to 1 per failover reach a single-command writer,
 *   none of another kind. Pipelines (see above) get "Connection is closed.", CLUSTERDOWN or
 *   MOVED back at once, and recover when the slot map is refreshed; without
 *   slotsRefreshMs a pipeline-only client got MOVED for as long as the test ran.
 *   The engine's own retries (the actors' flush, the client's resubmit after
 *   UNAVAILABLE) take over beyond that.
 *   Two cautions: (1) a command resent after "Connection is closed." may have
 *   run on the old master already (ioredis cannot know): scripts must be
 *   idempotent (enqueue.lua is; the state scripts check the part's state);
 *   (2) replication is asynchronous: a write the old master acknowledged can
 *   be missing on the promoted replica, unless WAIT confirmed it (pipelined with
 *   the write, as above: the test checks every WAIT-confirmed write survives).
 *
 * Which errors are safe to retry is `classifyRedisError`: "not run" (the
 * server refused it before running it: CLUSTERDOWN, TRYAGAIN, LOADING,
 * READONLY, MASTERDOWN, BUSY, redirections exhausted on those; or it never left
 * the client) may be retried as is; "maybe run" (the connection closed with
 * the command on it, retries per request exhausted, a timeout) only if the
 * command is idempotent; "failed" (script errors, CROSSSLOT, WRONGTYPE, bad
 * arguments) will fail again.
 *
 * Options: scaleReads 'master' (replicas lag: a read after a write must see
 * it); no natMap (nodes announce addresses the engine can reach: 127.0.0.1
 * locally; in containers set cluster-announce-ip instead of mapping here).
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { SwitchyardError } from '../errors.js';

export type RedisClient = Redis | Cluster;

export interface ClusterSeed {
  readonly host: string;
  readonly port: number;
}

export type RedisTarget =
  | { readonly kind: 'single'; readonly url: string }
  | { readonly kind: 'cluster'; readonly nodes: ReadonlyArray<ClusterSeed>; readonly password?: string | undefined; readonly username?: string | undefined };

/**
 * Parses `host:port,host:port,…` (REDIS_CLUSTER_NODES). An IPv6 address goes in
 * brackets (`[::1]:7000`). Errors name the variable and the bad entry.
 */
export function parseClusterNodes(value: string, source = 'REDIS_CLUSTER_NODES'): ClusterSeed[] {
  const out: ClusterSeed[] = [];
  for (const raw of value.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]/@]+)):(\d{1,5})$/.exec(entry);
    const port = m === null ? NaN : Number(m[3]);
    if (m === null || !(port >= 1 && port <= 65535)) {
      throw new SwitchyardError('CONFIG_INVALID', `${source}: "${entry}" is not host:port (e.g. 127.0.0.1:7000; passwords go in REDIS_PASSWORD, not here)`);
    }
    out.push({ host: (m[1] ?? m[2]) as string, port });
  }
  if (out.length === 0) throw new SwitchyardError('CONFIG_INVALID', `${source}: no node given (host:port,host:port,…)`);
  return out;
}

/**
 * The Redis the environment names: REDIS_CLUSTER_NODES (a cluster) or
 * REDIS_URL (one instance); undefined when neither is set (the caller starts a
 * private Redis). Both set is an error: which one was meant is not guessed.
 */
export function redisTargetFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): RedisTarget | undefined {
  const nodes = env.REDIS_CLUSTER_NODES ?? '';
  const url = env.REDIS_URL ?? '';
  if (nodes !== '' && url !== '') throw new SwitchyardError('CONFIG_INVALID', 'REDIS_URL and REDIS_CLUSTER_NODES are both set: set one (a single Redis, or a cluster\'s seed nodes)');
  if (nodes !== '') {
    return { kind: 'cluster', nodes: parseClusterNodes(nodes), password: env.REDIS_PASSWORD || undefined, username: env.REDIS_USERNAME || undefined };
  }
  if (url !== '') return { kind: 'single', url };
  return undefined;
}

export interface ConnectOptions {
  /**
   * Cluster: refresh the slot map this often (ms, default 1000; 0 never: only
   * MOVED of a single command and failover retries refresh it). See the header.
   */
  readonly slotsRefreshMs?: number;
  /** CLIENT SETNAME on every connection (shows in CLIENT LIST, e.g. 'sy-ingress'). */
  readonly connectionName: string;
  /**
   * For blocking reads (XREADGROUP BLOCK): no auto-pipelining, and a command
   * waits through reconnects (maxRetriesPerRequest null) instead of failing.
   */
  readonly blocking?: boolean;
  /** Single Redis: attempts per command across reconnects (default 2; null for blocking). */
  readonly maxRetriesPerRequest?: number | null;
  readonly lazyConnect?: boolean;
}

/**
 * How long a caller may wait through a failover before an error (module
 * header): 16 redirections, resent every 300 ms after a closed connection or
 * CLUSTERDOWN: about 5 s.
 */
const CLUSTER_RETRY = {
  maxRedirections: 16,
  retryDelayOnFailover: 300, // ms, after "Connection is closed." (the node died)
  retryDelayOnClusterDown: 300, // ms, after CLUSTERDOWN (a failover in progress)
  retryDelayOnTryAgain: 100, // ms, after TRYAGAIN (a multi-key command during a slot migration)
  retryDelayOnMoved: 0, // resend at once to where MOVED points
} as const;

/** Builds a client for the target; errors are reported by the client's 'error' event, as ioredis does. */
export function connectRedis(target: RedisTarget, o: ConnectOptions): RedisClient {
  const blocking = o.blocking === true;
  const maxRetriesPerRequest = o.maxRetriesPerRequest !== undefined ? o.maxRetriesPerRequest : blocking ? null : 2;
  if (target.kind === 'single') {
    const opts: RedisOptions = { connectionName: o.connectionName, maxRetriesPerRequest, lazyConnect: o.lazyConnect === true };
    return new Redis(target.url, opts);
  }
  return new Cluster([...target.nodes], clusterOptions(target, o.connectionName, blocking, o.lazyConnect === true, o.slotsRefreshMs ?? 1000));
}

/**
 * Commands a Cluster client must not auto-pipeline (ioredis 5.8.2,
 * autoPipelining.js):
 * - ioredis groups an auto-pipelined command by the slot of its FIRST argument,
 *   which is the key for most commands but not for these (a script's text or
 *   key count, a subcommand, "GROUP"): grouped under the wrong node, the
 *   pipeline is refused ("All keys in the pipeline should belong to the same
 *   slots allocation group"). Scripts in sections (lua-loader.ts: their first
 *   argument is the key count) are added by defineLuaCommand.
 * - `call('CMD', …)` / `callBuffer` loses the command's name on the way into
 *   the pipeline ("ERR unknown command '<its key>'"), so every built-in
 *   command's UPPERCASE name is listed: code calls `call('XRANGE', …)` in
 *   upper case, and the typed methods (lower case) stay auto-pipelined.
 * Sent on their own they are routed by their real keys, one write each.
 */
export const NOT_KEY_FIRST: readonly string[] = [
  'eval', 'evalsha', 'xreadgroup', 'xread', 'xgroup', 'xinfo',
  ...Cluster.prototype.getBuiltinCommands().map((c) => c.toUpperCase()),
];

function clusterOptions(target: Extract<RedisTarget, { kind: 'cluster' }>, connectionName: string, blocking: boolean, lazyConnect: boolean, slotsRefreshMs: number): ClusterOptions {
  return {
    ...CLUSTER_RETRY,
    // A fresh array per client: defineLuaCommand adds to it.
    autoPipeliningIgnoredCommands: [...NOT_KEY_FIRST],
    scaleReads: 'master',
    enableAutoPipelining: !blocking,
    enableReadyCheck: true,
    lazyConnect,
    slotsRefreshTimeout: 2000,
    slotsRefreshInterval: slotsRefreshMs > 0 ? slotsRefreshMs : undefined,
    clusterRetryStrategy: (times: number) => Math.min(100 * times, 2000),
    redisOptions: {
      connectionName,
      password: target.password,
      username: target.username,
      connectTimeout: 2000,
      // Node connections never reconnect in a Cluster (ioredis sets retryStrategy null): the
      // cluster-level retries above decide; this bounds a single node client's own retries.
      maxRetriesPerRequest: blocking ? null : 2,
    },
  };
}

export function isCluster(c: RedisClient): c is Cluster {
  return c instanceof Cluster;
}

/**
 * Its own connections, for blocking reads: a blocking command holds the
 * connection it runs on (module header). Same target and credentials.
 */
export function duplicateClient(c: RedisClient, connectionName: string, blocking = true): RedisClient {
  if (c instanceof Cluster) {
    const base = c.options;
    return c.duplicate([], {
      enableAutoPipelining: !blocking,
      redisOptions: { ...base.redisOptions, connectionName, maxRetriesPerRequest: blocking ? null : 2 },
    });
  }
  return c.duplicate({ connectionName, maxRetriesPerRequest: blocking ? null : 2, enableAutoPipelining: !blocking && c.options.enableAutoPipelining === true });
}

const KEYED_LUA = `local a = {}
local n = tonumber(ARGV[1])
for i = 2, n + 1 do a[#a + 1] = ARGV[i] end
a[#a + 1] = KEYS[1]
for i = n + 2, #ARGV do a[#a + 1] = ARGV[i] end
return redis.call(unpack(a))`;

/**
 * Runs `before… key after…` on the master serving `key`. For the commands
 * ioredis cannot find the key of (XGROUP, XINFO: the key follows a
 * subcommand), which a Cluster client would send to a random node: inside a
 * one-line script with the key in KEYS, routed (and redirected, and retried
 * through a failover) like any keyed command. On a single Redis, the command
 * itself.
 */
export async function callWithKey(c: RedisClient, key: string, before: ReadonlyArray<string>, after: ReadonlyArray<string | number> = []): Promise<unknown> {
  if (!(c instanceof Cluster)) return await c.call(before[0] as string, ...before.slice(1), key, ...after);
  return await c.eval(KEYED_LUA, 1, key, before.length, ...before, ...after);
}

/** The masters to ask per node (INFO, DBSIZE, SCAN): every master of a cluster, or the one instance. */
export function masterNodes(c: RedisClient): Redis[] {
  return c instanceof Cluster ? c.nodes('master') : [c];
}

/**
 * Whether an error from a command may be retried:
 *   'not-run'   the server refused it unrun, or it never left the client: retry as is
 *   'maybe-run' it may have run (connection lost with it on the wire, retries exhausted, timeout): retry if idempotent
 *   'failed'    it ran, or can never run, and failed (script error, CROSSSLOT, wrong type): will fail again
 */
export type RedisErrorKind = 'not-run' | 'maybe-run' | 'failed';

const NOT_RUN = /^(CLUSTERDOWN|TRYAGAIN|LOADING|READONLY|MASTERDOWN|BUSY|MOVED|ASK|NOREPLICAS)\b/;
const NEVER_SENT = /^(Cluster isn't ready|Cluster is ended|Failed to refresh slots cache|Stream isn't writeable|Connection in subscriber mode)/;
const NEVER_RUNS = /^(All the keys in a pipeline command should belong to the same slot|All keys in the pipeline should belong to the same slots allocation group)/;
const MAYBE_RUN = /^(Connection is closed|Command timed out|Reached the max retries per request limit|Command aborted due to connection close)|\b(ECONNRESET|EPIPE|ETIMEDOUT|ECONNREFUSED)\b/;

export function classifyRedisError(err: unknown): RedisErrorKind {
  let msg = err instanceof Error ? err.message : String(err);
  const redirect = /^Too many Cluster redirections\. Last error: (?:\w*Error: )?(.*)$/s.exec(msg);
  if (redirect !== null) msg = redirect[1] as string;
  if (NEVER_RUNS.test(msg)) return 'failed';
  if (NOT_RUN.test(msg) || NEVER_SENT.test(msg)) return 'not-run';
  if (MAYBE_RUN.test(msg)) return 'maybe-run';
  const name = err instanceof Error ? err.name : '';
  // A reply from the server (ReplyError) that is none of the above: it was refused or failed as run.
  if (name === 'ReplyError' || /^[A-Z]+ /.test(msg)) return 'failed';
  return 'maybe-run';
}
