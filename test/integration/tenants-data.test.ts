/**
 * Tenants as data on one engine node (engine/tenants/, engine/http/tenant-routes.ts):
 * a tenant created through the admin API sends at once with the key it was
 * given (shown once, stored only as its SHA-256); a second key works beside
 * the first, and revoking the first refuses it on HTTP and closes its
 * WebSocket 4001 while the second goes on; suspension refuses submits
 * TENANT_SUSPENDED and closes connections 4003; a key's expiry refuses it;
 * every change is in the audit log without secrets; a routing reload that
 * adds a tenant to the config file makes its key work before answering ok,
 * and one that cannot apply the file's tenant answers RELOAD_INCOMPLETE;
 * a tenant changed through the API keeps its Redis version across a restart.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { connectRedis } from '../../engine/redis/connect-redis.js';
import { harnessSession } from '../helpers/harness-session.js';
import { api } from '../helpers/http.js';
import { waitFor } from '../helpers/wait-for.js';
import type { Frame, TestClient } from '../helpers/ws-client.js';

const ADMIN = 'admin-key-tenants-0123456789';
/** A submit accepted over HTTP. */
const SUBMIT_OK = 202;
const session = harnessSession();

function closeCode(c: TestClient): Promise<number> {
  return new Promise((ok) => {
    if (c.ws.readyState === 3) return ok(-1);
    (c.ws as WebSocket).once('close', (code: number) => ok(code));
  });
}

async function submit(port: number, key: string, ref: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return await api(port, key, 'POST', '/v1/messages', { ref, to: '+4791000070', from: 'Acme', text: `tenants ${ref}` });
}

async function wsSubmit(c: TestClient, ref: string): Promise<Frame> {
  c.send({ op: 'submit', ref, to: '+4791000071', from: 'Acme', text: `tenants ${ref}` });
  return await c.next((f) => f.ref === ref);
}

