/**
 * Starts a private Redis (Debian's redis-server) for the demo and the tests when
 * no REDIS_URL is given: its own port on 127.0.0.1, its own data directory, AOF
 * on (appendfsync everysec), no RDB snapshots. The caller stops what it started.
 *
 * Its data holds phone numbers and message texts, so another local user must
 * neither read its files nor talk to it: the data directory is 0700 and the
 * server runs with umask 077 (its AOF files are 0600), and it requires a
 * password, generated once per data directory and kept in the directory's
 * `switchyard-redis.conf` (0600; `requirepass`) — given to redis-server as its
 * config file, never on the command line where `ps` would show it. The URL
 * this returns carries it (`redis://:PASSWORD@127.0.0.1:PORT`); print
 * `redactedUrl(url)`, never the URL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setPriority } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';

/** The config file in a private Redis's data directory (0600): its password. */
export const PRIVATE_REDIS_CONF = 'switchyard-redis.conf';

/** A Redis URL with its password replaced by `***`: for logs and consoles. */
export function redactedUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/[^:@/]*:)[^@/]*@/, '$1***@');
}

/**
 * The data directory, 0700 (also when it existed), and its password: read
 * from its config file, or generated and written there (0600) the first time.
 */
function preparePrivateDir(dir: string): { password: string; conf: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const conf = join(dir, PRIVATE_REDIS_CONF);
  const existing = existsSync(conf) ? /^requirepass ([0-9a-f]{32,})$/m.exec(readFileSync(conf, 'utf8'))?.[1] : undefined;
  const password = existing ?? randomBytes(24).toString('hex');
  if (existing === undefined) writeFileSync(conf, `# Written by Switchyard (engine/redis/private-redis.ts): this data directory's Redis password.\nrequirepass ${password}\n`, { mode: 0o600 });
  chmodSync(conf, 0o600);
  return { password, conf };
}

/**
 * The URL of the private Redis kept in `dir` (the password from its config
 * file), or undefined when there is none: how CLI commands reach the Redis
 * that `switchyard start` runs without REDIS_URL.
 */
export function privateRedisUrl(dir: string, port: number): string | undefined {
  const conf = join(resolve(dir), PRIVATE_REDIS_CONF);
  if (!existsSync(conf)) return undefined;
  const password = /^requirepass ([0-9a-f]{32,})$/m.exec(readFileSync(conf, 'utf8'))?.[1];
  return password === undefined ? undefined : `redis://:${password}@127.0.0.1:${port}`;
}

export interface PrivateRedis {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** Stops the server (SHUTDOWN NOSAVE is not used: AOF is flushed on shutdown). */
  stop(): Promise<void>;
  /** SIGKILLs the server (tests of a crashed Redis). */
  kill(): void;
  /** Starts it again on the same port and data dir (after stop/kill). */
  restart(): Promise<void>;
}

async function freePort(): Promise<number> {
  return await new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => ok(port));
    });
  });
}

/**
 * Children of a process (Linux /proc), e.g. redis-server's AOF-rewrite fork.
 * Empty where /proc is not available.
 */
