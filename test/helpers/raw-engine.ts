/**
 * An engine (in this process, on the shared test Redis) whose SMSCs are the
 * raw test SMSCs of raw-smsc.ts, one route per network, and the tenant's
 * messages by HTTP and WebSocket. Also the config as JSON, for a test that
 * runs the engine as a child process (writeConfig).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../config/index.js';
import { startEngine, type Engine } from '../../engine/engine.js';
import { api } from './http.js';
import { waitFor } from './wait-for.js';

export interface RawEngineOptions {
  readonly redisUrl: string;
  /** Ports of the SMSCs; each entry may add SMSC config keys. Routes: '242' (NO) → the first, '262' (DE) → the second, '208' → third, '234' → fourth, '*' → the first. */
  readonly smscs: ReadonlyArray<{ readonly port: number; readonly extra?: Record<string, unknown> }>;
  readonly configOverrides?: (raw: Record<string, unknown>) => void;
  readonly log?: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

export const SMSC_IDS = ['smsc-a', 'smsc-b', 'smsc-c', 'smsc-d'];
const NETWORKS = ['242', '262', '208', '234'];

export function rawEngineConfig(o: Pick<RawEngineOptions, 'smscs' | 'configOverrides'>, prefix = `raw:${randomBytes(4).toString('hex')}:`): Record<string, unknown> {
  const raw: Record<string, unknown> = {
    server: { host: '127.0.0.1', port: 0 },
    redis: { keyPrefix: prefix },
    engine: { nodeId: 'raw', restartBackoffMs: { min: 50, max: 1000 } },
    analytics: { enabled: false },
    tenants: [{ id: 'acme', apiKey: { env: 'SY_RAW_KEY' }, tps: 100_000, window: 50_000 }],
    smscs: o.smscs.map((s, i) => ({
      id: SMSC_IDS[i], port: s.port, systemId: 'switchyard', password: { env: 'SY_RAW_PW' }, binds: 1, window: 50,
      reconnectMs: { min: 50, max: 500 }, responseTimeoutMs: 5000, ...s.extra,
    })),
    routing: {
      plans: [{ id: 'p', routes: [
        ...o.smscs.map((_, i) => ({ network: NETWORKS[i] as string, candidates: [{ smsc: SMSC_IDS[i] as string, price: 0.05 }] })),
        { network: '*', candidates: [{ smsc: 'smsc-a', price: 0.05 }] },
      ] }],
    },
  };
  o.configOverrides?.(raw);
  return raw;
}

export interface RawEngine {
  readonly engine: Engine;
  readonly apiKey: string;
  readonly env: NodeJS.ProcessEnv;
  readonly wsUrl: string;
  readonly port: number;
  restart(): Promise<void>;
  stop(): Promise<void>;
  /** Waits until every SMSC's binds are up and routing takes it (the engine takes traffic before, but a test wants known ground). */
  bound(timeoutMs?: number): Promise<void>;
  /** GET /v1/messages/ID of each id (status and error), in chunks. */
  statuses(ids: ReadonlyArray<string>): Promise<Map<string, string>>;
}

export const rawEngineEnv = (): NodeJS.ProcessEnv => ({ ...process.env, SY_RAW_KEY: randomBytes(16).toString('hex'), SY_RAW_PW: 'pw', SWITCHYARD_ADMIN_KEY: randomBytes(16).toString('hex') });

export async function startRawEngine(o: RawEngineOptions): Promise<RawEngine> {
  const env = rawEngineEnv();
  const config = parseConfig(rawEngineConfig(o), 'raw-engine');
  const start = () => startEngine(config, { redisUrl: o.redisUrl, env, log: o.log ?? (() => undefined) });
  let engine = await start();
  return {
    get engine() {
      return engine;
    },
    apiKey: env.SY_RAW_KEY as string,
    env,
    get wsUrl() {
      return `ws://127.0.0.1:${engine.port}/v1/ws`;
    },
    get port() {
      return engine.port;
    },
    async restart() {
      await engine.stop();
      engine = await start();
    },
    async stop() {
      await engine.stop();
    },
    statuses: (ids) => messageStatuses(() => engine.port, env.SY_RAW_KEY as string, ids),
    async bound(timeoutMs = 20_000) {
      await waitFor(() => {
        const stats = engine.supervisor.stats();
        return stats.length === o.smscs.length && stats.every((st) => st.binds.every((b) => b.up)) && engine.routing.health.up.every((u) => u === 1);
      }, timeoutMs, 'every bind up');
    },
  };
}

export async function messageStatuses(port: () => number, key: string, ids: ReadonlyArray<string>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (let i = 0; i < ids.length; i += 50) {
    const chunk = ids.slice(i, i + 50);
    const res = await Promise.all(chunk.map((id) => api(port(), key, 'GET', `/v1/messages/${id}`)));
    chunk.forEach((id, k) => out.set(id, String(res[k]?.body.status)));
  }
  return out;
}

export function writeConfig(raw: Record<string, unknown>): string {
  const file = join(mkdtempSync(join(tmpdir(), 'sy-raw-')), 'config.json');
  writeFileSync(file, JSON.stringify(raw, null, 2));
  return file;
}
