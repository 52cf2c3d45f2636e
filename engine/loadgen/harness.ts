/**
 * A whole Switchyard on one machine: a private Redis (unless a URL or a
 * cluster is given),
 * N simulated SMSCs on loopback, and an engine routing to them. Serves the
 * demo, the end-to-end benchmark and the integration tests, so all three run
 * the same wiring.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type Config } from '../../config/index.js';
import { startEngine, type Engine } from '../engine.js';
import { startPrivateRedis, type PrivateRedis } from '../redis/private-redis.js';
import type { RedisTarget } from '../redis/connect-redis.js';
import type { ReceiptIdMatch } from '../actors/receipt.js';
import { SIMULATOR_DEFAULTS, SmscSimulator, type SmscSimulatorOptions } from '../simulator/index.js';

export interface HarnessOptions {
  readonly redisUrl?: string;
  /** A Redis Cluster (or a single Redis) to use instead of redisUrl. */
  readonly redis?: RedisTarget;
  readonly redisDir?: string;
  readonly keyPrefix?: string;
  readonly smscs?: number;
  readonly binds?: number;
  readonly window?: number;
  readonly tps?: number;
  /** redis.shards (default 16). */
  readonly shards?: number;
  readonly tenantTps?: number;
  readonly tenantWindow?: number;
  readonly sim?: Partial<SmscSimulatorOptions>;
  /** Per-SMSC simulator overrides, by index. */
  readonly simBySmsc?: ReadonlyArray<Partial<SmscSimulatorOptions>>;
  readonly configOverrides?: (raw: Record<string, unknown>) => void;
  /** Route plans with a backup SMSC per network (failover); default one SMSC per network. */
  readonly backupRoutes?: boolean;
  /** Run the analytics sink (chdb) in this data directory; default off. */
  readonly analyticsDir?: string;
  /** Write the config to a file and start the engine from it (routing reloads re-read it). */
  readonly configFile?: boolean;
  /** Extra environment for the engine (secrets named by configOverrides). */
  readonly env?: Readonly<Record<string, string>>;
  readonly log?: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

export interface Harness {
  readonly engine: Engine;
  readonly sims: SmscSimulator[];
  /** The single Redis's URL ('' on a cluster: use `target`). */
  readonly redisUrl: string;
  /** The Redis the engine uses. */
  readonly target: RedisTarget;
  readonly redis: PrivateRedis | undefined;
  readonly apiKey: string;
  readonly tenant: string;
  readonly config: Config;
  /** Where the config was written (configFile: true). */
  readonly configFile: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  readonly wsUrl: string;
  /** Restarts the engine process-internally (same config, same Redis); `whileStopped` runs between stop and start. */
  restartEngine(whileStopped?: () => Promise<void>): Promise<Engine>;
  stop(): Promise<void>;
}

export const SIM_SYSTEM_ID = 'switchyard';

/**
 * The route plan of the demo, tests and benchmarks: countries spread over the
 * SMSCs by MCC (242 Norway, 262 Germany, 208 France), "*" for the rest; with
 * `backup`, each network also gets a dearer second SMSC to fail over to.
 */
export function demoRoutePlan(n: number, smsc: (i: number) => string, backup = false): { id: string; currency: string; routes: Array<{ network: string; candidates: Array<{ smsc: string; price: number }> }> } {
  const withBackup = (i: number, price: number) => {
    const a = Math.min(i, n - 1);
    const b = (a + 1) % n;
    return [{ smsc: smsc(a), price }, ...(backup && b !== a ? [{ smsc: smsc(b), price: +(price * 1.25).toFixed(4) }] : [])];
  };
  return {
    id: 'standard',
    currency: 'EUR',
    routes: [
      { network: '242', candidates: withBackup(0, 0.032) },
      { network: '262', candidates: withBackup(1, 0.045) },
      { network: '208', candidates: withBackup(2, 0.038) },
      // The UK to the fourth SMSC when there are four, so that every SMSC of the benchmark carries traffic.
      { network: '234', candidates: withBackup(n > 3 ? 3 : 0, 0.041) },
      { network: '*', candidates: withBackup(0, 0.06) },
    ],
  };
}