function childPids(pid: number): number[] {
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
const CHILD_NICE = 19;

async function waitReady(port: number, password: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(child.exitCode === 127 ? 'cannot start redis-server: it is not installed (run scripts/ensure-redis.sh)' : `redis-server exited with code ${child.exitCode}`);
    const r = new Redis({ port, host: '127.0.0.1', password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => undefined); // connection refused while redis-server starts: expected
    try {
      await r.connect();
      await r.ping();
      r.disconnect();
      return;
    } catch (err) {
      lastErr = err;
      r.disconnect();
      await new Promise((ok) => setTimeout(ok, 50));
    }
  }
  throw new Error(`redis-server on port ${port} not ready after ${timeoutMs} ms: ${String(lastErr)}`);
}

/**
 * A redis-server already listening on the port with this data directory: the
 * one a previous run started before it was killed (SIGKILL leaves the child
 * running). It is taken over rather than left behind; anything else on the
 * port is an error.
 */
async function adoptable(port: number, dir: string, password: string): Promise<{ pid: number } | undefined> {
  // No ready check: it would run INFO before AUTH and fail on a server with a password.
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  r.on('error', () => undefined); // nothing listening: the usual case
  try {
    await r.connect();
  } catch {
    r.disconnect();
    return undefined;
  }
  try {
    // Ours has this directory's password (a server of a version before passwords has none).
    try {
      await r.call('AUTH', password);
    } catch (err) {
      if (!/without any password configured/i.test((err as Error).message)) throw new Error(`port ${port} is held by another Redis (it refused this data directory's password), not Switchyard's private one in ${dir}`);
    }
    const got = (await r.config('GET', 'dir')) as string[];
    const pid = Number(/process_id:(\d+)/.exec(await r.info('server'))?.[1] ?? 0);
    if (got[1] !== dir) throw new Error(`port ${port} is held by another Redis (data dir ${got[1] ?? '?'}), not Switchyard's private one in ${dir}`);
    return { pid };
  } finally {
    r.disconnect();
  }
}

export async function startPrivateRedis(options: { dir: string; port?: number; maxmemoryMb?: number }): Promise<PrivateRedis> {
  const dir = resolve(options.dir);
  const { password, conf } = preparePrivateDir(dir);
  const port = options.port ?? (await freePort());
  if (options.port !== undefined) {
    const old = await adoptable(port, dir, password);
    if (old !== undefined) {
      // Stop it (SHUTDOWN writes its AOF) and start our own on the same files: this
      // process then owns the server and stops it on exit.
      const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
      r.on('error', () => undefined);
      await r.connect().catch(() => undefined);
      await r.call('AUTH', password).catch(() => undefined); // none on a server from before passwords
      await r.call('SHUTDOWN').catch(() => undefined); // the connection closes with the server
      r.disconnect();
      for (let i = 0; i < 100; i++) {
        try {
          process.kill(old.pid, 0);
          await new Promise((ok) => setTimeout(ok, 50));
        } catch {
          break; // gone
        }
      }
    }
  }
  let child: ChildProcess;
  const launch = async () => {
    // The config file (its password) first; the rest on the command line, which holds no secret.
    const args = [
      conf,
      '--bind', '127.0.0.1', '--port', String(port), '--dir', dir,
      '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '',
      // AOF rewrites (a fork plus a child writing the whole data set) are the
      // largest source of Redis latency spikes on a 2-core box (bench/RESULTS.md:
      // ack p99 150-280 ms in the seconds of a rewrite, 15-50 ms between them).
      // At 10,000 msg/s the AOF grows ~15 MB/s; rewriting at 1 GB and 3x the last
      // base keeps rewrites minutes apart, at the price of a longer replay after
      // a crash (~1 GB of commands at most).
      '--auto-aof-rewrite-min-size', '1gb',
      '--auto-aof-rewrite-percentage', '200',
      '--no-appendfsync-on-rewrite', 'yes',
      '--protected-mode', 'yes', '--daemonize', 'no', '--logfile', '', '--loglevel', 'warning',
    ];
    if (options.maxmemoryMb !== undefined) args.push('--maxmemory', `${options.maxmemoryMb}mb`);
    // Every message's state goes through this one Redis thread: when it shares
    // the machine's cores with the engine, simulators and clients, a raised
    // priority keeps its answers from waiting on the scheduler (bench/RESULTS.md:
    // enqueue p99 165-220 ms at normal priority, 17 ms at nice -10). Needs root;
    // otherwise it runs at normal priority.
    const elevate = process.getuid?.() === 0;
    // umask 077 for everything the server writes (AOF files 0600, directories 0700); `exec` keeps the pid.
    const command = [...(elevate ? ['nice', '-n', '-10'] : []), 'redis-server', ...args];
    child = spawn('sh', ['-c', 'umask 077; command -v redis-server >/dev/null 2>&1 || exit 127; exec "$@"', 'sh', ...command], { stdio: ['ignore', 'ignore', 'inherit'] });
    const spawnError = new Promise<never>((_, fail) => child.once('error', (e) => fail(new Error(`cannot start redis-server (run scripts/ensure-redis.sh): ${e.message}`))));
    await Promise.race([waitReady(port, password, child, 15_000), spawnError]);
  };
  await launch();
  // An AOF rewrite forks a child that writes the whole data set: seconds of CPU.
  // It inherits the server's raised priority, and on a small machine it then takes
  // a core from the engine for as long as it runs (bench/RESULTS.md: ack p99
  // 230-300 ms in the seconds of a rewrite at 10,000 msg/s). The fork is not on any
  // message's path, so it runs at the lowest priority instead (nice 19; lowering a
  // priority needs no privilege). Checked every 200 ms; a rewrite takes seconds.
  const reniced = new Set<number>();
  const childWatch = setInterval(() => {
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
  childWatch.unref();
  const exited = () => new Promise<void>((ok) => (child.exitCode !== null || child.signalCode !== null ? ok() : child.once('exit', () => ok())));
  return {
    url: `redis://:${password}@127.0.0.1:${port}`,
    port,
    dir,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited();
      }
    },
    kill() {
      child.kill('SIGKILL');
    },
    async restart() {
      await exited();
      await launch();
    },
  };
}