describe('tenants as data', () => {
  it('creates a tenant by API that sends at once, rotates its key without downtime, revokes the old one (HTTP 401, WebSocket closed 4001) and audits it all', async () => {
    const h = await session.start({ smscs: 1, env: { SWITCHYARD_ADMIN_KEY: ADMIN } });
    const port = h.engine.port;
    // No admin key: refused.
    expect((await api(port, h.apiKey, 'GET', '/v1/admin/tenants')).status).toBe(401);
    const created = await api(port, ADMIN, 'POST', '/v1/admin/tenants', { id: 'beta', tps: 500, window: 100, senders: ['Acme'] });
    expect(created.status).toBe(201);
    const k1 = (created.body.key as { key: string; id: string }).key;
    const k1id = (created.body.key as { id: string }).id;
    expect(k1).toMatch(/^sy_[A-Za-z0-9_-]{43}$/);
    // Stored only as its hash: the key appears nowhere in Redis.
    const redis = connectRedis(h.target, { connectionName: 'tenants-test' });
    try {
      const stored = await redis.hgetall(`${h.engine.store.keys.prefix}{tn}:keys`);
      expect(Object.keys(stored)).toContain(createHash('sha256').update(k1).digest('hex'));
      expect(JSON.stringify(stored)).not.toContain(k1);
    } finally {
      redis.disconnect();
    }

    const r1 = await submit(port, k1, 'b1');
    expect(r1.status).toBe(SUBMIT_OK);
    expect(r1.body.status).toBe('queued');
    // The tenant's settings apply: a sender not on its list is refused.
    const bad = await api(port, k1, 'POST', '/v1/messages', { ref: 'b2', to: '+4791000070', from: 'Other', text: 'x' });
    expect(bad.body.code).toBe('SENDER_NOT_ALLOWED');

    const c1 = await session.client(k1);
    expect((await wsSubmit(c1, 'w1')).op).toBe('ack');
    // A second key: both work.
    const k2r = await api(port, ADMIN, 'POST', '/v1/admin/tenants/beta/keys', { label: 'rotation 2', ttlSec: 3600 });
    expect(k2r.status).toBe(201);
    const k2 = k2r.body.key as string;
    const c2 = await session.client(k2);
    expect((await wsSubmit(c2, 'w2')).op).toBe('ack');
    expect((await submit(port, k1, 'b3')).status).toBe(SUBMIT_OK);
    const listed = await api(port, ADMIN, 'GET', '/v1/admin/tenants/beta/keys');
    expect((listed.body.keys as Array<{ label: string }>).map((k) => k.label)).toEqual(['first key', 'rotation 2']);
    expect(JSON.stringify(listed.body)).not.toContain(k2);

    // Revoke the first: its connection closes 4001, HTTP refuses it; the second goes on.
    const closed = closeCode(c1);
    const rv = await api(port, ADMIN, 'DELETE', `/v1/admin/tenants/beta/keys/${k1id}`);
    expect(rv.status).toBe(200);
    expect(await closed).toBe(4001);
    expect((await submit(port, k1, 'b4')).status).toBe(401);
    expect((await wsSubmit(c2, 'w3')).op).toBe('ack');
    expect((await submit(port, k2, 'b5')).status).toBe(SUBMIT_OK);

    // The audit: who, when, what; no key, no secret.
    const audit = await api(port, ADMIN, 'GET', '/v1/admin/audit?tenant=beta');
    const entries = audit.body.entries as Array<{ action: string; who: string; at: number; diff?: Record<string, unknown> }>;
    expect(entries.map((e) => e.action)).toEqual(['key-revoke', 'key-issue', 'key-issue', 'create']);
    expect(entries.every((e) => e.who === 'admin' && e.at > 0)).toBe(true);
    expect(entries[3]?.diff?.tps).toEqual([null, 500]);
    expect(JSON.stringify(audit.body)).not.toContain(k1);
    expect(JSON.stringify(audit.body)).not.toContain(k2);
  });

  it('suspends a tenant (submits refused TENANT_SUSPENDED, connections closed 4003), resumes it, refuses an expired key and masks webhook secrets in the audit', async () => {
    const h = await session.start({ smscs: 1, env: { SWITCHYARD_ADMIN_KEY: ADMIN, SY_WH_SECRET: 'whsecret-0123456789abcdef' } });
    const port = h.engine.port;
    const c = await session.client();
    expect((await wsSubmit(c, 's1')).op).toBe('ack');
    const closed = closeCode(c);
    expect((await api(port, ADMIN, 'POST', '/v1/admin/tenants/acme/suspend')).status).toBe(200);
    expect(await closed).toBe(4003);
    const refused = await submit(port, h.apiKey, 's2');
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('TENANT_SUSPENDED');
    expect((await api(port, ADMIN, 'POST', '/v1/admin/tenants/acme/unsuspend')).status).toBe(200);
    expect((await submit(port, h.apiKey, 's3')).status).toBe(SUBMIT_OK);

    // A key with a 1 s life: works, then is refused once it expired.
    const short = await api(port, ADMIN, 'POST', '/v1/admin/tenants/acme/keys', { label: 'short', ttlSec: 1 });
    const sk = short.body.key as string;
    expect((await submit(port, sk, 's4')).status).toBe(SUBMIT_OK);
    await waitFor(async () => (await submit(port, sk, 's5')).status === 401, 10_000, 'the short key to expire');

    // A webhook secret reference is never shown in the audit's diff.
    const p = await api(port, ADMIN, 'PATCH', '/v1/admin/tenants/acme', { webhook: { url: 'http://127.0.0.1:9/hook', secret: { env: 'SY_WH_SECRET' } }, tps: 777 });
    expect(p.status).toBe(200);
    expect(p.body.restartNeeded).toEqual(['webhook']);
    const audit = await api(port, ADMIN, 'GET', '/v1/admin/audit?tenant=acme&limit=1');
    const e = (audit.body.entries as Array<{ action: string; diff: Record<string, unknown> }>)[0];
    expect(e?.action).toBe('update');
    expect(e?.diff.tps).toEqual([50_000, 777]);
    expect(JSON.stringify(e)).not.toContain('SY_WH_SECRET');
    expect(e?.diff['webhook.secret']).toEqual([null, '(secret, changed)']);
    // Invalid settings are refused with the config schema's words; an unknown route plan by the router's.
    const inv = await api(port, ADMIN, 'PATCH', '/v1/admin/tenants/acme', { tps: -1 });
    expect(inv.status).toBe(400);
    expect(inv.body.code).toBe('INVALID_FIELD');
    expect(String(inv.body.message)).toContain('tps');
    const plan = await api(port, ADMIN, 'POST', '/v1/admin/tenants', { id: 'gamma', routePlan: 'nope' });
    expect(plan.body.code).toBe('INVALID_FIELD');
    expect(String(plan.body.message)).toContain('nope');
    expect((await api(port, ADMIN, 'POST', '/v1/admin/tenants', { id: 'acme' })).body.code).toBe('TENANT_EXISTS');
  });

  it('reload honesty: a tenant added to the config file sends when the reload answers ok; a file change the directory does not take answers RELOAD_INCOMPLETE', async () => {
    const h = await session.start({ smscs: 1, configFile: true, env: { SWITCHYARD_ADMIN_KEY: ADMIN, SY_NEW_KEY: 'new-tenant-key-0123456789' } });
    const port = h.engine.port;
    const file = h.configFile as string;
    const raw = JSON.parse(readFileSync(file, 'utf8')) as { tenants: Array<Record<string, unknown>> };
    raw.tenants.push({ id: 'newco', apiKey: { env: 'SY_NEW_KEY' } });
    writeFileSync(file, JSON.stringify(raw));
    const r = await api(port, ADMIN, 'POST', '/v1/admin/routing/reload');
    expect(r.status).toBe(200);
    expect(r.body.ok).toBe(true);
    // Before this, ok:true came back while the new tenant's key still got 401.
    expect((await submit(port, 'new-tenant-key-0123456789', 'n1')).status).toBe(SUBMIT_OK);

    // Changed through the API: the file's version of it is not applied, and the reload says so.
    expect((await api(port, ADMIN, 'PATCH', '/v1/admin/tenants/newco', { tps: 50 })).status).toBe(200);
    (raw.tenants[1] as Record<string, unknown>).tps = 60;
    writeFileSync(file, JSON.stringify(raw));
    const r2 = await api(port, ADMIN, 'POST', '/v1/admin/routing/reload');
    expect(r2.status).toBe(409);
    expect(r2.body.code).toBe('RELOAD_INCOMPLETE');
    expect((r2.body.details as { ok: boolean }).ok).toBe(false);
    expect(String(r2.body.message)).toContain('newco');

    // A restart keeps the API's version too (Redis wins over the seed), and the key still works.
    await h.restartEngine();
    const t = await api(h.engine.port, ADMIN, 'GET', '/v1/admin/tenants/newco');
    expect((t.body.settings as { tps: number }).tps).toBe(50);
    expect(t.body.source).toBe('api');
    expect((await submit(h.engine.port, 'new-tenant-key-0123456789', 'n2')).status).toBe(SUBMIT_OK);

    // Deleted through the API: gone, keys refused, and a restart does not seed it back.
    expect((await api(h.engine.port, ADMIN, 'DELETE', '/v1/admin/tenants/newco')).status).toBe(200);
    expect((await submit(h.engine.port, 'new-tenant-key-0123456789', 'n3')).status).toBe(401);
    await h.restartEngine();
    expect((await api(h.engine.port, ADMIN, 'GET', '/v1/admin/tenants/newco')).status).toBe(404);
    expect((await submit(h.engine.port, 'new-tenant-key-0123456789', 'n4')).status).toBe(401);
  });
});