/** The SMSC config that matches how a simulator writes its ids (as an operator would configure it). */
function receiptIdMatchOf(sim: Partial<SmscSimulatorOptions>): ReceiptIdMatch {
  const resp = sim.messageIdFormat ?? SIMULATOR_DEFAULTS.messageIdFormat;
  const receipt = sim.receiptIdFormat ?? SIMULATOR_DEFAULTS.receiptIdFormat;
  if (receipt === 'same' || receipt === resp || resp === 'uuid') return 'exact';
  return resp === 'hex' ? 'hex-resp-dec-receipt' : 'dec-resp-hex-receipt';
}

export async function startHarness(o: HarnessOptions = {}): Promise<Harness> {
  let redis: PrivateRedis | undefined;
  let redisUrl = o.redis?.kind === 'single' ? o.redis.url : o.redisUrl;
  if (redisUrl === undefined && o.redis === undefined) {
    const dir = o.redisDir ?? 'data/harness-redis';
    rmSync(dir, { recursive: true, force: true });
    redis = await startPrivateRedis({ dir });
    redisUrl = redis.url;
  }
  const apiKey = randomBytes(18).toString('base64url');
  const simPassword = randomBytes(6).toString('hex'); // SMPP passwords are at most 8 chars
  const env: NodeJS.ProcessEnv = { ...process.env, ...o.env, SY_HARNESS_KEY: apiKey, SY_HARNESS_SIM_PW: simPassword };
  const n = o.smscs ?? 2;
  const sims: SmscSimulator[] = [];
  for (let i = 0; i < n; i++) {
    const sim = new SmscSimulator({ systemId: SIM_SYSTEM_ID, password: simPassword, ...o.sim, ...o.simBySmsc?.[i] });
    await sim.start();
    sims.push(sim);
  }
  const raw: Record<string, unknown> = {
    server: { host: '127.0.0.1', port: 0 },
    redis: { keyPrefix: o.keyPrefix ?? `sy:${randomBytes(4).toString('hex')}:`, ...(o.shards === undefined ? {} : { shards: o.shards }) },
    engine: { nodeId: 'harness', restartBackoffMs: { min: 50, max: 2000 } },
    tenants: [{ id: 'acme', apiKey: { env: 'SY_HARNESS_KEY' }, tps: o.tenantTps ?? 50_000, window: o.tenantWindow ?? 20_000 }],
    smscs: sims.map((s, i) => ({
      id: `sim-${String.fromCharCode(97 + i)}`,
      port: s.port,
      systemId: SIM_SYSTEM_ID,
      password: { env: 'SY_HARNESS_SIM_PW' },
      binds: o.binds ?? 2,
      window: o.window ?? 100,
      tps: o.tps ?? 10_000,
      reconnectMs: { min: 50, max: 1000 },
      responseTimeoutMs: 5000,
      receiptIdMatch: receiptIdMatchOf({ ...o.sim, ...o.simBySmsc?.[i] }),
    })),
    routing: { plans: [demoRoutePlan(n, (i) => `sim-${String.fromCharCode(97 + i)}`, o.backupRoutes)] },
    analytics: o.analyticsDir === undefined ? { enabled: false } : { enabled: true, dataDir: o.analyticsDir, flushMs: 200 },
  };
  o.configOverrides?.(raw);
  const config = parseConfig(raw, 'harness');
  const target: RedisTarget = o.redis ?? { kind: 'single', url: redisUrl as string };
  let configFile: string | undefined;
  if (o.configFile === true) {
    configFile = join(mkdtempSync(join(tmpdir(), 'sy-harness-')), 'config.json');
    writeFileSync(configFile, JSON.stringify(raw, null, 2));
  }
  const start = () => startEngine(config, { redis: target, env, log: o.log ?? (() => undefined), ...(configFile === undefined ? {} : { configFile }) });
  let engine = await start();
  const h = {
    get engine() {
      return engine;
    },
    sims,
    redisUrl: redisUrl ?? '',
    target,
    redis,
    apiKey,
    tenant: 'acme',
    config,
    configFile,
    env,
    get wsUrl() {
      return `ws://127.0.0.1:${engine.port}/v1/ws`;
    },
    async restartEngine(whileStopped?: () => Promise<void>) {
      await engine.stop();
      await whileStopped?.();
      engine = await start();
      return engine;
    },
    async stop() {
      await engine.stop();
      for (const s of sims) await s.stop();
      await redis?.stop();
    },
  };
  return h;
}
