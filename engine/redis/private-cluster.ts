/**
 * A real local Redis Cluster for the tests and scripts (issue 13): Debian's
 * redis-server with `cluster-enabled yes`, M masters (default 3) and R
 * replicas each (default 1; 0 by option), joined by `redis-cli --cluster
 * create`. Everything a single private Redis has (private-redis.ts) it has
 * too: 127.0.0.1 only, its own data directory per node under `dir` (0700), a
 * generated password (requirepass + masterauth in each node's 0600 redis.conf,
 * handed to redis-cli through REDISCLI_AUTH: never on a command line), AOF on.
 *
 *   dir/                      0700, wiped at start (only if it holds our marker file)
 *     .switchyard-cluster     the marker
 *     pids                    "pid port" per node: a run that was SIGKILLed leaves its
 *                             nodes running; the next start kills them first
 *     node-0/ … node-5/       0700: redis.conf (0600), nodes.conf, appendonlydir/
 *
 * Ports: two free ports per node (client and cluster bus, `cluster-port`), so
 * no port+10000 arithmetic can fall outside the range or onto a busy port.
 *
 * Every step waits for a condition, never for a fixed time: servers answer
 * PING; the cluster is healthy when every live node says cluster_state:ok with
 * all 16384 slots ok, knows every node, flags no live node pfail/fail, all
 * live nodes agree on who is master of which slots and replica of whom, and
 * every replica's link is up with no sync in progress (with all nodes up:
 * each master has its R replicas). killMaster waits for a replica's promotion
 * and the cluster healthy again; restartNode waits until the node has rejoined
 * (a killed master comes back as a replica of the one that replaced it) and
 * has written its AOF from the synced data.
 *
 * How long a start takes is in bench/RESULTS.md ("Local Redis Cluster").
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import {
  AOF_SETTINGS, configPath, freePorts, generatePassword, pollUntil, privateDir, probeConnection, reniceForks, spawnRedisServer, waitForServer, writeServerConfig,
} from './redis-server-kit.js';

export interface ClusterNodeAddress {
  readonly host: string;
  readonly port: number;
}

export interface ClusterNodeView {
  readonly port: number;
  readonly role: 'master' | 'replica';
  /** For a replica: its master's port. */
  readonly masterPort: number | undefined;
  /** Slots a master serves. */
  readonly slots: number;
}

export interface PrivateCluster {
  /** Every node (the seed list a client starts from). */
  readonly nodes: ReadonlyArray<ClusterNodeAddress>;
  /** The same as `host:port,...`: the REDIS_CLUSTER_NODES value. */
  readonly seeds: string;
  readonly password: string;
  readonly dir: string;
  readonly masters: number;
  readonly replicas: number;
  /** Roles and slots of the live nodes, as a live node sees them. */
  topology(): Promise<ClusterNodeView[]>;
  /** Waits until the cluster is healthy (see the module header). */
  waitHealthy(): Promise<void>;
  /**
   * SIGKILLs a master (default: the one serving slot 0) and, with replicas,
   * waits until one of its replicas serves its slots and the cluster is
   * healthy again. Without replicas its slots stay down until restartNode.
   */
  killMaster(port?: number): Promise<{ killed: number; promoted: number | undefined }>;
  /** Starts a stopped or killed node again (same port, data, identity) and waits until it has rejoined. */
  restartNode(port: number): Promise<void>;
  /** Stops every node (SIGTERM: AOF flushed) and waits for them to exit. */
  stop(): Promise<void>;
}

export interface PrivateClusterOptions {
  /** Data directory (e.g. data/test-cluster): wiped at start, if it is one this module made. */
  readonly dir: string;
  /** Masters (default 3). */
  readonly masters?: number;
  /** Replicas per master (default 1; 0: none, and no failover). */
  readonly replicas?: number;
  /**
   * cluster-node-timeout in ms (default 3000): how long a master may not answer
   * before it is failed over. Tests want a fast failover; too short on a loaded
   * machine and a busy node is failed over while alive.
   */
  readonly nodeTimeoutMs?: number;
  /** Password (default: a generated one). */
  readonly password?: string;
  /** Limit of each wait (default 60 s: the machine may be loaded). */
  readonly waitMs?: number;
}

