#!/usr/bin/env node
/**
 * The one command-line entry point:
 *
 *   switchyard demo [--duration S] [--rate N] [--clients N] [--mo-rate N]   everything on embedded defaults
 *   switchyard start --config FILE [--port N] [--redis-port N] an engine node (REDIS_URL, REDIS_CLUSTER_NODES or a private Redis)
 *   switchyard simulate-smsc [--port N] [--tps N] [--window N] [--mo-rate N --mo-to NUMBER]
 *                                                              an SMSC simulator (password: SWITCHYARD_SIM_PASSWORD)
 *   switchyard status [--url URL]                              actor and bind state of a running engine
 *   switchyard route explain NUMBER [--tenant T] [--config FILE | --url URL]
 *                                                              why a number goes where it goes
 *   switchyard mnp load FILE.csv --config FILE                 replace the ported-numbers table in Redis
 *   switchyard analytics delivery|failures|statuses|message|number|bad-numbers|report ...   (engine/analytics/analytics-cli.ts)
 *   switchyard usage --tenant ID [--from DAY] [--to DAY] [--url URL | --config FILE]
 *                                                              a tenant's messages, segments and cost by day
 *   switchyard smpp binds|kick ...                             customer SMPP binds (engine/smpp-server/smpp-cli.ts)
 *   switchyard tenants ... / switchyard keys ...               tenants and API keys as data (engine/cli/tenants-cli.ts)
 *
 * `switchyard COMMAND --help` prints a command's usage (engine/cli/cli-kit.ts,
 * the same lines as README's Commands block); numeric options are checked by
 * name, and an engine that cannot be reached is named with the cause.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from '../config/index.js';
import { networkName, RouteHealth, type RouteExplanation } from '../router/index.js';
import { normalizeNumber } from './ingress/normalize-number.js';
import { Keys } from './queue/keys.js';
import { buildRouting } from './routing/load-routing.js';
import { parseMnpCsv, storeMnp } from './routing/mnp.js';
import { startEngine } from './engine.js';
import { log } from './log.js';
import { SwitchyardError } from './errors.js';
import { COMMAND_SUMMARY, COMMAND_USAGE, engineRefusal, fetchEngine, numberOption, overview, wantsHelp } from './cli/cli-kit.js';
import { startHarness } from './loadgen/harness.js';
import { analyticsCommand } from './analytics/analytics-cli.js';
import { keysCommand, tenantsCommand } from './cli/tenants-cli.js';
import { runLoad } from './loadgen/load-generator.js';
import { privateRedisUrl, redactedUrl, startPrivateRedis, type PrivateRedis } from './redis/private-redis.js';
import { connectRedis, redisTargetFromEnv, type RedisClient, type RedisTarget } from './redis/connect-redis.js';
import { Shards } from './queue/shards.js';
import { SmscSimulator } from './simulator/index.js';
import { smppCommand } from './smpp-server/smpp-cli.js';
import { dayOf, formatDay, MAX_USAGE_DAYS, parseDay, readUsage, type UsageReport } from './lifecycle/usage.js';



const MO_TEXTS = ['Hello, is the shop open on Sunday?', 'Can I move my appointment to Friday?', 'Yes', 'Takk!', 'Ваш ответ: да 🙂'];

/**
 * Originates MO messages at `rate` per second from random senders, a share
 * of them STOP; returns a stop function. A failed send is logged, not thrown.
 */
function originateMo(sims: ReadonlyArray<SmscSimulator>, rate: number, to: string, stopShare: number): () => void {
  if (rate <= 0) return () => undefined;
  let owed = 0;
  let n = 0;
  const t = setInterval(() => {
    for (owed += rate / 10; owed >= 1; owed--) {
      const sim = sims[n % sims.length] as SmscSimulator;
      const text = Math.random() < stopShare ? 'STOP' : (MO_TEXTS[n % MO_TEXTS.length] as string);
      n++;
      sim.sendMo({ from: '+4791' + String(100000 + Math.floor(Math.random() * 900000)), to, text }).catch((err: Error) => log('warn', `MO not delivered: ${err.message}`));
    }
  }, 100);
  return () => clearInterval(t);
}

