/**
 * The CLI and the engine start and stop cleanly (issue 15), run as a user
 * runs them (the built dist/engine/cli.js):
 *  - `switchyard COMMAND --help` prints that command's usage for every command;
 *    `--rate abc` names the option (it reached `new Array(NaN)`: "Invalid array length");
 *  - an engine that cannot be reached is named with its URL and the cause (not `fetch failed`);
 *  - a secret whose environment variable is unset names the config file and the key;
 *  - a `start` that fails (its port taken) stops the private Redis it started
 *    (it stayed up, holding its port and data directory);
 *  - an engine's stop closes idle keep-alive HTTP connections: a Prometheus-style
 *    scraper kept `demo` from ever exiting.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { COMMAND_USAGE } from '../../engine/cli/cli-kit.js';
import { harnessSession } from '../helpers/harness-session.js';
import { waitFor } from '../helpers/wait-for.js';

const CLI = join(process.cwd(), 'dist/engine/cli.js');
const session = harnessSession();
const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((ok) => s.close(ok));
});

/** Runs the CLI to its end (bounded: a hang fails the test instead of holding the suite). */
function run(args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: o.cwd ?? process.cwd(), env: o.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`switchyard ${args.join(' ')} did not end within 120 s; stderr: ${err.slice(-2000)}`));
    }, 120_000);
    child.on('exit', (code) => {
      clearTimeout(t);
      ok({ code, out, err });
    });
  });
}

/** A port nothing listens on (taken from the OS, then released), or one `hold` keeps listening on. */
async function port(hold = false): Promise<number> {
  const s = createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const p = (s.address() as { port: number }).port;
  if (hold) servers.push(s);
  else await new Promise((ok) => s.close(ok));
  return p;
}

const refuses = (p: number) =>
  new Promise<boolean>((ok) => {
    const c = createConnection({ host: '127.0.0.1', port: p });
    c.once('connect', () => {
      c.destroy();
      ok(false);
    });
    c.once('error', () => ok(true));
  });

describe('the CLI helps', () => {
  it('every command answers --help with its usage', async () => {
    for (const [cmd, usage] of Object.entries(COMMAND_USAGE)) {
      const r = await run([cmd, '--help']);
      expect(r.code, `${cmd} --help: ${r.err}`).toBe(0);
      expect(r.out).toContain((usage.split('\n')[0] as string));
    }
    const all = await run(['--help']);
    expect(all.code).toBe(0);
    for (const cmd of Object.keys(COMMAND_USAGE)) expect(all.out).toContain(`switchyard ${cmd}`);
  }, 180_000);

  it('--rate abc names the option; an unknown option shows the usage', async () => {
    const r = await run(['demo', '--rate', 'abc', '--duration', '1']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('--rate must be a whole number');
    expect(r.err).not.toContain('Invalid array length');
    const u = await run(['simulate-smsc', '--bogus']);
    expect(u.code).toBe(2);
    expect(u.err).toContain('usage: switchyard simulate-smsc');
  }, 60_000);

  it('an engine that cannot be reached is named with its URL and the cause', async () => {
    const url = `http://127.0.0.1:${await port()}`;
    const r = await run(['status', '--url', url]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`cannot reach the engine at ${url}/v1/status: connect ECONNREFUSED`);
    expect(r.err).not.toContain('fetch failed');
  }, 60_000);

  it('a secret whose environment variable is unset names the config file and the key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-cli-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({
      redis: { keyPrefix: `cli:${randomBytes(3).toString('hex')}:` },
      analytics: { enabled: false },
      tenants: [{ id: 'acme', apiKey: { env: 'SY_CLI_UNSET_KEY' } }],
      smscs: [{ id: 'a', port: 2775, systemId: 's', password: { env: 'SY_CLI_UNSET_PW' } }],
      routing: { plans: [{ id: 'p', routes: [{ network: '*', candidates: [{ smsc: 'a', price: 1 }] }] }] },
    }));
    const env: NodeJS.ProcessEnv = { ...process.env, REDIS_URL: inject('redisUrl'), SY_CLI_UNSET_PW: 'pw' };
    delete env.SY_CLI_UNSET_KEY;
    delete env.REDIS_CLUSTER_NODES;
    const r = await run(['start', '--config', file, '--port', '0'], { env });
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${file}: tenants[acme].apiKey: environment variable SY_CLI_UNSET_KEY is not set`);
  }, 60_000);
});

describe('start and stop cleanly', () => {
  it('a start that fails (its port taken) stops the private Redis it started', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-start-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({
      analytics: { enabled: false },
      tenants: [{ id: 'acme', apiKey: { env: 'SY_START_KEY' } }],
      smscs: [{ id: 'a', port: await port(), systemId: 's', password: { env: 'SY_START_PW' } }],
      routing: { plans: [{ id: 'p', routes: [{ network: '*', candidates: [{ smsc: 'a', price: 1 }] }] }] },
    }));
    const taken = await port(true);
    const redisPort = await port();
    const env: NodeJS.ProcessEnv = { ...process.env, SY_START_KEY: 'k'.repeat(20), SY_START_PW: 'pw' };
    delete env.REDIS_URL;
    delete env.REDIS_CLUSTER_NODES;
    const r = await run(['start', '--config', 'config.json', '--port', String(taken), '--redis-port', String(redisPort)], { cwd: dir, env });
    expect(r.code).toBe(1);
    expect(r.err).toContain('PORT_IN_USE');
    expect(r.err).toContain('started private redis-server');
    // The CLI has exited: its Redis must be gone with it.
    expect(await refuses(redisPort)).toBe(true);
  }, 180_000);

  it('a stop closes idle keep-alive HTTP connections (a scraper kept demo from exiting)', async () => {
    const h = await session.start({ keyPrefix: `ka:${randomBytes(3).toString('hex')}:` });
    const sock = createConnection({ host: '127.0.0.1', port: h.engine.port });
    let answered = '';
    let closed = false;
    sock.on('data', (d: Buffer) => (answered += d.toString()));
    sock.on('close', () => (closed = true));
    sock.on('error', () => undefined);
    sock.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n');
    await waitFor(() => answered.includes('\r\n\r\n'), 10_000, 'the /healthz answer');
    expect(closed).toBe(false);
    await h.engine.stop();
    await waitFor(() => closed, 10_000, 'the keep-alive connection closed by the stop');
  }, 60_000);
});