const MARKER = '.switchyard-cluster';
const SLOTS = 16384;

interface Node {
  readonly index: number;
  readonly port: number;
  readonly busPort: number;
  readonly dir: string;
  child: ChildProcess | undefined;
  stopRenice: (() => void) | undefined;
  admin: Redis | undefined;
}

interface NodesLine {
  readonly id: string;
  readonly port: number;
  readonly flags: ReadonlySet<string>;
  readonly masterId: string;
  readonly slots: number;
  readonly linkState: string;
}

/** CLUSTER NODES lines: `id ip:port@cport flags master-id ping pong epoch link slot...`. */
function parseNodes(text: string): NodesLine[] {
  const out: NodesLine[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(' ');
    if (f.length < 8) continue;
    const port = Number(/:(\d+)@/.exec(f[1] as string)?.[1] ?? 0);
    let slots = 0;
    for (const r of f.slice(8)) {
      if (r.startsWith('[')) continue; // a slot being migrated or imported
      const [a, b] = r.split('-').map(Number);
      slots += b === undefined ? 1 : (b as number) - (a as number) + 1;
    }
    out.push({ id: f[0] as string, port, flags: new Set((f[2] as string).split(',')), masterId: f[3] as string, slots, linkState: f[7] as string });
  }
  return out;
}

function infoField(info: string, name: string): string | undefined {
  return new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

/** Kills the nodes a previous run left behind (recorded in dir/pids), if they are still redis-servers on those ports. */
async function killOrphans(dir: string): Promise<void> {
  const file = join(dir, 'pids');
  if (!existsSync(file)) return;
  const pids: number[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [pid, port] = line.trim().split(' ').map(Number);
    if (!pid || !port) continue;
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue; // gone
    }
    // redis-server sets its title to "redis-server 127.0.0.1:PORT [cluster]"
    if (!cmd.startsWith('redis-server') || !cmd.includes(`:${port}`)) continue;
    try {
      process.kill(pid, 'SIGKILL');
      pids.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  await pollUntil(async () => (pids.every((p) => !existsSync(`/proc/${p}`)) ? true : 'orphan nodes still running'), 10_000, 'the nodes a killed run left behind to exit');
}

/**
 * Removes the clusters of runs that are gone: directories `<parent>/<prefix><pid>`
 * whose pid is no longer a live process (a SIGKILLed test run) have their
 * nodes killed and are deleted. Runs still alive keep theirs, so two runs in
 * one checkout do not stop each other's cluster.
 */
export async function removeDeadClusters(parent: string, prefix: string): Promise<void> {
  if (!existsSync(parent)) return;
  for (const name of readdirSync(parent)) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length));
    if (!Number.isInteger(pid) || pid <= 0 || existsSync(`/proc/${pid}`)) continue;
    const dir = join(parent, name);
    if (!existsSync(join(dir, MARKER))) continue;
    await killOrphans(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startPrivateCluster(o: PrivateClusterOptions): Promise<PrivateCluster> {
  // A free port can be taken by another process between choosing it and the node binding it
  // (other test runs share the machine): the node exits, and the start is tried again on new ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(o);
    } catch (err) {
      if (attempt >= 3 || !/exited with code/.test((err as Error).message)) throw err;
    }
  }
}