function onSignal(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = () => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      (err: Error) => {
        log('error', `shutdown failed: ${err.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

async function demo(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { duration: { type: 'string', default: '20' }, rate: { type: 'string', default: '2000' }, clients: { type: 'string', default: '2' }, 'mo-rate': { type: 'string', default: '2' } } });
  const durationS = numberOption('duration', values.duration, { min: 1, max: 86_400 });
  const rate = numberOption('rate', values.rate, { min: 1, max: 1_000_000 });
  const clients = numberOption('clients', values.clients, { min: 1, max: 1000 });
  const moRate = numberOption('mo-rate', values['mo-rate'], { min: 0, max: 100_000, integer: false });
  console.log(`Switchyard demo: private Redis, 2 simulated SMSCs, an engine and ${clients} WebSocket clients at ${rate} msg/s for ${durationS} s\n`);
  const target = redisTargetFromEnv();
  const h = await startHarness({
    ...(target === undefined ? {} : { redis: target }),
    redisDir: 'data/demo-redis',
    sim: { receiptDelayMs: { min: 50, max: 1500 }, outcomes: { delivered: 90, undelivered: 6, expired: 3, rejected: 1 } },
    backupRoutes: true,
    analyticsDir: 'data/demo-analytics',
    // The demo tenant owns short code 2222: the simulators' MO messages (some of them STOP) reach it.
    configOverrides: (raw) => {
      ((raw.tenants as Array<Record<string, unknown>>)[0] as Record<string, unknown>).inboundNumbers = ['2222'];
    },
    log,
  });
  const stopMo = originateMo(h.sims, moRate, '2222', 0.2);
  console.log(`engine on ws://127.0.0.1:${h.engine.port}/v1/ws · SMSCs ${h.sims.map((s, i) => `sim-${String.fromCharCode(97 + i)}@127.0.0.1:${s.port}`).join(', ')}`);
  console.log(`live analytics dashboard: http://127.0.0.1:${h.engine.port}/v1/analytics/dashboard#key=${h.apiKey}\n`);
  const res = await runLoad({
    url: h.wsUrl,
    apiKey: h.apiKey,
    clients,
    rate,
    durationMs: durationS * 1000,
    batchSize: 50,
    drainMs: 10_000,
    onTick: (s) => {
      const st = Object.entries(s.statuses).map(([k, v]) => `${k}=${v}`).join(' ');
      const sims = h.sims.map((x, i) => `sim-${String.fromCharCode(97 + i)}:${x.stats.submitsAccepted}`).join(' ');
      const binds = h.engine.actorStats().map((a) => `${a.smsc}:${a.binds.filter((b) => b.up).length}/${a.binds.length}up`).join(' ');
      const an = h.engine.analytics;
      const mo = h.sims.reduce((n, x) => n + x.stats.moAcked, 0);
      console.log(`t=${(s.elapsedMs / 1000).toFixed(0).padStart(3)}s sent=${s.sent} acked=${s.accepted} refused=${s.refused} | ${st} | at SMSCs ${sims} | binds ${binds} | MO in ${mo}${an ? ` | analytics: ${an.inserted} events in ClickHouse` : ''}`);
    },
  });
  stopMo();
  console.log('\nsummary:', JSON.stringify({ sent: res.sent, accepted: res.accepted, refused: res.refused, finals: res.finals, lost: res.lost, statuses: res.statuses, ackP50Ms: +res.ackMs.p50.toFixed(2), ackP99Ms: +res.ackMs.p99.toFixed(2) }));
  await h.stop();
  if (res.lost > 0) {
    console.error(`${res.lost} accepted messages had no final status within the drain time`);
    process.exitCode = 1;
  }
}

/** Where `start` keeps its private Redis (without REDIS_URL). */
const START_REDIS = { dir: 'data/redis', port: 6390 } as const;

/**
 * The Redis of the commands that read or write the engines' state with
 * --config: REDIS_URL, else the config's redis.url, else the private Redis of
 * `switchyard start` run from this directory (its URL, password included,
 * read from its data directory, which only this user can read).
 */
async function start(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' }, port: { type: 'string' }, 'redis-port': { type: 'string' } } });
  if (values.config === undefined) throw new SwitchyardError('CONFIG_INVALID', 'start needs --config FILE');
  const port = numberOption('port', values.port, { min: 0, max: 65_535, optional: true });
  const redisPort = numberOption('redis-port', values['redis-port'], { min: 1, max: 65_535, optional: true }) ?? START_REDIS.port;
  const config = loadConfig(values.config);
  let redis: PrivateRedis | undefined;
  // REDIS_CLUSTER_NODES (a cluster) or REDIS_URL, else the config's redis.url, else a private redis-server.
  let target: RedisTarget | undefined = redisTargetFromEnv() ?? (config.redis.url ? { kind: 'single', url: config.redis.url } : undefined);
  if (target === undefined) {
    redis = await startPrivateRedis({ dir: START_REDIS.dir, port: redisPort });
    target = { kind: 'single', url: redis.url };
    log('info', `started private redis-server at ${redactedUrl(redis.url)} (data in ${START_REDIS.dir}, AOF on, password in ${START_REDIS.dir}/redis.conf)`);
  } else if (target.kind === 'cluster') {
    log('info', `Redis Cluster, seed nodes ${target.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`);
  }
  const starting = startEngine(config, { redis: target, port, log, configFile: values.config });
  // Before the start resolves: a SIGTERM that arrives as the engine comes up (it already listens) waits for it, then stops it cleanly.
  onSignal(async () => {
    await starting.then((e) => e.stop(), () => undefined);
    await redis?.stop();
  });
  let engine;
  try {
    engine = await starting;
  } catch (err) {
    // A start that fails (port in use, a secret missing, another node's id) stops the private Redis it
    // started: left running, it held port 6390 and its data directory until someone killed it.
    await redis?.stop().catch((e: Error) => log('error', `stopping the private redis-server failed: ${e.message}`));
    // Errors about the config (a secret's variable unset, …) name its file.
    if (err instanceof SwitchyardError && err.code === 'CONFIG_INVALID' && !err.message.includes(values.config)) throw new SwitchyardError('CONFIG_INVALID', `${values.config}: ${err.message}`, { cause: err });
    throw err;
  }
  // Paused past its heartbeat and replaced by another process with the same node id: this one stops.
  engine.fleet.onSuperseded(() => process.kill(process.pid, 'SIGTERM'));
}

async function simulate(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string', default: '2775' },
      'system-id': { type: 'string', default: 'switchyard' },
      tps: { type: 'string' },
      window: { type: 'string' },
      'max-binds': { type: 'string' },
      'receipt-delay-ms': { type: 'string', default: '500' },
      count: { type: 'string', default: '1' },
      'mo-rate': { type: 'string', default: '0' },
      'mo-to': { type: 'string', default: '2222' },
      'mo-stop-share': { type: 'string', default: '0.1' },
    },
  });
  const password = process.env.SWITCHYARD_SIM_PASSWORD;
  if (!password) throw new SwitchyardError('CONFIG_INVALID', 'set SWITCHYARD_SIM_PASSWORD to the password binds must present');
  const count = numberOption('count', values.count, { min: 1, max: 100 });
  const basePort = numberOption('port', values.port, { min: 0, max: 65_535 });
  const tps = numberOption('tps', values.tps, { min: 1, max: 1_000_000, optional: true });
  const window = numberOption('window', values.window, { min: 1, max: 100_000, optional: true });
  const maxBinds = numberOption('max-binds', values['max-binds'], { min: 1, max: 1000, optional: true });
  const receiptDelayMs = numberOption('receipt-delay-ms', values['receipt-delay-ms'], { min: 0, max: 86_400_000 });
  const moRate = numberOption('mo-rate', values['mo-rate'], { min: 0, max: 100_000, integer: false });
  const moStopShare = numberOption('mo-stop-share', values['mo-stop-share'], { min: 0, max: 1, integer: false });
  if (basePort !== 0 && basePort + count - 1 > 65_535) throw new SwitchyardError('BAD_REQUEST', `--port ${basePort} with --count ${count} runs past port 65535`);
  const sims: SmscSimulator[] = [];
  for (let i = 0; i < count; i++) {
    // --port 0 (or --count > 1): ephemeral ports, printed below.
    const port = basePort === 0 ? 0 : basePort + i;
    const sim = new SmscSimulator({
      port,
      systemId: values['system-id'] as string,
      password,
      ...(tps === undefined ? {} : { tps }),
      ...(window === undefined ? {} : { window }),
      ...(maxBinds === undefined ? {} : { maxBinds }),
      receiptDelayMs: { min: 0, max: receiptDelayMs },
    });
    await sim.start();
    sims.push(sim);
  }
  log('info', `SMSC simulators listening on 127.0.0.1: {"ports":[${sims.map((s) => s.port).join(',')}]} (system_id ${values['system-id']})`);
  const t = setInterval(() => log('info', JSON.stringify(sims.map((s) => s.stats))), 5000);
  const stopMo = originateMo(sims, moRate, values['mo-to'] as string, moStopShare);
  onSignal(async () => {
    clearInterval(t);
    stopMo();
    for (const s of sims) await s.stop();
  });
}

