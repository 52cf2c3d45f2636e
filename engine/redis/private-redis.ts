/**
 * Starts a private Redis (Debian's redis-server) for the demo and the tests when
 * no REDIS_URL is given: its own port on 127.0.0.1, its own data directory, AOF
 * on (appendfsync everysec), no RDB snapshots. The caller stops what it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import { CHILD_NICE, childPids, freePort } from './redis-server-kit.js';

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

async function waitReady(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
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
async function adoptable(port: number, dir: string): Promise<{ pid: number } | undefined> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  r.on('error', () => undefined); // nothing listening: the usual case
  try {
    await r.connect();
  } catch {
    r.disconnect();
    return undefined;
  }
  try {
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
  mkdirSync(dir, { recursive: true });
  const port = options.port ?? (await freePort());
  if (options.port !== undefined) {
    const old = await adoptable(port, dir);
    if (old !== undefined) {
      // Stop it (SHUTDOWN writes its AOF) and start our own on the same files: this
      // process then owns the server and stops it on exit.
      const r = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => null });
      r.on('error', () => undefined);
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
    const args = [
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
    child = elevate
      ? spawn('nice', ['-n', '-10', 'redis-server', ...args], { stdio: ['ignore', 'ignore', 'inherit'] })
      : spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'inherit'] });
    const spawnError = new Promise<never>((_, fail) => child.once('error', (e) => fail(new Error(`cannot start redis-server (run scripts/ensure-redis.sh): ${e.message}`))));
    await Promise.race([waitReady(port, child, 15_000), spawnError]);
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
    url: `redis://127.0.0.1:${port}`,
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
