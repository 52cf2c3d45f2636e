/**
 * End-to-end load benchmark: `npm run bench:e2e -- [options]`.
 *
 *   load generator (this process, N WebSocket clients)
 *        → engine (child process: ingress + worker-thread actors)
 *        → simulated SMSCs (child process, SMPP over loopback)
 *        → receipts → status frames back to the clients
 *   Redis: a private redis-server (child process) unless REDIS_URL is set.
 *
 * Everything shares this machine's cores. Prints progress, then a summary, and
 * as the LAST line one JSON object with the figures (msgsPerSec, accepted,
 * submitted, receipts, lost, ackP50Ms, ackP99Ms, submitP99Ms, CPU, RSS, ...).
 *
 * --optout: the tenant has 100,000 numbers on its opt-out list and 100,000 on
 * the global one (none of them the load's recipients), a URL allowlist and
 * the volume detector on (limit far above the load): every message pays for
 * the opt-out checks and moderation, none is stopped or held.
 * --ingress smpp: the customers bind over SMPP instead (engine/loadgen/smpp-load.ts):
 * --smpp-binds (4) transceiver binds, --smpp-window (100) unanswered submit_sm each,
 * --rate over all of them, every submit asking for a final receipt, which comes
 * back as deliver_sm; lost and duplicates count receipts. Same figures otherwise.
 *
 * --webhooks: the tenant gets a webhook to a receiver in this process
 * (engine/loadgen/webhook-receiver.ts, signatures checked); the figures add
 * what it got (webhookEvents, duplicates, bad signatures, event age).
 *
 * --idempotency: every submit carries an idempotencyKey (unique: none is a
 * repeat), what idempotent submits cost (issue 15's bound: < 5 % of
 * throughput). Compare with a run of the same options without it.
 * --hostile N: N hostile clients of their own tenant run alongside the load
 * (engine/loadgen/hostile-clients.ts, in a process of their own): non-readers,
 * template bombers, junk frames, connection hogs. The figures are the
 * well-behaved tenant's as usual, plus what the hostile clients got (answers
 * by code, closes by code, refused upgrades) and the engine's count of
 * refused and dropped connections. Compare with a clean run of the same options.
 * --cluster: the engine runs on a private local Redis Cluster (3 masters, no
 * replicas; engine/redis/private-cluster.ts) with redis.shards = --shards
 * (default 48 there, 16 on a single Redis); the figures add, per master, its
 * CPU per message and its share of commands, keys and Redis time
 * (`cluster.perMaster`), and the Redis figures are summed over the masters.
 *
 * --nodes N: N engine processes (node ids bench-0…), one Redis (or the
 * cluster): a fleet (README "Many nodes"): the SMSCs' binds are shared by
 * bind leases, the clients are spread over the nodes (client i on node
 * i mod N). The figures add, per node, its CPU, CPU per message it accepted,
 * its accepted and submitted counts and peak RSS (`nodes`); lost and
 * duplicates are counted over all (every message's statuses reach client 0
 * whatever node accepted it). With --analytics it needs CLICKHOUSE_URL (one
 * analytics node per fleet on embedded chdb).
 *
 * --backlog N: instead, with no SMSC reachable, enqueue N messages as fast as
 * the engine accepts them and report Redis bytes per queued message and the
 * engine's RSS with that backlog.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { DEFAULTS } from '../config/schema.js';
import { connectRedis, type RedisTarget } from '../engine/redis/connect-redis.js';
import { startPrivateCluster, type PrivateCluster } from '../engine/redis/private-cluster.js';
import { Shards } from '../engine/queue/shards.js';
import { demoRoutePlan } from '../engine/loadgen/harness.js';
import type { HostileResult } from '../engine/loadgen/hostile-clients.js';
import { runLoad } from '../engine/loadgen/load-generator.js';
import { runSmppLoad } from '../engine/loadgen/smpp-load.js';
import { WebhookReceiver } from '../engine/loadgen/webhook-receiver.js';
import { ENQUEUE_LUA, FAILED_LUA, LINK_LUA, LOOKUP_LUA, MOVE_LUA, RECEIPTS_LUA, SUBMITTED_LUA, SWEEP_LUA } from '../engine/queue/lua-scripts.js';
import { CANCEL_LUA, SCHEDULE_LUA } from '../engine/queue/lifecycle-scripts.js';
import { startPrivateRedis } from '../engine/redis/private-redis.js';
import { GLOBAL, OptOutStore } from '../engine/optout/optout-store.js';
import { Keys } from '../engine/queue/keys.js';

const { values: a } = parseArgs({
  options: {
    duration: { type: 'string', default: '60' },
    smscs: { type: 'string', default: '4' },
    binds: { type: 'string', default: '2' },
    window: { type: 'string', default: '100' },
    clients: { type: 'string', default: '4' },
    rate: { type: 'string', default: '10000' },
    batch: { type: 'string', default: '50' },
    tps: { type: 'string', default: '10000' },
    'receipt-delay-ms': { type: 'string', default: '200' },
    backlog: { type: 'string' },
    warmup: { type: 'string', default: '0' },
    'no-metrics': { type: 'boolean', default: false },
    analytics: { type: 'boolean', default: false },
    optout: { type: 'boolean', default: false },
    webhooks: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    // Issue 6: a share of the messages scheduled 1 s ahead; the tenant with a daily quota and a sender allowlist.
    'scheduled-share': { type: 'string', default: '0' },
    limits: { type: 'boolean', default: false },
    // Issue 11: hostile clients alongside the load, on their own tenant.
    hostile: { type: 'string', default: '0' },
    cluster: { type: 'boolean', default: false },
    shards: { type: 'string' },
    // Issue 14: N engine nodes on one Redis.
    nodes: { type: 'string', default: '1' },
    // Issue 15: every submit carries an idempotency key.
    idempotency: { type: 'boolean', default: false },
    // Issue 17: the customers over SMPP (4 transceiver binds, window 100 each, receipts as deliver_sm) instead of WebSocket.
    ingress: { type: 'string', default: 'ws' },
    'smpp-binds': { type: 'string', default: '4' },
    'smpp-window': { type: 'string', default: '100' },
  },
});
const num = (k: keyof typeof a) => Number(a[k]);

function procStat(pid: number): { cpuMs: number; rssMb: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    return { cpuMs: ticks * 10, rssMb: rss };
  } catch {
    return { cpuMs: 0, rssMb: 0 };
  }
}

/** Busy CPU time of the whole machine (all processes, kernel included), ms, from /proc/stat. */
function machineBusyMs(): number {
  try {
    const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
    return (user + nice + system + irq + softirq + steal) * 10;
  } catch {
    return 0;
  }
}

