/**
 * A fleet of engine nodes for the multi-node tests (issue 14): N engine child
 * processes (dist/engine/cli.js start), each with its own node id and port
 * (port 0), on the test run's single Redis or its Redis Cluster, sharing a key
 * prefix and simulated SMSCs run in this process, so that everything is
 * counted at the SMSCs: binds over the account's cap (maxBinds = the
 * configured binds: refused 0x0D), throttles (the simulator's TPS limit =
 * the configured tps), and every submit captured (duplicates by text).
 *
 * Nodes can be killed (SIGKILL), paused (SIGSTOP) and resumed (SIGCONT). Each
 * node's stderr is kept (the last lines) for a failing test to print.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { inject } from 'vitest';
import { SmscSimulator } from '../../engine/simulator/index.js';
import type { SmscSimulatorOptions } from '../../engine/simulator/smsc-simulator.js';
import { connectRedis, type RedisClient } from '../../engine/redis/connect-redis.js';
import { clusterTarget } from './redis-cluster.js';
import { dropPrefix } from './redis-targets.js';
import { connectClient, type Frame, type TestClient } from './ws-client.js';
import { messageStatuses } from './raw-engine.js';

export interface FleetHarnessOptions {
  readonly nodes: number;
  readonly redis: 'single' | 'cluster';
  /** Per SMSC: the account's binds (also the simulator's bind cap), window and tps (also its TPS limit). */
  readonly smscs: ReadonlyArray<{ readonly binds: number; readonly window: number; readonly tps: number }>;
  /** fleet.* of every node. */
  readonly fleet: Record<string, number>;
  readonly sim?: Partial<SmscSimulatorOptions>;
}

export interface FleetNodeProcess {
  readonly id: string;
  child: ChildProcess;
  port: number;
  readonly log: string[];
  exited: boolean;
}

export const FINAL = new Set(['delivered', 'undelivered', 'rejected', 'expired', 'unknown', 'stopped']);

export class FleetHarness {
  readonly sims: SmscSimulator[] = [];
  readonly nodes: FleetNodeProcess[] = [];
  readonly prefix = `fleeth:${randomBytes(3).toString('hex')}:`;
  readonly apiKey = randomBytes(12).toString('hex');
  readonly adminKey = randomBytes(12).toString('hex');
  private readonly pw = 'pw' + randomBytes(3).toString('hex');
  private readonly clients: TestClient[] = [];
  private configFiles: string[] = [];
  /** A client of the harness's Redis (reading the fleet's keys). */
  readonly redis: RedisClient;

  constructor(private readonly o: FleetHarnessOptions) {
    this.redis = connectRedis(o.redis === 'single' ? { kind: 'single', url: inject('redisUrl') } : clusterTarget(), { connectionName: 'fleet-harness' });
  }

  async start(): Promise<void> {
    for (const s of this.o.smscs) {
      const sim = new SmscSimulator({ systemId: 'switchyard', password: this.pw, capture: true, maxBinds: s.binds, tps: s.tps, window: s.window, responseLatencyMs: { min: 1, max: 5 }, receiptDelayMs: { min: 20, max: 200 }, ...this.o.sim });
      await sim.start();
      this.sims.push(sim);
    }
    const dir = mkdtempSync(join(tmpdir(), 'sy-fleet-'));
    for (let i = 0; i < this.o.nodes; i++) {
      const file = join(dir, `n${i}.json`);
      writeFileSync(file, JSON.stringify({
        redis: { keyPrefix: this.prefix, shards: 4 },
        engine: { nodeId: `n${i}`, restartBackoffMs: { min: 50, max: 1000 } },
        fleet: this.o.fleet,
        analytics: { enabled: false },
        tenants: [{ id: 'acme', apiKey: { env: 'SY_FLEET_KEY' }, tps: 100_000, window: 50_000 }],
        smscs: this.sims.map((s, k) => ({
          id: `s${k}`, port: s.port, systemId: 'switchyard', password: { env: 'SY_FLEET_PW' }, binds: this.o.smscs[k]?.binds, window: this.o.smscs[k]?.window, tps: this.o.smscs[k]?.tps,
          reconnectMs: { min: 100, max: 1000 }, responseTimeoutMs: 5000,
        })),
        routing: { plans: [{ id: 'p', routes: [{ network: '*', candidates: [{ smsc: 's0', price: 0.05 }] }, ...this.sims.slice(1).map((_, k) => ({ network: ['262', '208', '234'][k] as string, candidates: [{ smsc: `s${k + 1}`, price: 0.05 }] }))] }] },
      }));
      this.configFiles.push(file);
    }
    // One after another: each node's start is what the others rebalance to.
    for (let i = 0; i < this.o.nodes; i++) await this.startNode(i);
  }