async function status(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { url: { type: 'string', default: 'http://127.0.0.1:8080' } } });
  type Body = {
    ingress?: { accepted: number; refused: number; connections: number };
    actors?: Array<{ smsc: string; binds: Array<{ up: boolean; inFlight: number }>; submitted: number; receipts: number; throttled: number; rejected: number; buffered: number }>;
    routing?: { smscs: Array<{ smsc: string; up: boolean; queueLag: number; deliveryRate: number | null; circuitOpenUntil: number }> };
  };
  const get = async (): Promise<Body> => {
    const url = `${values.url}/v1/status`;
    const r = await fetchEngine(url, { headers: { authorization: `Bearer ${process.env.SWITCHYARD_ADMIN_KEY ?? ''}` } });
    if (!r.ok) throw new SwitchyardError(r.status === 401 ? 'UNAUTHORIZED' : 'BAD_REQUEST', `${engineRefusal(url, r)}${r.status === 401 ? ' (set SWITCHYARD_ADMIN_KEY to the engine\'s admin key)' : ''}`);
    return r.body as Body;
  };
  // Two readings a second apart give the rates.
  const a = await get();
  await new Promise((ok) => setTimeout(ok, 1000));
  const b = await get();
  const was = new Map((a.actors ?? []).map((x) => [x.smsc, x]));
  const route = new Map((b.routing?.smscs ?? []).map((x) => [x.smsc, x]));
  if (b.ingress) console.log(`ingress: ${b.ingress.connections} connections, accepting ${b.ingress.accepted - (a.ingress?.accepted ?? 0)}/s, refusing ${b.ingress.refused - (a.ingress?.refused ?? 0)}/s`);
  for (const x of b.actors ?? []) {
    const p = was.get(x.smsc);
    const r = route.get(x.smsc);
    const rate = r?.deliveryRate === null || r?.deliveryRate === undefined ? 'n/a' : `${(r.deliveryRate * 100).toFixed(1)} %`;
    console.log(
      `${x.smsc}: binds ${x.binds.map((bd) => (bd.up ? `up(${bd.inFlight})` : 'down')).join(' ')} | queue ${r?.queueLag ?? '?'} | ` +
        `submits ${x.submitted - (p?.submitted ?? 0)}/s receipts ${x.receipts - (p?.receipts ?? 0)}/s throttled ${x.throttled - (p?.throttled ?? 0)}/s | ` +
        `delivery rate ${rate}${r !== undefined && r.circuitOpenUntil > Date.now() ? ' | CIRCUIT OPEN' : ''}${r !== undefined && !r.up ? ' | DOWN for routing' : ''}`,
    );
  }
}

