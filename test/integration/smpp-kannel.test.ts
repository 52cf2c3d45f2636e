/**
 * Kannel as an SMPP customer of Switchyard: bearerbox binds to the SMPP
 * server as a transceiver with the tenant's credentials, smsbox takes
 * messages over its sendsms HTTP interface, and the delivery reports Kannel
 * makes of our deliver_sm receipts come to an HTTP server in this test
 * (dlr-url). Debian's `kannel` package (scripts/ensure-kannel.sh); the test
 * is skipped, saying so, when bearerbox is not installed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { startHarness, type Harness } from '../../engine/loadgen/harness.js';
import { waitFor } from '../helpers/wait-for.js';

const HAVE_KANNEL = spawnSync('sh', ['-c', 'command -v bearerbox && command -v smsbox']).status === 0;
if (!HAVE_KANNEL) console.warn('smpp-kannel.test.ts: skipped: Kannel (bearerbox, smsbox) is not installed; run scripts/ensure-kannel.sh as root');

let h: Harness | undefined;
const children: ChildProcess[] = [];
let dlrServer: Server | undefined;
let dir: string | undefined;

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null) {
      c.kill('SIGTERM');
      await new Promise<void>((ok) => {
        const t = setTimeout(() => (c.kill('SIGKILL'), ok()), 5000);
        c.once('exit', () => (clearTimeout(t), ok()));
      });
    }
  }
  await h?.stop();
  h = undefined;
  await new Promise<void>((ok) => (dlrServer === undefined ? ok() : dlrServer.close(() => ok())));
  dlrServer = undefined;
  if (dir !== undefined && process.env.SY_KEEP_KANNEL === undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((ok) => s.close(() => ok()));
  return port;
}

describe.skipIf(!HAVE_KANNEL)('Kannel as a customer', () => {
  it('binds, submits GSM-7, multipart and UCS-2 messages through smsbox, and gets every delivery report', async () => {
    const password = 'kan12345';
    h = await startHarness({
      redis: { kind: 'single', url: inject('redisUrl') },
      keyPrefix: `smppk:${randomBytes(4).toString('hex')}:`,
      smscs: 1,
      sim: { receiptDelayMs: { min: 0, max: 20 } },
      env: { SY_KANNEL_PW: password },
      configOverrides: (raw) => {
        raw.smppServer = { enabled: true, port: 0 };
        (raw.tenants as Array<Record<string, unknown>>)[0]!.smpp = { systemId: 'kannel', password: { env: 'SY_KANNEL_PW' } };
      },
    });
    // Delivery reports: Kannel calls dlr-url with the report type (%d: 1 delivered, 2 failed, 8 SMSC ack, 16 SMSC reject).
    const reports = new Map<string, number[]>();
    dlrServer = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      const ref = u.searchParams.get('ref') ?? '';
      reports.set(ref, [...(reports.get(ref) ?? []), Number(u.searchParams.get('type'))]);
      res.end('ok');
    });
    await new Promise<void>((ok) => dlrServer?.listen(0, '127.0.0.1', ok));
    const dlrPort = (dlrServer.address() as { port: number }).port;
    const [adminPort, boxPort, sendPort] = [await freePort(), await freePort(), await freePort()];
    dir = mkdtempSync(join(tmpdir(), 'sy-kannel-'));
    const conf = join(dir, 'kannel.conf');
    writeFileSync(conf, [
      'group = core', `admin-port = ${adminPort}`, 'admin-password = adm', 'admin-allow-ip = 127.0.0.1', `smsbox-port = ${boxPort}`, 'box-allow-ip = 127.0.0.1', 'log-level = 1', `log-file = "${dir}/bearerbox.log"`, 'dlr-storage = internal', '',
      'group = smsc', 'smsc = smpp', 'smsc-id = switchyard', 'host = 127.0.0.1', `port = ${h.engine.smpp.port}`, 'transceiver-mode = true', 'smsc-username = kannel', `smsc-password = ${password}`, 'system-type = ""', 'source-addr-ton = 5', 'source-addr-npi = 0', 'dest-addr-ton = 1', 'dest-addr-npi = 1', 'max-pending-submits = 10', '',
      'group = smsbox', 'bearerbox-host = 127.0.0.1', `bearerbox-port = ${boxPort}`, `sendsms-port = ${sendPort}`, 'log-level = 1', `log-file = "${dir}/smsbox.log"`, '',
      'group = sendsms-user', 'username = tester', 'password = foobar', 'max-messages = 10', 'concatenation = true', '',
      'group = sms-service', 'keyword = default', 'text = ""', 'max-messages = 0', '',
    ].join('\n'));
    const bearer = spawn('bearerbox', [conf], { stdio: 'ignore' });
    children.push(bearer);
    await waitFor(() => h!.engine.smpp.listener!.binds('acme').length === 1, 60_000, 'Kannel bound (within a minute)');
    const smsbox = spawn('smsbox', [conf], { stdio: 'ignore' });
    children.push(smsbox);
    const send = async (ref: string, text: string, ucs2 = false): Promise<number> => {
      const q = new URLSearchParams({ username: 'tester', password: 'foobar', from: 'Acme', to: `4791${String(refs.length).padStart(6, '0')}`, text, 'dlr-mask': '3', 'dlr-url': `http://127.0.0.1:${dlrPort}/dlr?ref=${ref}&type=%d`, ...(ucs2 ? { coding: '2', charset: 'UTF-8' } : {}) });
      for (;;) {
        try {
          return (await fetch(`http://127.0.0.1:${sendPort}/cgi-bin/sendsms?${q}`)).status;
        } catch {
          await new Promise((ok) => setTimeout(ok, 200)); // smsbox still starting
        }
      }
    };
    const refs: string[] = [];
    for (let i = 0; i < 10; i++) {
      refs.push(`g${i}`);
      expect(await send(`g${i}`, `Hello from Kannel ${i}`)).toBe(202);
    }
    refs.push('m0');
    expect(await send('m0', 'A long message from Kannel that needs two segments: '.repeat(4))).toBe(202);
    refs.push('u0');
    expect(await send('u0', 'Привет из Kannel 🙂', true)).toBe(202);
    try {
      await waitFor(() => refs.every((r) => reports.get(r)?.includes(1) === true), 60_000, 'a delivered report for every message');
    } catch (err) {
      throw new Error(`${(err as Error).message}; reports by ref: ${JSON.stringify([...reports])}`);
    }
    const sim = h.sims[0];
    // 10 single messages, one of two segments (reassembled, then split again), one UCS-2: 13 segments.
    expect(sim?.stats.submitsAccepted ?? 0).toBe(13);
  }, 180_000);
});