/** Waits for a line on the child's stderr; every line also goes to logFile. */
async function waitLine(child: ChildProcess, re: RegExp, timeoutMs: number, logFile: string): Promise<RegExpExecArray> {
  const log = createWriteStream(logFile);
  return await new Promise((ok, fail) => {
    const t = setTimeout(() => fail(new Error(`timed out waiting for ${re}`)), timeoutMs);
    const rl = createInterface({ input: child.stderr as NodeJS.ReadableStream });
    rl.on('line', (line) => {
      log.write(line + '\n');
      const m = re.exec(line);
      if (m) {
        clearTimeout(t);
        ok(m);
      }
    });
    child.once('exit', (code) => fail(new Error(`child exited with ${code}`)));
  });
}

const SCRIPTS: Record<string, string> = { enqueue: ENQUEUE_LUA, link: LINK_LUA, submitted: SUBMITTED_LUA, lookup: LOOKUP_LUA, receipts: RECEIPTS_LUA, failed: FAILED_LUA, sweep: SWEEP_LUA, move: MOVE_LUA, schedule: SCHEDULE_LUA, cancel: CANCEL_LUA };

/** SLOWLOG grouped by script (or command): count, max and mean duration, mean argument count. */
async function slowCalls(masters: ReadonlyArray<Redis>): Promise<string> {
  const names = new Map(Object.entries(SCRIPTS).map(([k, lua]) => [createHash('sha1').update(lua).digest('hex'), k]));
  const log: Array<[number, number, number, string[]]> = [];
  for (const r of masters) log.push(...((await r.slowlog('GET', 100000)) as Array<[number, number, number, string[]]>));
  const by = new Map<string, { n: number; max: number; sum: number; args: number }>();
  for (const [, , usec, args] of log) {
    const cmd = (args[0] ?? '').toLowerCase();
    const k = cmd === 'evalsha' ? (names.get(args[1] ?? '') ?? 'script?') : cmd;
    const g = by.get(k) ?? { n: 0, max: 0, sum: 0, args: 0 };
    g.n++;
    g.max = Math.max(g.max, usec);
    g.sum += usec;
    g.args += args.length; // SLOWLOG keeps at most 32 arguments: ≥ 32 means a batch
    by.set(k, g);
  }
  return [...by].map(([k, g]) => `${k}: ${g.n} calls, max ${(g.max / 1000).toFixed(1)} ms, mean ${(g.sum / g.n / 1000).toFixed(1)} ms`).join('; ') || 'none';
}