/** Prints an explanation: the network, every candidate with price and eligibility, the choice. */
function printExplanation(x: RouteExplanation, offline: boolean): void {
  console.log(`+${x.e164} → network ${networkName(x.network)} (from the ${x.networkSource})`);
  console.log(`tenant ${x.tenant}, plan ${x.plan ?? '-'}${x.matchedRoute ? `, route "${x.matchedRoute}"` : ''}${offline ? '  [offline: SMSC health unknown, every SMSC taken as up]' : ''}`);
  for (const c of x.candidates) console.log(`  ${c.eligible ? '✓' : '✗'} ${c.smsc.padEnd(12)} ${String(c.price).padStart(8)} ${x.currency ?? ''}${c.reasons.length > 0 ? '  ' + c.reasons.join('; ') : ''}`);
  console.log(x.decision.ok ? `→ ${x.decision.smsc} at ${x.decision.price} ${x.decision.currency} per part` : `→ NO_ROUTE: ${x.decision.reason}`);
}

async function route(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { tenant: { type: 'string' }, config: { type: 'string' }, url: { type: 'string' }, json: { type: 'boolean', default: false } } });
  const [sub, number] = positionals;
  if (sub !== 'explain' || number === undefined) throw new SwitchyardError('BAD_REQUEST', 'usage: switchyard route explain NUMBER [--tenant ID] [--config FILE | --url URL]');
  let x: RouteExplanation;
  if (values.url !== undefined) {
    const q = new URLSearchParams({ to: number, ...(values.tenant === undefined ? {} : { tenant: values.tenant }) });
    const url = `${values.url}/v1/routes/explain?${q}`;
    const r = await fetchEngine(url, { headers: { authorization: `Bearer ${process.env.SWITCHYARD_ADMIN_KEY ?? ''}` } });
    if (!r.ok) throw new SwitchyardError('BAD_REQUEST', engineRefusal(url, r));
    x = r.body as unknown as RouteExplanation;
  } else {
    if (values.config === undefined) throw new SwitchyardError('CONFIG_INVALID', 'give --config FILE (offline) or --url URL (a running engine)');
    const config = loadConfig(values.config);
    const n = normalizeNumber(number);
    if (!n.ok) throw new SwitchyardError('INVALID_NUMBER', n.error);
    const health = new RouteHealth(config.smscs.map((s) => s.id));
    const { router } = buildRouting(config, dirname(resolve(values.config)), health, () => undefined);
    x = router.explain({ e164: n.e164, tenant: values.tenant ?? config.tenants[0]?.id ?? '', country: n.country });
  }
  if (values.json) console.log(JSON.stringify(x, null, 2));
  else printExplanation(x, values.url === undefined);
}

