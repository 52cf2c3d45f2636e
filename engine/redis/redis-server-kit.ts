/**
 * What the private redis-servers share (private-redis.ts: one instance for the
 * demo and the tests; private-cluster.ts: a local Redis Cluster for tests and
 * scripts): free ports on 127.0.0.1, private data directories (0700) and
 * config files (0600, so that a password never appears on a command line),
 * spawning Debian's redis-server at raised priority when allowed, renicing its
 * background forks, and waiting for a server to answer.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/** `count` distinct free TCP ports on 127.0.0.1 (held together while chosen, so none repeats). */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const s = createServer();
      servers.push(s);
      ports.push(
        await new Promise<number>((ok, fail) => {
          s.once('error', fail);
          s.listen(0, '127.0.0.1', () => {
            const a = s.address();
            ok(typeof a === 'object' && a !== null ? a.port : 0);
          });
        }),
      );
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise((ok) => s.close(ok))));
  }
}

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0] as number;
}

/**
 * Children of a process (Linux /proc), e.g. redis-server's AOF-rewrite fork.
 * Empty where /proc is not available.
 */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ')) if (c.trim() !== '') out.push(Number(c));
    }
  } catch {
    // the process is gone, or no /proc: nothing to do
  }
  return out;
}

/** Lowest CPU priority: a background fork must not take the cores from the live path. */
export const CHILD_NICE = 19;

/**
 * Sets the forks of a redis-server (AOF rewrites, RDB saves for replication)
 * to the lowest priority as they appear, checked every 200 ms (a fork runs for
 * seconds). Returns the stop function. See private-redis.ts for why.
 */
export function reniceForks(child: ChildProcess): () => void {
  const reniced = new Set<number>();
  const t = setInterval(() => {
    const pid = child.pid;
    if (pid === undefined || child.exitCode !== null) return;
    for (const c of childPids(pid)) {
      if (reniced.has(c)) continue;
      reniced.add(c);
      try {
        setPriority(c, CHILD_NICE);
      } catch {
        // the fork ended meanwhile
      }
    }
    if (reniced.size > 1000) reniced.clear();
  }, 200);
  t.unref();
  return () => clearInterval(t);
}

/** A random password for a private server (hex, 48 characters). */
export function generatePassword(): string {
  return randomBytes(24).toString('hex');
}

/** Creates a directory only its owner can enter (0700, also when it existed). */
export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/**
 * Durability of every private redis-server (single or cluster node): AOF with
 * fsync every second, no RDB snapshots. AOF rewrites (a fork plus a child
 * writing the whole data set) are the largest source of Redis latency spikes
 * on a 2-core box (bench/RESULTS.md: ack p99 150-280 ms in the seconds of a
 * rewrite, 15-50 ms between them). At 10,000 msg/s the AOF grows ~15 MB/s;
 * rewriting at 1 GB and 3x the last base keeps rewrites minutes apart, at the
 * price of a longer replay after a crash (~1 GB of commands at most).
 */
export const AOF_SETTINGS: ReadonlyArray<readonly [string, string | number]> = [
  ['appendonly', 'yes'],
  ['appendfsync', 'everysec'],
  ['save', ''],
  ['auto-aof-rewrite-min-size', '1gb'],
  ['auto-aof-rewrite-percentage', 200],
  ['no-appendfsync-on-rewrite', 'yes'],
];

/**
 * Writes a redis.conf only its owner can read (0600, created so: no moment at
 * which another user could read the password). Values are quoted as redis.conf
 * strings; `''` is an empty argument (e.g. `save ''`).
 */
export function writeServerConfig(path: string, settings: ReadonlyArray<readonly [string, string | number]>): void {
  const text = settings.map(([k, v]) => `${k} ${confValue(String(v))}`).join('\n') + '\n';
  const fd = openSync(path, 'w', 0o600);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  chmodSync(path, 0o600);
}

function confValue(v: string): string {
  if (v === '') return '""';
  if (/^[\w./:@+-]+$/.test(v)) return v;
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The config file a server in `dir` is started from. */
export function configPath(dir: string): string {
  return join(dir, 'redis.conf');
}

/**
 * Spawns redis-server on a config file. Started as root it runs at nice -10:
 * every message's state goes through Redis (private-redis.ts says why); the
 * caller renices its forks (reniceForks). It runs with umask 077, so that what
 * it writes (AOF and RDB files, nodes.conf) is 0600 in its 0700 directory; `sh`
 * sets the umask and `exec`s it (same pid). A missing redis-server exits 127.
 */
export function spawnRedisServer(config: string): ChildProcess {
  const elevate = process.getuid?.() === 0;
  const command = [...(elevate ? ['nice', '-n', '-10'] : []), 'redis-server', config];
  return spawn('sh', ['-c', 'umask 077; exec "$@"', 'sh', ...command], { stdio: ['ignore', 'ignore', 'inherit'] });
}

/**
 * A connection to a local server for checks: no retries, no reconnect, and no
 * command waits longer than 5 s (a check must never hang a wait).
 */
export function probeConnection(port: number, password?: string): Redis {
  const r = new Redis({ port, host: '127.0.0.1', password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000, commandTimeout: 5000, enableOfflineQueue: false });
  r.on('error', () => undefined); // refused while the server starts or after it stopped: the caller sees the failed command
  return r;
}

/** Waits until the server on `port` answers PING (it exited: an error naming its exit code). */
export async function waitForServer(port: number, child: ChildProcess, password: string | undefined, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(child.exitCode === 127 ? 'cannot start redis-server: it is not installed (run scripts/ensure-redis.sh)' : `redis-server on port ${port} exited with code ${child.exitCode}`);
    const r = probeConnection(port, password);
    try {
      await r.connect();
      await r.ping();
      return;
    } catch (err) {
      lastErr = err;
      await new Promise((ok) => setTimeout(ok, 50));
    } finally {
      r.disconnect();
    }
  }
  throw new Error(`redis-server on port ${port} not ready after ${timeoutMs} ms: ${String(lastErr)}`);
}

/**
 * Polls `check` until it returns true; on timeout the error names `what` and
 * the last reason `check` gave. A check still running at the deadline ends the
 * wait too.
 */
export async function pollUntil(check: () => Promise<true | string>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<string>((ok) => (timer = setTimeout(() => ok('a check was still running at the deadline'), Math.max(0, deadline - Date.now()))));
    try {
      const r = await Promise.race([check(), late]);
      if (r === true) return;
      last = r;
    } catch (err) {
      last = (err as Error).message;
    } finally {
      clearTimeout(timer);
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === '' ? '' : ` (${last})`}`);
    await new Promise((ok) => setTimeout(ok, 50));
  }
}
