/**
 * Starts a private Redis (Debian's redis-server) for the demo and the tests when
 * no REDIS_URL is given: its own port on 127.0.0.1, its own data directory, AOF
 * on (appendfsync everysec), no RDB snapshots. The caller stops what it started.
 *
 * Its data holds phone numbers and message texts, so another local user must
 * neither read its files nor talk to it (issue 11): the data directory is 0700
 * and the server writes with umask 077 (redis-server-kit.ts), and it requires a
 * password, generated once per data directory and kept in the directory's
 * `redis.conf` (0600; `requirepass`), the file the server is started from — never
 * on a command line where `ps` would show it. The URL this returns carries it
 * (`redis://:PASSWORD@127.0.0.1:PORT`); print `redactedUrl(url)`, never the URL.
 */
import { type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import { AOF_SETTINGS, configPath, freePort, generatePassword, privateDir, reniceForks, spawnRedisServer, waitForServer, writeServerConfig } from './redis-server-kit.js';

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

/** A Redis URL with its password replaced by `***`: for logs and consoles. */
export function redactedUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/[^:@/]*:)[^@/]*@/, '$1***@');
}

/** The password in the config file of a private Redis's data directory, if there is one. */
function passwordIn(dir: string): string | undefined {
  const conf = configPath(dir);
  if (!existsSync(conf)) return undefined;
  return /^requirepass ([0-9a-f]{32,})$/m.exec(readFileSync(conf, 'utf8'))?.[1];
}

/**
 * The URL of the private Redis kept in `dir` (the password from its config
 * file), or undefined when there is none: how CLI commands reach the Redis
 * that `switchyard start` runs without REDIS_URL.
 */
export function privateRedisUrl(dir: string, port: number): string | undefined {
  const password = passwordIn(resolve(dir));
  return password === undefined ? undefined : `redis://:${password}@127.0.0.1:${port}`;
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
    // Ours has this directory's password (one from before passwords has none).
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
  privateDir(dir);
  // One password per data directory, kept across restarts (a killed run's server is adopted with it).
  const password = passwordIn(dir) ?? generatePassword();
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
  writeServerConfig(configPath(dir), [
    ['bind', '127.0.0.1'],
    ['port', port],
    ['dir', dir],
    ['requirepass', password],
    ...AOF_SETTINGS,
    ['protected-mode', 'yes'],
    ['daemonize', 'no'],
    ['logfile', ''],
    ['loglevel', 'warning'],
    ...(options.maxmemoryMb === undefined ? [] : [['maxmemory', `${options.maxmemoryMb}mb`] as const]),
  ]);
  let child: ChildProcess;
  let stopRenice = () => undefined as void;
  const launch = async () => {
    // Every message's state goes through this one Redis thread: when it shares
    // the machine's cores with the engine, simulators and clients, a raised
    // priority keeps its answers from waiting on the scheduler (bench/RESULTS.md:
    // enqueue p99 165-220 ms at normal priority, 17 ms at nice -10). Needs root;
    // otherwise it runs at normal priority (redis-server-kit.ts spawnRedisServer).
    child = spawnRedisServer(configPath(dir));
    const spawnError = new Promise<never>((_, fail) => child.once('error', (e) => fail(new Error(`cannot start redis-server (run scripts/ensure-redis.sh): ${e.message}`))));
    await Promise.race([waitForServer(port, child, password, 15_000), spawnError]);
    // An AOF rewrite forks a child that writes the whole data set: seconds of CPU.
    // It inherits the server's raised priority, and on a small machine it then takes
    // a core from the engine for as long as it runs (bench/RESULTS.md: ack p99
    // 230-300 ms in the seconds of a rewrite at 10,000 msg/s). The fork is not on any
    // message's path, so it runs at the lowest priority instead (nice 19).
    stopRenice();
    stopRenice = reniceForks(child);
  };
  await launch();
  const exited = () => new Promise<void>((ok) => (child.exitCode !== null || child.signalCode !== null ? ok() : child.once('exit', () => ok())));
  return {
    url: `redis://:${password}@127.0.0.1:${port}`,
    port,
    dir,
    async stop() {
      stopRenice();
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