/**
 * The Redis the engines of a config use, for a CLI command: REDIS_CLUSTER_NODES
 * or REDIS_URL (connect-redis.ts), else the config's redis.url.
 */
function cliRedis(config: Config): RedisClient {
  // REDIS_CLUSTER_NODES or REDIS_URL, else the config's redis.url, else the private Redis of `switchyard start` here.
  const url = config.redis.url || privateRedisUrl(START_REDIS.dir, START_REDIS.port);
  const target = redisTargetFromEnv() ?? (url ? { kind: 'single' as const, url } : undefined);
  if (target === undefined) throw new SwitchyardError('CONFIG_INVALID', `set REDIS_URL (or REDIS_CLUSTER_NODES) to the Redis the engines use (no private Redis of \`switchyard start\` in ${START_REDIS.dir} either)`);
  return connectRedis(target, { connectionName: 'sy-cli' });
}

/**
 * The key names of the deployment at the config's prefix, with the shard count
 * its first engine recorded (queue/shard-layout.ts): a report summed over
 * another count would silently miss shards. Undefined when no engine ever ran there.
 */
async function deploymentKeys(redis: RedisClient, config: Config): Promise<Keys | undefined> {
  const prefix = config.redis.keyPrefix;
  const recorded = await redis.hget(new Keys(prefix).control('meta'), 'shards');
  if (recorded === null) return undefined;
  return new Keys(prefix, new Shards(Number(recorded)));
}

async function mnp(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { config: { type: 'string' } } });
  const [sub, file] = positionals;
  if (sub !== 'load' || file === undefined || values.config === undefined) throw new SwitchyardError('BAD_REQUEST', 'usage: switchyard mnp load PORTED.csv --config FILE');
  const config = loadConfig(values.config);
  const rows = parseMnpCsv(readFileSync(file, 'utf8'), file);
  const redis = cliRedis(config);
  try {
    // The table lives in the control slot: its name does not depend on the shard count.
    const keys = new Keys(config.redis.keyPrefix);
    const n = await storeMnp(redis, keys, rows);
    console.log(`loaded ${n} ported numbers into ${keys.control('mnp')}; running engines pick them up within seconds`);
  } finally {
    redis.disconnect();
  }
}

