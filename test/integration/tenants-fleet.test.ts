/**
 * Tenants as data across two engine nodes on one Redis (test/helpers/fleet-harness.ts):
 * a tenant created through node 0's admin API sends through node 1 within a
 * second; a key issued on node 0 works on node 1 within a second while the
 * old one still does; revoking the old one on node 0 closes its WebSocket
 * on node 1 (4001) and refuses it there on HTTP, within a second; a
 * suspension on node 0 is refused on node 1 (TENANT_SUSPENDED) within a second.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetHarness } from '../helpers/fleet-harness.js';
import { api } from '../helpers/http.js';
import { waitFor } from '../helpers/wait-for.js';
import { connectClient, type TestClient } from '../helpers/ws-client.js';

const run = promisify(execFile);

/** The bound: a change applies on every node within a second. */
const WITHIN_MS = 1000;

let f: FleetHarness;
const clients: TestClient[] = [];

beforeAll(async () => {
  f = new FleetHarness({ nodes: 2, redis: 'single', smscs: [{ binds: 2, window: 50, tps: 1000 }], fleet: {} });
  await f.start();
}, 180_000);

afterAll(async () => {
  for (const c of clients) await c.close();
  await f?.stop();
}, 60_000);

const port = (i: number): number => f.nodes[i]?.port as number;
const submit = (i: number, key: string, ref: string) => api(port(i), key, 'POST', '/v1/messages', { ref, to: '+4791000060', from: 'Acme', text: `fleet tenants ${ref}` });

/** Waits (at most WITHIN_MS) until `cond` holds, and returns how long it took. */
async function within(cond: () => Promise<boolean>, what: string): Promise<number> {
  const t0 = Date.now();
  await waitFor(cond, WITHIN_MS, what);
  return Date.now() - t0;
}

describe('tenants as data on two nodes', () => {
  it('a tenant created by API on one node sends within a second on the other; a rotated key works beside the old one until it is revoked, then the old one\'s connection closes 4001', async () => {
    const created = await api(port(0), f.adminKey, 'POST', '/v1/admin/tenants', { id: 'delta', tps: 1000 });
    expect(created.status).toBe(201);
    const k1 = (created.body.key as { key: string }).key;
    const k1id = (created.body.key as { id: string }).id;
    await within(async () => (await submit(1, k1, 'c1')).status === 202, 'the new tenant to send through node 1');

    const c1 = await connectClient(`ws://127.0.0.1:${port(1)}/v1/ws`, k1);
    clients.push(c1);
    c1.send({ op: 'submit', ref: 'w1', to: '+4791000061', from: 'Acme', text: 'fleet tenants w1' });
    expect((await c1.next((x) => x.ref === 'w1')).op).toBe('ack');

    const k2r = await api(port(0), f.adminKey, 'POST', '/v1/admin/tenants/delta/keys', { label: 'rotated' });
    expect(k2r.status).toBe(201);
    const k2 = k2r.body.key as string;
    await within(async () => (await submit(1, k2, 'c2')).status === 202, 'the rotated key to work on node 1');
    expect((await submit(1, k1, 'c3')).status).toBe(202);

    const closed = new Promise<number>((ok) => c1.ws.once('close', (code: number) => ok(code)));
    expect((await api(port(0), f.adminKey, 'DELETE', `/v1/admin/tenants/delta/keys/${k1id}`)).status).toBe(200);
    const t0 = Date.now();
    expect(await closed).toBe(4001);
    expect(Date.now() - t0).toBeLessThan(WITHIN_MS);
    await within(async () => (await submit(1, k1, 'c4')).status === 401, 'the revoked key to be refused on node 1');
    expect((await submit(1, k2, 'c5')).status).toBe(202);

    // Suspended on node 0: refused on node 1 with its own code; unsuspended: sends again.
    expect((await api(port(0), f.adminKey, 'POST', '/v1/admin/tenants/delta/suspend')).status).toBe(200);
    await within(async () => (await submit(1, k2, 'c6')).body.code === 'TENANT_SUSPENDED', 'the suspension on node 1');
    expect((await api(port(0), f.adminKey, 'POST', '/v1/admin/tenants/delta/unsuspend')).status).toBe(200);
    await within(async () => (await submit(1, k2, 'c7')).status === 202, 'the tenant to send again on node 1');

    // Every submit accepted reached the SMSC once.
    const accepted = ['c1', 'w1', 'c2', 'c3', 'c5', 'c7'].map((r) => `fleet tenants ${r}`);
    await waitFor(() => accepted.every((t) => f.sims[0]?.captured.some((x) => x.shortMessage.toString('latin1') === t) === true), 30_000, 'the accepted messages at the SMSC');
    expect(f.duplicates().size).toBe(0);
  }, 120_000);

  it('the CLI creates a tenant and issues, lists and revokes its keys (audited as admin and the user)', async () => {
    const url = `http://127.0.0.1:${port(0)}`;
    const cli = async (...args: string[]): Promise<Record<string, unknown>> => {
      const { stdout } = await run(process.execPath, ['dist/engine/cli.js', ...args, '--url', url], { env: { ...process.env, SWITCHYARD_ADMIN_KEY: f.adminKey } });
      return JSON.parse(stdout) as Record<string, unknown>;
    };
    const created = await cli('tenants', 'create', 'epsilon', '--set', 'tps=300', '--set', 'senders=["Acme"]');
    const key = (created.key as { key: string }).key;
    expect((created.tenant as { settings: { tps: number } }).settings.tps).toBe(300);
    await within(async () => (await submit(1, key, 'e1')).status === 202, 'the CLI-created tenant to send through node 1');
    const issued = await cli('keys', 'issue', 'epsilon', '--label', 'ci', '--ttl', '3600');
    const listed = await cli('keys', 'list', 'epsilon');
    expect((listed.keys as Array<{ label: string }>).map((k) => k.label)).toEqual(['first key', 'ci']);
    await cli('keys', 'revoke', 'epsilon', issued.id as string);
    await within(async () => (await submit(1, issued.key as string, 'e2')).status === 401, 'the revoked key to be refused on node 1');
    const audit = await cli('tenants', 'audit', 'epsilon', '--json');
    expect((audit.entries as Array<{ action: string; who: string }>).map((e) => e.action)).toEqual(['key-revoke', 'key-issue', 'key-issue', 'create']);
    expect((audit.entries as Array<{ who: string }>)[0]?.who).toMatch(/^admin/);
    // A bad option value names the option.
    await expect(run(process.execPath, ['dist/engine/cli.js', 'keys', 'issue', 'epsilon', '--label', 'x', '--ttl', 'abc', '--url', url], { env: { ...process.env, SWITCHYARD_ADMIN_KEY: f.adminKey } })).rejects.toThrow(/--ttl must be a whole number/);
  }, 60_000);
});