  private env(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, SY_FLEET_KEY: this.apiKey, SY_FLEET_PW: this.pw, SWITCHYARD_ADMIN_KEY: this.adminKey };
    delete env.REDIS_URL;
    delete env.REDIS_CLUSTER_NODES;
    if (this.o.redis === 'single') env.REDIS_URL = inject('redisUrl');
    else {
      const c = inject('redisCluster');
      env.REDIS_CLUSTER_NODES = c.seeds;
      if (c.password !== undefined) env.REDIS_PASSWORD = c.password;
    }
    return env;
  }

  /** Starts node i (again, after a kill: same node id, new boot). */
  async startNode(i: number): Promise<FleetNodeProcess> {
    const child = spawn(process.execPath, ['dist/engine/cli.js', 'start', '--config', this.configFiles[i] as string, '--port', '0'], { env: this.env(), stdio: ['ignore', 'ignore', 'pipe'] });
    const node: FleetNodeProcess = this.nodes[i] ?? { id: `n${i}`, child, port: 0, log: [], exited: false };
    node.child = child;
    node.exited = false;
    this.nodes[i] = node;
    child.once('exit', () => (node.exited = true));
    node.port = await new Promise<number>((ok, fail) => {
      const t = setTimeout(() => fail(new Error(`node n${i} did not start:\n${node.log.slice(-20).join('\n')}`)), 60_000);
      createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
        node.log.push(line);
        if (node.log.length > 400) node.log.splice(0, 100);
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
        if (m) {
          clearTimeout(t);
          ok(Number(m[1]));
        }
      });
      child.once('exit', (code) => {
        clearTimeout(t);
        fail(new Error(`node n${i} exited with ${code}:\n${node.log.slice(-20).join('\n')}`));
      });
    });
    return node;
  }

  async kill(i: number): Promise<void> {
    const n = this.nodes[i] as FleetNodeProcess;
    if (n.exited) return;
    const gone = new Promise((ok) => n.child.once('exit', ok));
    n.child.kill('SIGKILL');
    await gone;
  }

  signal(i: number, sig: 'SIGSTOP' | 'SIGCONT'): void {
    (this.nodes[i] as FleetNodeProcess).child.kill(sig);
  }

  /** The bind-slot leases as Redis holds them: "smsc#i" -> holder node id (expired ones left out). */
  async leases(): Promise<Map<string, string>> {
    const [sec, us] = await this.redis.time();
    const now = Number(sec) * 1000 + Math.floor(Number(us) / 1000);
    const all = await this.redis.hgetall(`${this.prefix}{c}:leases`);
    const out = new Map<string, string>();
    for (const [slot, rec] of Object.entries(all)) {
      const f = rec.split('|');
      if (Number(f[3]) > now) out.set(slot, f[0] as string);
    }
    return out;
  }

  /** Sessions bound at every simulator together. */
  get boundSessions(): number {
    return this.sims.reduce((n, s) => n + s.boundSessions, 0);
  }

  get totalBinds(): number {
    return this.o.smscs.reduce((n, s) => n + s.binds, 0);
  }

  /** /v1/status of a node (admin): its actors' stats. */
  async status(i: number): Promise<{ actors: Array<{ smsc: string; submitted: number; binds: Array<{ up: boolean }> }> }> {
    const res = await fetch(`http://127.0.0.1:${(this.nodes[i] as FleetNodeProcess).port}/v1/status`, { headers: { authorization: `Bearer ${this.adminKey}` } });
    return (await res.json()) as { actors: Array<{ smsc: string; submitted: number; binds: Array<{ up: boolean }> }> };
  }

  async client(i: number): Promise<TestClient> {
    const c = await connectClient(`ws://127.0.0.1:${(this.nodes[i] as FleetNodeProcess).port}/v1/ws`, this.apiKey);
    this.clients.push(c);
    return c;
  }

  /** Sends `count` messages in batches of 100 with texts `${tag}<n>`, alternately to every SMSC's network. */
  static submit(c: TestClient, tag: string, count: number): void {
    const nets = ['+4791234567', '+4915112345678', '+33612345678', '+447700900123'];
    for (let b = 0; b < count; b += 100) {
      const n = Math.min(100, count - b);
      c.send({ op: 'batch', ref: `${tag}b${b}`, items: Array.from({ length: n }, (_, k) => ({ ref: `${tag}${b + k}`, to: nets[(b + k) % 2] as string, from: 'Acme', text: `${tag}${b + k}` })) });
    }
  }

  /** Acked ids (id -> ref) and nacks of a client's frames so far. */
  static acks(c: TestClient): { acked: Map<string, string>; nacked: Frame[] } {
    const acked = new Map<string, string>();
    const nacked: Frame[] = [];
    for (const f of c.frames) {
      if (f.op !== 'batch_ack') continue;
      for (const r of f.results as Frame[]) {
        if (r.op === 'ack') acked.set(r.id as string, r.ref as string);
        else nacked.push(r);
      }
    }
    return { acked, nacked };
  }

  /** GET /v1/messages/ID of each id, through node i. */
  statuses(i: number, ids: ReadonlyArray<string>): Promise<Map<string, string>> {
    return messageStatuses(() => (this.nodes[i] as FleetNodeProcess).port, this.apiKey, ids);
  }

  /** Texts accepted at the simulators more than once, with their counts. */
  duplicates(): Map<string, number> {
    const seen = new Map<string, number>();
    for (const s of this.sims) for (const x of s.captured) {
      const t = x.shortMessage.toString('latin1');
      seen.set(t, (seen.get(t) ?? 0) + 1);
    }
    return new Map([...seen].filter(([, n]) => n > 1));
  }

  logs(): string {
    return this.nodes.map((n) => `--- ${n.id}\n${n.log.slice(-40).join('\n')}`).join('\n');
  }

  async stop(): Promise<void> {
    for (const c of this.clients) await c.close();
    await Promise.all(this.nodes.map(async (n) => {
      if (n.exited) return;
      n.child.kill('SIGCONT');
      const gone = new Promise((ok) => n.child.once('exit', ok));
      n.child.kill('SIGTERM');
      const t = setTimeout(() => n.child.kill('SIGKILL'), 15_000);
      await gone;
      clearTimeout(t);
    }));
    for (const s of this.sims) await s.stop();
    await dropPrefix(this.redis, this.prefix);
    this.redis.disconnect();
  }
}
