#!/usr/bin/env node
/**
 * The one command-line entry point:
 *
 *   switchyard demo [--duration S] [--rate N] [--clients N]   everything on embedded defaults
 *   switchyard start --config FILE [--port N]                  an engine node (REDIS_URL or a private Redis)
 *   switchyard simulate-smsc [--port N] [--tps N] [--window N] an SMSC simulator (password: SWITCHYARD_SIM_PASSWORD)
 *   switchyard status [--url URL]                              actor and bind state of a running engine
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/index.js';
import { startEngine } from './engine.js';
import { SwitchyardError } from './errors.js';
import { startHarness } from './loadgen/harness.js';
import { runLoad } from './loadgen/load-generator.js';
import { startPrivateRedis, type PrivateRedis } from './redis/private-redis.js';
import { SmscSimulator } from './simulator/index.js';

const USAGE = `usage:
  switchyard demo [--duration SECONDS] [--rate MSGS_PER_SEC] [--clients N]
  switchyard start --config FILE [--port N]
  switchyard simulate-smsc [--port N] [--system-id ID] [--tps N] [--window N] [--receipt-delay-ms N]
  switchyard status [--url http://127.0.0.1:8080]
Environment: REDIS_URL (else a private redis-server is started under ./data/redis),
  API keys and SMSC passwords as named in the config, SWITCHYARD_ADMIN_KEY for /v1/status.`;

function log(level: string, msg: string): void {
  process.stderr.write(JSON.stringify({ t: new Date().toISOString(), level, msg }) + '\n');
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
  const { values } = parseArgs({ args, options: { duration: { type: 'string', default: '20' }, rate: { type: 'string', default: '2000' }, clients: { type: 'string', default: '2' } } });
  const durationS = Number(values.duration);
  const rate = Number(values.rate);
  console.log(`Switchyard demo: private Redis, 2 simulated SMSCs, an engine and ${values.clients} WebSocket clients at ${rate} msg/s for ${durationS} s\n`);
  const h = await startHarness({
    redisUrl: process.env.REDIS_URL || undefined,
    redisDir: 'data/demo-redis',
    sim: { receiptDelayMs: { min: 50, max: 1500 }, outcomes: { delivered: 90, undelivered: 6, expired: 3, rejected: 1 } },
    log,
  });
  console.log(`engine on ws://127.0.0.1:${h.engine.port}/v1/ws · SMSCs ${h.sims.map((s, i) => `sim-${String.fromCharCode(97 + i)}@127.0.0.1:${s.port}`).join(', ')}\n`);
  const res = await runLoad({
    url: h.wsUrl,
    apiKey: h.apiKey,
    clients: Number(values.clients),
    rate,
    durationMs: durationS * 1000,
    batchSize: 50,
    drainMs: 10_000,
    onTick: (s) => {
      const st = Object.entries(s.statuses).map(([k, v]) => `${k}=${v}`).join(' ');
      const sims = h.sims.map((x, i) => `sim-${String.fromCharCode(97 + i)}:${x.stats.submitsAccepted}`).join(' ');
      const binds = h.engine.actorStats().map((a) => `${a.smsc}:${a.binds.filter((b) => b.up).length}/${a.binds.length}up`).join(' ');
      console.log(`t=${(s.elapsedMs / 1000).toFixed(0).padStart(3)}s sent=${s.sent} acked=${s.accepted} refused=${s.refused} | ${st} | at SMSCs ${sims} | binds ${binds}`);
    },
  });
  console.log('\nsummary:', JSON.stringify({ sent: res.sent, accepted: res.accepted, refused: res.refused, finals: res.finals, lost: res.lost, statuses: res.statuses, ackP50Ms: +res.ackMs.p50.toFixed(2), ackP99Ms: +res.ackMs.p99.toFixed(2) }));
  await h.stop();
  if (res.lost > 0) {
    console.error(`${res.lost} accepted messages had no final status within the drain time`);
    process.exitCode = 1;
  }
}

async function start(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' }, port: { type: 'string' } } });
  if (values.config === undefined) throw new SwitchyardError('CONFIG_INVALID', 'start needs --config FILE');
  const config = loadConfig(values.config);
  let redis: PrivateRedis | undefined;
  let redisUrl = process.env.REDIS_URL ?? config.redis.url;
  if (redisUrl === undefined || redisUrl === '') {
    redis = await startPrivateRedis({ dir: 'data/redis', port: 6390 });
    redisUrl = redis.url;
    log('info', `started private redis-server at ${redisUrl} (data in data/redis, AOF on)`);
  }
  const engine = await startEngine(config, { redisUrl, port: values.port === undefined ? undefined : Number(values.port), log });
  onSignal(async () => {
    await engine.stop();
    await redis?.stop();
  });
}

async function simulate(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string', default: '2775' },
      'system-id': { type: 'string', default: 'switchyard' },
      tps: { type: 'string' },
      window: { type: 'string' },
      'receipt-delay-ms': { type: 'string', default: '500' },
      count: { type: 'string', default: '1' },
    },
  });
  const password = process.env.SWITCHYARD_SIM_PASSWORD;
  if (!password) throw new SwitchyardError('CONFIG_INVALID', 'set SWITCHYARD_SIM_PASSWORD to the password binds must present');
  const sims: SmscSimulator[] = [];
  for (let i = 0; i < Number(values.count); i++) {
    // --port 0 (or --count > 1): ephemeral ports, printed below.
    const port = Number(values.port) === 0 ? 0 : Number(values.port) + i;
    const sim = new SmscSimulator({
      port,
      systemId: values['system-id'] as string,
      password,
      ...(values.tps === undefined ? {} : { tps: Number(values.tps) }),
      ...(values.window === undefined ? {} : { window: Number(values.window) }),
      receiptDelayMs: { min: 0, max: Number(values['receipt-delay-ms']) },
    });
    await sim.start();
    sims.push(sim);
  }
  log('info', `SMSC simulators listening on 127.0.0.1: {"ports":[${sims.map((s) => s.port).join(',')}]} (system_id ${values['system-id']})`);
  const t = setInterval(() => log('info', JSON.stringify(sims.map((s) => s.stats))), 5000);
  onSignal(async () => {
    clearInterval(t);
    for (const s of sims) await s.stop();
  });
}

async function status(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { url: { type: 'string', default: 'http://127.0.0.1:8080' } } });
  const res = await fetch(`${values.url}/v1/status`, { headers: { authorization: `Bearer ${process.env.SWITCHYARD_ADMIN_KEY ?? ''}` } });
  const body = (await res.json()) as { actors?: Array<{ smsc: string; binds: Array<{ up: boolean; inFlight: number }>; submitted: number; receipts: number; throttled: number; buffered: number }> };
  if (!res.ok) throw new SwitchyardError('UNAUTHORIZED', `status: HTTP ${res.status}: ${JSON.stringify(body)}`);
  for (const a of body.actors ?? []) {
    console.log(`${a.smsc}: binds ${a.binds.map((b) => (b.up ? `up(${b.inFlight})` : 'down')).join(' ')} submitted=${a.submitted} receipts=${a.receipts} throttled=${a.throttled} buffered=${a.buffered}`);
  }
}

const [cmd, ...rest] = process.argv.slice(2);
const commands: Record<string, (a: string[]) => Promise<void>> = { demo, start, 'simulate-smsc': simulate, status };
const fn = cmd === undefined ? undefined : commands[cmd];
if (fn === undefined) {
  console.error(USAGE);
  process.exit(cmd === undefined || cmd === '--help' ? 0 : 2);
}
fn(rest).catch((err: Error) => {
  console.error(`switchyard ${cmd}: ${err instanceof SwitchyardError ? `${err.code}: ` : ''}${err.message}`);
  process.exit(1);
});