/** Load starts once every SMPP bind is up, as in production (binds come up before traffic); with several nodes, summed over them (bind leases share the slots). */
async function waitForBinds(ports: ReadonlyArray<number>, adminKey: string, binds: number): Promise<void> {
  const until = Date.now() + 30_000;
  for (;;) {
    let up = 0;
    for (const port of ports) {
      const res = await fetch(`http://127.0.0.1:${port}/v1/status`, { headers: { authorization: `Bearer ${adminKey}` } });
      const body = (await res.json()) as { actors: Array<{ binds: Array<{ up: boolean }> }> };
      up += body.actors.reduce((n, s) => n + s.binds.filter((b) => b.up).length, 0);
    }
    if (up >= binds) return;
    if (Date.now() > until) throw new Error(`only ${up} of ${binds} binds came up within 30 s`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

/** 100,000 numbers on the bench tenant's list and 100,000 on the global one (UK numbers: the load sends to NO, DE, FR). */
async function preloadOptOuts(url: string, prefix: string): Promise<void> {
  const r = new Redis(url);
  const store = new OptOutStore(r, new Keys(prefix));
  for (const [list, base] of [['bench', 447700000000], [GLOBAL, 447800000000]] as const) {
    for (let i = 0; i < 100_000; i += 1000) await store.add(list, Array.from({ length: 1000 }, (_, k) => String(base + i + k)), 'admin');
  }
  // The load's Redis time per message must not include the preload.
  await r.config('RESETSTAT');
  r.disconnect();
}

async function main(): Promise<void> {
  const dir = 'data/bench';
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  if (a.cluster && a.optout) throw new Error('--optout preloads the lists through the single-Redis opt-out store: not with --cluster');
  const nodes = num('nodes');
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 16) throw new Error('--nodes: 1 to 16 engine processes');
  if (nodes > 1 && a.analytics && !process.env.CLICKHOUSE_URL) throw new Error('--analytics with --nodes > 1 needs CLICKHOUSE_URL: embedded chdb serves one node (README "Analytics with several nodes")');
  if (nodes > 1 && a.backlog !== undefined) throw new Error('--backlog measures one node: not with --nodes');
  if (a.ingress !== 'ws' && a.ingress !== 'smpp') throw new Error('--ingress: ws (default) or smpp');
  const smppIngress = a.ingress === 'smpp';
  if (smppIngress && (nodes > 1 || a.backlog !== undefined || num('hostile') > 0)) throw new Error('--ingress smpp measures one node with SMPP customers: not with --nodes, --backlog or --hostile');
  let cluster: PrivateCluster | undefined;
  let redis: Awaited<ReturnType<typeof startPrivateRedis>> | undefined;
  let target: RedisTarget;
  if (a.cluster) {
    cluster = await startPrivateCluster({ dir: `${dir}/cluster`, masters: 3, replicas: 0 });
    target = { kind: 'cluster', nodes: cluster.nodes, password: cluster.password };
  } else {
    const given = process.env.REDIS_URL;
    redis = given ? undefined : await startPrivateRedis({ dir: `${dir}/redis` });
    target = { kind: 'single', url: given || (redis as NonNullable<typeof redis>).url };
  }
  const redisUrl = target.kind === 'single' ? target.url : '';
  const shards = a.shards === undefined ? (a.cluster ? 48 : 16) : Number(a.shards);
  const apiKey = randomBytes(18).toString('base64url');
  const simPw = randomBytes(4).toString('hex');
  const hookSecret = randomBytes(24).toString('hex');
  const hook = a.webhooks ? new WebhookReceiver({ secret: hookSecret, keep: false }) : undefined;
  await hook?.up();
  const hostile = num('hostile');
  const env = { ...process.env, SY_HOSTILE_KEY: randomBytes(18).toString('base64url'), SY_BENCH_WH_SECRET: hookSecret, SWITCHYARD_ADMIN_KEY: randomBytes(12).toString('hex'), SY_BENCH_KEY: apiKey, SY_BENCH_SIM_PW: simPw, SWITCHYARD_SIM_PASSWORD: simPw, SY_BENCH_SMPP_PW: randomBytes(4).toString('hex'), REDIS_URL: redisUrl, REDIS_CLUSTER_NODES: cluster?.seeds ?? '', REDIS_PASSWORD: cluster?.password ?? '' };
  const smscs = num('smscs');
  const backlog = a.backlog === undefined ? undefined : Number(a.backlog);

  // Simulated SMSCs in their own process.
  let ports: number[] = [];
  let sims: ChildProcess | undefined;
  if (backlog === undefined) {
    sims = spawn(process.execPath, ['dist/engine/cli.js', 'simulate-smsc', '--count', String(smscs), '--port', '0', '--receipt-delay-ms', a['receipt-delay-ms'] as string], { env, stdio: ['ignore', 'inherit', 'pipe'] });
    const m = await waitLine(sims, /ports\\?":\[([0-9,]+)\]/, 15_000, `${dir}/simulators.log`);
    ports = (m[1] as string).split(',').map(Number);
  } else {
    // Nothing listens on these ports: binds fail and the backlog stays in Redis.
    ports = Array.from({ length: smscs }, (_, i) => 1 + i);
  }
  const config = {
    // With --hostile: room for the hostile clients and a few more, so that their connection hogs meet the cap.
    server: { host: '127.0.0.1', port: 0, ...(hostile > 0 ? { maxConnectionsPerTenant: hostile + 10 } : {}) },
    redis: { keyPrefix: 'syb:', shards },
    engine: { nodeId: 'bench', metrics: !a['no-metrics'] },
    ...(smppIngress ? { smppServer: { enabled: true, port: 0, window: num('smpp-window') } } : {}),
    analytics: { enabled: a.analytics === true, dataDir: `${dir}/analytics` },
    // The default per-connection window (2,000 unacked submits): clients keep to it.
    tenants: [{
      id: 'bench', apiKey: { env: 'SY_BENCH_KEY' }, tps: 1_000_000,
      ...(a.optout ? { moderation: { urlAllowlist: ['switchyard.example'], volume: { enabled: true, floorPerMinute: 100_000_000 } } } : {}),
      ...(hook ? { webhook: { url: hook.url, secret: { env: 'SY_BENCH_WH_SECRET' } } } : {}),
      ...(a.limits ? { dailyQuota: 1_000_000_000, senders: ['Switchyard'] } : {}),
      ...(smppIngress ? { smpp: { systemId: 'bench', password: { env: 'SY_BENCH_SMPP_PW' }, maxBinds: num('smpp-binds') } } : {}),
    }, ...(hostile > 0 ? [{ id: 'hostile', apiKey: { env: 'SY_HOSTILE_KEY' } }] : [])],
    smscs: ports.map((port, i) => ({ id: `sim-${i}`, port, systemId: 'switchyard', password: { env: 'SY_BENCH_SIM_PW' }, binds: num('binds'), window: num('window'), tps: num('tps') })),
    // With --backlog no SMSC ever binds: keep them routable (an operator's SMSC down for maintenance
    // while its traffic queues), or the router would refuse every message NO_ROUTE after downAfterMs.
    routing: { plans: [demoRoutePlan(smscs, (i) => `sim-${i}`, true)], ...(backlog === undefined ? {} : { downAfterMs: 86_400_000, failoverAfterSec: 86_400 }) },
  };
  // One config per node: only the node id differs (one node: the single-node figures as before).
  for (let i = 0; i < nodes; i++) writeFileSync(nodes === 1 ? `${dir}/config.json` : `${dir}/config-${i}.json`, JSON.stringify(nodes === 1 ? config : { ...config, engine: { ...config.engine, nodeId: `bench-${i}` } }, null, 2));
  if (a.optout) await preloadOptOuts(redisUrl, config.redis.keyPrefix);
  const nodeArgs = a.profile ? ['--cpu-prof', `--cpu-prof-dir=${dir}/profile`] : [];
  if (process.env.SY_BENCH_TRACE_GC) nodeArgs.push('--trace-gc');
  // Any other V8/Node flags for the engine processes only (e.g. --trace-deopt), space-separated.
  if (process.env.SY_BENCH_ENGINE_ARGS) nodeArgs.push(...process.env.SY_BENCH_ENGINE_ARGS.split(' ').filter((x) => x !== ''));
  const engines: ChildProcess[] = [];
  const enginePorts: number[] = [];
  for (let i = 0; i < nodes; i++) {
    const child = spawn(process.execPath, [...nodeArgs, 'dist/engine/cli.js', 'start', '--config', nodes === 1 ? `${dir}/config.json` : `${dir}/config-${i}.json`, '--port', '0'], { env, stdio: ['ignore', 'inherit', 'pipe'] });
    engines.push(child);
    const lm = await waitLine(child, /listening on http:\/\/127\.0\.0\.1:(\d+)/, 30_000, nodes === 1 ? `${dir}/engine.log` : `${dir}/engine-${i}.log`);
    enginePorts.push(Number(lm[1]));
  }
  const engine = engines[0] as ChildProcess;
  const port = enginePorts[0] as number;
  const url = `ws://127.0.0.1:${port}/v1/ws`;
  const urls = enginePorts.map((p) => `ws://127.0.0.1:${p}/v1/ws`);
  if (backlog === undefined) await waitForBinds(enginePorts, env.SWITCHYARD_ADMIN_KEY, smscs * num('binds'));
  // The engine's keys through the same client factory; the masters (or the one instance) asked directly for their figures.
  const r = connectRedis(target, { connectionName: 'sy-bench' });
  const masters: Redis[] = cluster
    ? (await cluster.topology()).filter((n) => n.role === 'master').sort((x, y) => x.port - y.port).map((n) => new Redis({ host: '127.0.0.1', port: n.port, password: cluster?.password }))
    : [new Redis(redisUrl)];
  const redisPids = await Promise.all(masters.map(async (m) => Number((/process_id:(\d+)/.exec(await m.info('server')) ?? [])[1] ?? 0)));
  const sumInfo = async (section: string, k: string) => (await Promise.all(masters.map(async (m) => Number(new RegExp(`${k}:(\\d+)`).exec(await m.info(section))?.[1] ?? 0)))).reduce((x, y) => x + y, 0);
  for (const m of masters) {
    // Every Redis call over 2 ms is logged: a long script holds up every other client (ingress acks wait on Redis).
    await m.config('SET', 'slowlog-log-slower-than', '2000');
    await m.config('SET', 'slowlog-max-len', '100000');
    await m.slowlog('RESET');
    // Per-master command counts cover the load only (the start's layout check and group creation aside).
    if (cluster) await m.config('RESETSTAT');
  }

  let peakRss = 0;
  const peakRssOf = engines.map(() => 0);
  const rssTimer = setInterval(() => {
    engines.forEach((e, i) => (peakRssOf[i] = Math.max(peakRssOf[i] as number, procStat(e.pid as number).rssMb)));
    peakRss = Math.max(...peakRssOf);
  }, 500);
  // --analytics: the sink's lag, backlog and its process's RSS, read from /v1/status once a second.
  const sink = { maxLagMs: 0, maxBacklog: 0, maxRssMb: 0, inserted: 0, lags: [] as number[] };
  const sinkTimer = a.analytics
    ? setInterval(() => {
        void fetch(`http://127.0.0.1:${port}/v1/status`, { headers: { authorization: `Bearer ${env.SWITCHYARD_ADMIN_KEY}` } })
          .then((x) => x.json() as Promise<{ analytics: { lagMs: number; backlog: number; rssMb: number; inserted: number } }>)
          .then(({ analytics: s }) => {
            sink.maxLagMs = Math.max(sink.maxLagMs, s.lagMs);
            sink.maxBacklog = Math.max(sink.maxBacklog, s.backlog);
            sink.maxRssMb = Math.max(sink.maxRssMb, s.rssMb);
            sink.inserted = s.inserted;
            sink.lags.push(s.lagMs);
          }, () => undefined);
      }, 1000)
    : undefined;
  const cpu0Nodes = engines.map((e) => procStat(e.pid as number).cpuMs);
  const net0 = { in: await sumInfo('stats', 'total_net_input_bytes'), out: await sumInfo('stats', 'total_net_output_bytes') };
  const cpu0 = { engine: cpu0Nodes.reduce((x, y) => x + y, 0), sims: sims ? procStat(sims.pid as number).cpuMs : 0, redis: redisPids.map((pid) => procStat(pid).cpuMs), self: process.cpuUsage(), machine: machineBusyMs() };
  const mem0 = await sumInfo('memory', 'used_memory');
  const t0 = performance.now();

  // Hostile clients in a process of their own for the load's sending time (their work must not slow the measuring client).
  let hostileChild: ChildProcess | undefined;
  let hostileOut = '';
  if (hostile > 0 && backlog === undefined) {
    hostileChild = spawn(process.execPath, ['dist/engine/loadgen/hostile-clients.js', url, String(hostile), String(num('duration') * 1000), String(DEFAULTS.server.maxFrameBytes)], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    hostileChild.stdout?.on('data', (d: Buffer) => (hostileOut += d.toString()));
  }

  const smppPort = smppIngress
    ? ((await (await fetch(`http://127.0.0.1:${port}/v1/admin/smpp/binds`, { headers: { authorization: `Bearer ${env.SWITCHYARD_ADMIN_KEY}` } })).json()) as { port: number }).port
    : 0;
  const onTick = (s: { elapsedMs: number; sent: number; accepted: number; refused: number; finals: number }) => console.log(`t=${(s.elapsedMs / 1000).toFixed(0).padStart(3)}s sent=${s.sent} acked=${s.accepted} refused=${s.refused} finals=${s.finals} engineRssMb=${procStat(engine.pid as number).rssMb.toFixed(0)}`);
  const res = smppIngress ? await runSmppLoad({ port: smppPort, systemId: 'bench', password: env.SY_BENCH_SMPP_PW, binds: num('smpp-binds'), window: num('smpp-window'), rate: num('rate'), durationMs: num('duration') * 1000, drainMs: 60_000, onTick }) : await runLoad({
    url,
    urls,
    apiKey,
    // Every node gets clients.
    clients: Math.max(num('clients'), nodes),
    rate: backlog === undefined ? num('rate') : 1_000_000,
    durationMs: backlog === undefined ? num('duration') * 1000 : 3_600_000,
    maxMessages: backlog,
    batchSize: num('batch'),
    drainMs: 60_000,
    warmupMs: num('warmup') * 1000,
    waitForFinals: backlog === undefined,
    scheduledShare: Number(a['scheduled-share']),
    idempotency: a.idempotency,
    onTick: (s) => console.log(`t=${(s.elapsedMs / 1000).toFixed(0).padStart(3)}s sent=${s.sent} acked=${s.accepted} refused=${s.refused} finals=${s.finals} engineRssMb=${procStat(engine.pid as number).rssMb.toFixed(0)}`),
  });
  const wallS = (performance.now() - t0) / 1000;
  let hostileResult: (HostileResult & { cpuMs: number }) | undefined;
  if (hostileChild) {
    if (hostileChild.exitCode === null) await new Promise((ok) => hostileChild.once('exit', ok));
    hostileResult = JSON.parse(hostileOut.trim().split('\n').pop() ?? '{}') as HostileResult & { cpuMs: number };
  }
  const hostileCpuMs = hostileResult?.cpuMs ?? 0;
  clearInterval(rssTimer);
  clearInterval(sinkTimer);
  peakRss = Math.max(peakRss, procStat(engine.pid as number).rssMb);
  const self = process.cpuUsage(cpu0.self);
  const nodeCpuMs = engines.map((e, i) => procStat(e.pid as number).cpuMs - (cpu0Nodes[i] as number));
  const cpu = {
    engine: nodeCpuMs.reduce((x, y) => x + y, 0) / 1000 / wallS,
    sims: sims ? (procStat(sims.pid as number).cpuMs - cpu0.sims) / 1000 / wallS : 0,
    redis: redisPids.reduce((x, pid, i) => x + procStat(pid).cpuMs - (cpu0.redis[i] as number), 0) / 1000 / wallS,
    loadgen: (self.user + self.system) / 1e6 / wallS,
    hostile: hostileCpuMs / 1000 / wallS,
    machine: (machineBusyMs() - cpu0.machine) / 1000 / wallS,
  };
  // Every status frame the clients got is also a webhook event: wait (bounded) until the receiver has them all.
  const statusFrames = Object.values(res.statuses).reduce((x, y) => x + y, 0);
  const hookDeadline = Date.now() + 30_000;
  while (hook && hook.eids.size < statusFrames && Date.now() < hookDeadline) await new Promise((ok) => setTimeout(ok, 100));
  const mem1 = await sumInfo('memory', 'used_memory');
  const net1 = { in: await sumInfo('stats', 'total_net_input_bytes'), out: await sumInfo('stats', 'total_net_output_bytes') };
  // Where Redis spent its time: microseconds per command type (summed over the masters), and per completed message.
  const perMasterStats = await Promise.all(masters.map(async (m) => (await m.info('commandstats')).split('\n').flatMap((line) => {
    const x = /^cmdstat_(\w+):calls=(\d+),usec=(\d+)/.exec(line);
    return x ? [{ cmd: x[1] as string, calls: Number(x[2]), usec: Number(x[3]) }] : [];
  })));
  const byCmd = new Map<string, { cmd: string; calls: number; usec: number }>();
  for (const c of perMasterStats.flat()) {
    const g = byCmd.get(c.cmd) ?? { cmd: c.cmd, calls: 0, usec: 0 };
    g.calls += c.calls;
    g.usec += c.usec;
    byCmd.set(c.cmd, g);
  }
  const cmdstats = [...byCmd.values()];
  const redisUsec = cmdstats.reduce((s, c) => s + c.usec, 0);
  const redisAof = { rewrites: await sumInfo('stats', 'aof_rewrites'), lastForkMs: (await sumInfo('stats', 'latest_fork_usec')) / 1000, delayedFsync: await sumInfo('persistence', 'aof_delayed_fsync') };
  // --cluster: how evenly the masters share the work (CPU from /proc, commands and Redis time from INFO commandstats, keys from DBSIZE).
  const callsOf = (i: number) => (perMasterStats[i] ?? []).reduce((x, c) => x + c.calls, 0);
  const usecOf = (i: number) => (perMasterStats[i] ?? []).reduce((x, c) => x + c.usec, 0);
  const totalCalls = masters.reduce((x, _m, i) => x + callsOf(i), 0);
  const dbsizes = await Promise.all(masters.map((m) => m.dbsize()));
  const totalKeys = dbsizes.reduce((x, y) => x + y, 0);
  const perMaster = cluster
    ? await Promise.all(masters.map(async (m, i) => ({
        port: m.options.port,
        cpuCores: +((procStat(redisPids[i] as number).cpuMs - (cpu0.redis[i] as number)) / 1000 / wallS).toFixed(2),
        cpuUsPerMsg: Math.round(((procStat(redisPids[i] as number).cpuMs - (cpu0.redis[i] as number)) * 1000) / Math.max(1, res.accepted)),
        commandShare: +(callsOf(i) / Math.max(1, totalCalls)).toFixed(3),
        redisUsecShare: +(usecOf(i) / Math.max(1, redisUsec)).toFixed(3),
        keyShare: +((dbsizes[i] as number) / Math.max(1, totalKeys)).toFixed(3),
      })))
    : undefined;
  if (perMaster) console.log('per master:', JSON.stringify(perMaster));
  console.log('ack p99 by second of sending (ms):', res.ackP99BySecondMs.join(' '));
  console.log('redis calls over 2 ms:', await slowCalls(masters));
  console.log('redis AOF:', JSON.stringify(redisAof));
  console.log('redis time by command (ms):', cmdstats.sort((x, y) => y.usec - x.usec).slice(0, 8).map((c) => `${c.cmd}=${Math.round(c.usec / 1000)} (${c.calls} calls)`).join(' '));
  console.log('redis µs per message by command:', cmdstats.sort((x, y) => y.usec - x.usec).filter((c) => c.usec / Math.max(1, res.accepted) >= 0.1).map((c) => `${c.cmd}=${(c.usec / Math.max(1, res.accepted)).toFixed(1)}`).join(' '));
  // Calls per accepted message by command: unlike the times above, the same on a busy machine (what a change to the state layer adds or saves).
  console.log('redis calls per message:', cmdstats.sort((x, y) => y.calls - x.calls).filter((c) => c.calls / Math.max(1, res.accepted) >= 0.005).map((c) => `${c.cmd}=${(c.calls / Math.max(1, res.accepted)).toFixed(3)}`).join(' '));

  // Actor-side figures from the engine.
  let submitted = 0;
  let receipts = 0;
  let submitP99Ms = 0;
  let engineAckP99Ms = 0;
  let engineIngress: Record<string, number> = {};
  const perNode: Array<{ node: string; cpuCores: number; cpuUsPerMsg: number; accepted: number; submitted: number; receipts: number; peakRssMb: number }> = [];
  for (const [i, p] of enginePorts.entries()) {
    const statusRes = await fetch(`http://127.0.0.1:${p}/v1/status`, { headers: { authorization: `Bearer ${env.SWITCHYARD_ADMIN_KEY ?? ''}` } }).catch(() => undefined);
    if (!statusRes?.ok) continue;
    const body = (await statusRes.json()) as { ingress: Record<string, number>; actors: Array<{ submitted: number; receipts: number; submitP99Ms?: number }> };
    if (i === 0) {
      console.log('engine ingress:', JSON.stringify(body.ingress));
      console.log('engine actors:', JSON.stringify(body.actors.map(({ binds: _b, ...s }: Record<string, unknown>) => s)));
      engineIngress = body.ingress;
    }
    engineAckP99Ms = Math.max(engineAckP99Ms, body.ingress.ackP99Ms ?? 0);
    let nodeSubmitted = 0;
    let nodeReceipts = 0;
    for (const s of body.actors) {
      nodeSubmitted += s.submitted;
      nodeReceipts += s.receipts;
      submitP99Ms = Math.max(submitP99Ms, s.submitP99Ms ?? 0);
    }
    submitted += nodeSubmitted;
    receipts += nodeReceipts;
    const accepted = body.ingress.accepted ?? 0;
    perNode.push({
      node: nodes === 1 ? 'bench' : `bench-${i}`,
      cpuCores: +((nodeCpuMs[i] as number) / 1000 / wallS).toFixed(2),
      cpuUsPerMsg: Math.round(((nodeCpuMs[i] as number) * 1000) / Math.max(1, accepted)),
      accepted, submitted: nodeSubmitted, receipts: nodeReceipts, peakRssMb: Math.round(peakRssOf[i] as number),
    });
  }
  if (nodes > 1) console.log('per node:', JSON.stringify(perNode));
  const ages = hook ? Float64Array.from(hook.agesMs).sort() : new Float64Array(0);
  const agePct = (p: number) => (ages.length === 0 ? 0 : +(ages[Math.min(ages.length - 1, Math.floor(p * ages.length))] as number).toFixed(1));
  const webhooks = hook && { events: hook.eids.size, expected: statusFrames, missing: Math.max(0, statusFrames - hook.eids.size), duplicates: hook.duplicates, badSignatures: hook.badSignatures, posts: hook.postCount, ageP50Ms: agePct(0.5), ageP99Ms: agePct(0.99) };
  if (webhooks) console.log('webhooks:', JSON.stringify(webhooks));
  await hook?.stop();
  // A message without a final status is a defect: show what Redis knows of it.
  const benchKeys = new Keys(config.redis.keyPrefix, new Shards(shards));
  if (backlog === undefined) for (const id of res.lostIds) console.log(`no final status for ${id}:`, JSON.stringify(await r.hgetall(benchKeys.msg(id))));
  for (const e of engines) e.kill('SIGTERM');
  await Promise.all(engines.map((e) => (e.exitCode === null ? new Promise((ok) => e.once('exit', ok)) : undefined)));
  sims?.kill('SIGTERM');
  r.disconnect();
  for (const m of masters) m.disconnect();
  await redis?.stop();
  await cluster?.stop();

  const completedS = res.completedWithinMs / 1000;
  const figures = {
    bench: backlog === undefined ? 'e2e' : 'e2e-backlog',
    ingress: smppIngress ? `smpp (${num('smpp-binds')} transceiver binds, window ${num('smpp-window')})` : 'ws',
    redis: cluster ? `cluster of ${masters.length} masters` : 'single',
    shards,
    nodes,
    durationS: num('duration'),
    smscs, binds: num('binds'), window: num('window'), clients: num('clients'), targetRate: num('rate'),
    msgsPerSec: backlog === undefined ? Math.round(res.finals / completedS) : 0,
    acceptRatePerSec: Math.round(res.accepted / (res.sendWindowMs / 1000 || 1)),
    sent: res.sent, accepted: res.accepted, refused: res.refused, refusedByCode: res.refusedByCode, submitted, receipts, finals: res.finals,
    lost: backlog === undefined ? res.lost : 0,
    duplicates: res.duplicates,
    windowWaits: res.windowWaits,
    // Main-thread CPU charged to each tenant's frames (engine/ingress/cpu-budget.ts), per second of sending.
    tenantCpuMsPerSec: Object.fromEntries(Object.entries((engineIngress as unknown as { tenantCpuMs?: Record<string, number> }).tenantCpuMs ?? {}).map(([k, v]) => [k, Math.round(v / (res.sendWindowMs / 1000 || 1))])),
    loadgenLoopDelayMaxMs: +res.loadgenLoopDelayMaxMs.toFixed(1),
    statuses: res.statuses,
    ackP50Ms: +res.ackMs.p50.toFixed(2), ackP90Ms: +res.ackMs.p90.toFixed(2), ackP99Ms: +res.ackMs.p99.toFixed(2),
    warmupS: num('warmup'),
    metrics: !a['no-metrics'],
    optout: a.optout === true,
    scheduledShare: Number(a['scheduled-share']),
    idempotency: a.idempotency === true,
    limits: a.limits === true,
    webhooks,
    steadyAckP50Ms: +res.steadyAckMs.p50.toFixed(2), steadyAckP99Ms: +res.steadyAckMs.p99.toFixed(2), steadyAckMaxMs: +res.steadyAckMs.max.toFixed(2),
    submitP99Ms: +submitP99Ms.toFixed(2),
    engineAckP99Ms: +engineAckP99Ms.toFixed(2),
    completionP50Ms: +res.completionMs.p50.toFixed(1), completionP99Ms: +res.completionMs.p99.toFixed(1),
    cpuCores: { engine: +cpu.engine.toFixed(2), simulators: +cpu.sims.toFixed(2), redis: +cpu.redis.toFixed(2), loadgen: +cpu.loadgen.toFixed(2), ...(hostileChild ? { hostile: +cpu.hostile.toFixed(2) } : {}), machine: +cpu.machine.toFixed(2) },
    // CPU the machine spent outside the benchmark's processes (kernel networking, and anything else running: a disturbed run shows here).
    otherCpuCores: +(cpu.machine - cpu.engine - cpu.sims - cpu.redis - cpu.loadgen - cpu.hostile).toFixed(2),
    // --hostile: what the hostile clients got, and what the engine refused or dropped.
    ...(hostileResult ? { hostile: { ...hostileResult, cpuMs: undefined, engine: { connectionsRefused: engineIngress.connectionsRefused ?? 0, slowConsumerCloses: engineIngress.slowConsumerCloses ?? 0, oversizeCloses: engineIngress.oversizeCloses ?? 0, overBudget: engineIngress.overBudget ?? 0, floodCloses: engineIngress.floodCloses ?? 0, eventLoopDelayMaxMs: engineIngress.eventLoopDelayMaxMs ?? 0 } } } : {}),
    enginePeakRssMb: Math.round(peakRss),
    redisUsecPerMsg: Math.round(redisUsec / Math.max(1, res.accepted)),
    // Bytes the engine (and the bench's own few reads) sent Redis and got back, per accepted message.
    redisInBytesPerMsg: Math.round((net1.in - net0.in) / Math.max(1, res.accepted)),
    redisOutBytesPerMsg: Math.round((net1.out - net0.out) / Math.max(1, res.accepted)),
    // CPU time per accepted message (from /proc): unlike commandstats' wall time, not inflated on a busy machine.
    redisCpuUsPerMsg: Math.round((cpu.redis * wallS * 1e6) / Math.max(1, res.accepted)),
    engineCpuUsPerMsg: Math.round((cpu.engine * wallS * 1e6) / Math.max(1, res.accepted)),
    redisAofRewrites: redisAof.rewrites,
    redisLastForkMs: redisAof.lastForkMs,
    ...(perMaster ? { cluster: { masters: masters.length, perMaster } } : {}),
    ...(nodes > 1 ? { perNode } : {}),
    redisBytesPerQueuedMsg: backlog === undefined ? undefined : Math.round((mem1 - mem0) / Math.max(1, res.accepted)),
    ...(a.analytics ? { sinkMaxLagMs: sink.maxLagMs, sinkLagP50Ms: [...sink.lags].sort((x, y) => x - y)[Math.floor(sink.lags.length / 2)] ?? 0, sinkMaxBacklog: sink.maxBacklog, sinkPeakRssMb: sink.maxRssMb, sinkInserted: sink.inserted } : {}),
    machine: `${cpus().length} cores ${cpus()[0]?.model ?? ''}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`,
  };
  console.log(`\nsummary: ${res.finals} messages completed (final status) in ${completedS.toFixed(1)} s → ${figures.msgsPerSec} msg/s; ack p50 ${figures.ackP50Ms} ms p99 ${figures.ackP99Ms} ms; engine peak RSS ${figures.enginePeakRssMb} MB; lost ${figures.lost}`);
  console.log(JSON.stringify(figures));
}

main().catch((err: Error) => {
  console.error(err);
  process.exit(1);
});