/** Prints a usage report as a table (one line per day with traffic, then the total). */
function formatUsage(r: UsageReport): string {
  const cost = (c: Readonly<Record<string, number>>) => Object.entries(c).map(([cur, v]) => `${v} ${cur}`).join(', ') || '0';
  const lines = [`usage of tenant ${r.tenant}, ${r.from} to ${r.to} (UTC; billed ${r.billOn === 'delivered' ? 'when delivered' : 'when sent'})`, `${'day'.padEnd(12)}${'messages'.padStart(10)}${'segments'.padStart(10)}  cost`];
  for (const d of r.days) lines.push(`${d.day.padEnd(12)}${String(d.messages).padStart(10)}${String(d.segments).padStart(10)}  ${cost(d.cost)}`);
  lines.push(`${'total'.padEnd(12)}${String(r.total.messages).padStart(10)}${String(r.total.segments).padStart(10)}  ${cost(r.total.cost)}`);
  return lines.join('\n');
}

async function usage(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { tenant: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, url: { type: 'string' }, config: { type: 'string' }, json: { type: 'boolean', default: false } } });
  if (values.tenant === undefined) throw new SwitchyardError('BAD_REQUEST', 'usage: switchyard usage --tenant ID [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--url URL | --config FILE]');
  const today = formatDay(dayOf(Date.now()));
  const from = values.from ?? today;
  const to = values.to ?? from;
  let r: UsageReport;
  if (values.url !== undefined) {
    const q = new URLSearchParams({ tenant: values.tenant, from, to });
    const url = `${values.url}/v1/usage?${q}`;
    const res = await fetchEngine(url, { headers: { authorization: `Bearer ${process.env.SWITCHYARD_ADMIN_KEY ?? ''}` } });
    if (!res.ok) throw new SwitchyardError('BAD_REQUEST', engineRefusal(url, res));
    r = res.body as unknown as UsageReport;
  } else {
    if (values.config === undefined) throw new SwitchyardError('CONFIG_INVALID', 'give --url URL (a running engine, SWITCHYARD_ADMIN_KEY) or --config FILE (reads Redis at REDIS_URL)');
    const config = loadConfig(values.config);
    const t = config.tenants.find((x) => x.id === values.tenant);
    if (t === undefined) throw new SwitchyardError('BAD_REQUEST', `no tenant "${values.tenant}" in ${values.config}`);
    const f = parseDay(from);
    const e = parseDay(to);
    if (f === undefined || e === undefined || e < f || e - f + 1 > MAX_USAGE_DAYS) throw new SwitchyardError('BAD_REQUEST', `--from and --to must be days (YYYY-MM-DD), in order, at most ${MAX_USAGE_DAYS} apart`);
    const redis = cliRedis(config);
    try {
      const keys = await deploymentKeys(redis, config);
      if (keys === undefined) throw new SwitchyardError('CONFIG_INVALID', `no Switchyard deployment in this Redis under the key prefix "${config.redis.keyPrefix}" (no engine has started there)`);
      r = await readUsage(redis, keys, t.id, f, e, t.billOn);
    } finally {
      redis.disconnect();
    }
  }
  console.log(values.json ? JSON.stringify(r, null, 2) : formatUsage(r));
}

const [cmd, ...rest] = process.argv.slice(2);
const commands: Record<string, (a: string[]) => Promise<void>> = { demo, start, 'simulate-smsc': simulate, status, route, mnp, analytics: analyticsCommand, usage, tenants: tenantsCommand, keys: keysCommand, smpp: smppCommand };
const fn = cmd === undefined ? undefined : commands[cmd];
if (fn === undefined) {
  const asked = cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help';
  if (asked) console.log(overview());
  else console.error(`switchyard: unknown command ${JSON.stringify(cmd)}\n\n${overview()}`);
  process.exit(asked ? 0 : 2);
}
const usageOf = (c: string) => (COMMAND_USAGE[c] === undefined ? '' : `usage: ${COMMAND_USAGE[c].split('\n').join('\n       ')}`);
if (wantsHelp(rest) && COMMAND_USAGE[cmd as string] !== undefined) {
  console.log(`${usageOf(cmd as string)}\n\n${COMMAND_SUMMARY[cmd as string] ?? ''}`);
  process.exit(0);
}
Promise.resolve().then(() => fn(rest)).catch((err: Error) => {
  // parseArgs refusals (an unknown option, a missing value) come with the command's usage.
  const code: unknown = (err as { code?: unknown }).code;
  const badArgs = typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
  console.error(`switchyard ${cmd}: ${err instanceof SwitchyardError ? `${err.code}: ` : ''}${err.message}${badArgs ? `\n${usageOf(cmd as string)}` : ''}`);
  process.exit(badArgs ? 2 : 1);
});