async function startOnce(o: PrivateClusterOptions): Promise<PrivateCluster> {
  const dir = resolve(o.dir);
  const masters = o.masters ?? 3;
  const replicas = o.replicas ?? 1;
  const nodeTimeoutMs = o.nodeTimeoutMs ?? 3000;
  const password = o.password ?? generatePassword();
  const waitMs = o.waitMs ?? 60_000;
  if (masters < 3) throw new Error(`a Redis Cluster needs at least 3 masters (asked for ${masters})`);

  await killOrphans(dir);
  if (existsSync(dir) && readdirSync(dir).length > 0 && !existsSync(join(dir, MARKER))) {
    throw new Error(`${dir} is not empty and is not a private cluster's directory (no ${MARKER}): refusing to wipe it`);
  }
  rmSync(dir, { recursive: true, force: true });
  privateDir(dir);
  writeFileSync(join(dir, MARKER), 'a private Redis Cluster started by engine/redis/private-cluster.ts; wiped on the next start\n');

  const total = masters * (1 + replicas);
  const ports = await freePorts(total * 2);
  const nodes: Node[] = Array.from({ length: total }, (_, i) => ({
    index: i, port: ports[i] as number, busPort: ports[total + i] as number, dir: join(dir, `node-${i}`), child: undefined, stopRenice: undefined, admin: undefined,
  }));
  const recordPids = () => writeFileSync(join(dir, 'pids'), nodes.map((n) => `${n.child?.pid ?? 0} ${n.port}`).join('\n') + '\n', { mode: 0o600 });

  const launch = async (n: Node) => {
    n.child = spawnRedisServer(configPath(n.dir));
    const child = n.child;
    const spawnError = new Promise<never>((_, fail) => child.once('error', (e) => fail(new Error(`cannot start redis-server (run scripts/ensure-redis.sh): ${e.message}`))));
    spawnError.catch(() => undefined);
    n.stopRenice = reniceForks(child);
    recordPids();
    await Promise.race([waitForServer(n.port, child, password, waitMs), spawnError]);
  };
  const exited = (n: Node) => new Promise<void>((ok) => (n.child === undefined || n.child.exitCode !== null || n.child.signalCode !== null ? ok() : n.child.once('exit', () => ok())));
  const admin = (n: Node): Redis => {
    if (n.admin === undefined || n.admin.status === 'end') {
      n.admin?.disconnect();
      n.admin = probeConnection(n.port, password);
    }
    return n.admin;
  };
  const alive = (n: Node) => n.child !== undefined && n.child.exitCode === null && n.child.signalCode === null;
  const byPort = (port: number) => {
    const n = nodes.find((x) => x.port === port);
    if (n === undefined) throw new Error(`no node of this cluster on port ${port} (nodes: ${nodes.map((x) => x.port).join(', ')})`);
    return n;
  };
  const closeAdmin = (n: Node) => {
    n.admin?.disconnect();
    n.admin = undefined;
  };

  for (const n of nodes) {
    privateDir(n.dir);
    writeServerConfig(configPath(n.dir), [
      ['bind', '127.0.0.1'],
      ['protected-mode', 'yes'],
      ['port', n.port],
      ['dir', n.dir],
      ['daemonize', 'no'],
      ['logfile', ''],
      ['loglevel', 'warning'],
      ['requirepass', password],
      ['masterauth', password],
      ['cluster-enabled', 'yes'],
      ['cluster-port', n.busPort],
      ['cluster-config-file', 'nodes.conf'],
      ['cluster-node-timeout', nodeTimeoutMs],
      // As the single private Redis: AOF everysec, no RDB snapshots.
      ...AOF_SETTINGS,
      // A replica's first sync starts at once (the default waits 5 s for more replicas).
      ['repl-diskless-sync', 'yes'],
      ['repl-diskless-sync-delay', 0],
    ]);
  }

  const views = async (): Promise<Map<number, NodesLine[]>> => {
    const out = new Map<number, NodesLine[]>();
    for (const n of nodes) if (alive(n)) out.set(n.port, parseNodes(String(await admin(n).call('CLUSTER', 'NODES'))));
    return out;
  };

  /** true when healthy (module header); otherwise why not. */
  const healthy = async (): Promise<true | string> => {
    const live = nodes.filter(alive);
    const all = live.length === nodes.length;
    const seen = await views();
    let agreed: string | undefined;
    for (const n of live) {
      const info = String(await admin(n).call('CLUSTER', 'INFO'));
      if (infoField(info, 'cluster_state') !== 'ok') return `node ${n.port}: cluster_state ${infoField(info, 'cluster_state')}`;
      if (infoField(info, 'cluster_slots_ok') !== String(SLOTS)) return `node ${n.port}: ${infoField(info, 'cluster_slots_ok')} slots ok`;
      if (infoField(info, 'cluster_known_nodes') !== String(nodes.length)) return `node ${n.port}: knows ${infoField(info, 'cluster_known_nodes')} nodes`;
      const view = seen.get(n.port) as NodesLine[];
      for (const l of view) {
        const liveNode = live.some((x) => x.port === l.port);
        if (liveNode && (l.flags.has('fail') || l.flags.has('fail?') || l.flags.has('handshake') || l.flags.has('noaddr') || l.linkState !== 'connected')) {
          return `node ${n.port} sees ${l.port} as ${[...l.flags].join(',')} ${l.linkState}`;
        }
      }
      // Who is master of how many slots, who replicates whom: the same from every live node.
      const ids = new Map(view.map((l) => [l.id, l.port]));
      const shape = view
        .filter((l) => live.some((x) => x.port === l.port))
        .map((l) => (l.flags.has('master') ? `${l.port} master ${l.slots}` : `${l.port} replica-of ${ids.get(l.masterId) ?? '?'}`))
        .sort()
        .join('; ');
      if (agreed === undefined) agreed = shape;
      else if (shape !== agreed) return `nodes disagree: ${shape} / ${agreed}`;
      if (view.find((l) => l.flags.has('myself'))?.flags.has('slave')) {
        const repl = String(await admin(n).info('replication'));
        if (infoField(repl, 'master_link_status') !== 'up') return `replica ${n.port}: master link ${infoField(repl, 'master_link_status')}`;
        if (infoField(repl, 'master_sync_in_progress') !== '0') return `replica ${n.port}: sync in progress`;
        // After a full sync a replica rewrites its AOF from the new data set; until that is done it is
        // not durable, and it refuses to shut down.
        const pers = String(await admin(n).info('persistence'));
        if (infoField(pers, 'aof_rewrite_in_progress') !== '0' || infoField(pers, 'aof_rewrite_scheduled') !== '0') return `replica ${n.port}: writing its AOF after the sync`;
      }
    }
    const view = seen.get(live[0]?.port ?? 0) ?? [];
    const serving = view.filter((l) => l.flags.has('master') && l.slots > 0 && live.some((x) => x.port === l.port));
    if (serving.length !== masters) return `${serving.length} live masters serve slots, expected ${masters}`;
    if (all) {
      for (const m of serving) {
        const reps = view.filter((l) => l.flags.has('slave') && l.masterId === m.id).length;
        if (reps !== replicas) return `master ${m.port} has ${reps} replicas, expected ${replicas}`;
      }
    }
    return true;
  };
  const waitHealthy = () => pollUntil(healthy, waitMs, `the cluster in ${dir} to be healthy`);

  const topology = async (): Promise<ClusterNodeView[]> => {
    const live = nodes.filter(alive);
    const first = live[0];
    if (first === undefined) return [];
    const view = parseNodes(String(await admin(first).call('CLUSTER', 'NODES')));
    const ids = new Map(view.map((l) => [l.id, l.port]));
    return view
      .filter((l) => live.some((x) => x.port === l.port))
      .map((l) => ({ port: l.port, role: l.flags.has('master') ? 'master' as const : 'replica' as const, masterPort: l.flags.has('master') ? undefined : ids.get(l.masterId), slots: l.slots }))
      .sort((a, b) => a.port - b.port);
  };

  /**
   * SIGTERM (the AOF is flushed). Redis refuses a SIGTERM while it writes its
   * initial AOF after a full sync ("Writing initial AOF, can't exit.") and does
   * not act on it later: seen on a node stopped right after it rejoined. So the
   * signal is repeated every second until the node exits; SIGKILL after 20 s.
   */
  const stopNode = async (n: Node) => {
    closeAdmin(n);
    n.stopRenice?.();
    const child = n.child;
    if (child === undefined || !alive(n)) return;
    const deadline = Date.now() + 20_000;
    for (;;) {
      child.kill(Date.now() < deadline ? 'SIGTERM' : 'SIGKILL');
      let timer: NodeJS.Timeout | undefined;
      const gone = await Promise.race([exited(n).then(() => true), new Promise<boolean>((ok) => (timer = setTimeout(() => ok(false), 1000)))]);
      clearTimeout(timer);
      if (gone) return;
    }
  };
  const stop = async () => {
    await Promise.all(nodes.map(stopNode));
    rmSync(join(dir, 'pids'), { force: true });
  };

  try {
    await Promise.all(nodes.map(launch));
    const hostPorts = nodes.map((n) => `127.0.0.1:${n.port}`);
    await runRedisCli(['--cluster', 'create', ...hostPorts, '--cluster-replicas', String(replicas), '--cluster-yes'], password, waitMs);
    await waitHealthy();
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    nodes: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
    seeds: nodes.map((n) => `127.0.0.1:${n.port}`).join(','),
    password,
    dir,
    masters,
    replicas,
    topology,
    waitHealthy,
    async killMaster(port) {
      const top = await topology();
      const target = port ?? (await slotOwner(top));
      const t = top.find((x) => x.port === target);
      if (t === undefined || t.role !== 'master') throw new Error(`port ${target} is not a live master of this cluster`);
      const victims = top.filter((x) => x.masterPort === target).map((x) => x.port);
      const n = byPort(target);
      closeAdmin(n);
      n.child?.kill('SIGKILL');
      await exited(n);
      if (victims.length === 0) return { killed: target, promoted: undefined };
      let promoted: number | undefined;
      await pollUntil(async () => {
        const now = await topology();
        promoted = now.find((x) => victims.includes(x.port) && x.role === 'master' && x.slots > 0)?.port;
        return promoted === undefined ? `no replica of ${target} promoted yet` : await healthy();
      }, waitMs, `a replica of ${target} to take over its slots`);
      return { killed: target, promoted };
    },
    async restartNode(port) {
      const n = byPort(port);
      if (alive(n)) throw new Error(`node ${port} is running`);
      n.stopRenice?.();
      await launch(n);
      await waitHealthy();
    },
    stop,
  };

  async function slotOwner(top: ClusterNodeView[]): Promise<number> {
    const first = nodes.find(alive);
    if (first === undefined) throw new Error('no live node');
    const slots = (await admin(first).call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, ...unknown[]]]>;
    const owner = slots.find(([a]) => a === 0)?.[2]?.[1];
    return owner ?? (top.find((x) => x.role === 'master')?.port as number);
  }
}

/** Runs redis-cli with the password in REDISCLI_AUTH (not on its command line); rejects with its output on failure. */
function runRedisCli(args: string[], password: string, timeoutMs: number): Promise<string> {
  return new Promise((ok, fail) => {
    const child = spawn('redis-cli', args, { env: { ...process.env, REDISCLI_AUTH: password }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      fail(new Error(`cannot run redis-cli (run scripts/ensure-redis.sh): ${e.message}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) ok(out);
      else fail(new Error(`redis-cli ${args.slice(0, 2).join(' ')} failed (${signal ?? `exit ${code}`}): ${out.replace(/\x1b\[[0-9;]*m/g, '').trim().split('\n').slice(-8).join(' | ')}`));
    });
  });
}
