/**
 * Tenants and API keys as data (admin key; engine/tenants/). Every change is
 * written to Redis and applied by every node within a second; every change is
 * audited (who: "admin", with the X-Switchyard-Actor header's name if given).
 *
 *   GET    /v1/admin/tenants                    every tenant: settings, suspended, source, key count
 *   POST   /v1/admin/tenants[?key=none]         create (body: a config-file tenant without apiKey);
 *                                                answers 201 with a first key (shown once) unless key=none
 *   GET    /v1/admin/tenants/ID                 one tenant
 *   PUT    /v1/admin/tenants/ID                 replace its settings (body: the whole tenant)
 *   PATCH  /v1/admin/tenants/ID                 change some settings (body: top-level fields to replace)
 *   POST   /v1/admin/tenants/ID/suspend         submits refused TENANT_SUSPENDED, connections closed 4003
 *   POST   /v1/admin/tenants/ID/unsuspend
 *   DELETE /v1/admin/tenants/ID                 the tenant and its keys (queued messages: README)
 *   GET    /v1/admin/tenants/ID/keys            its keys: id, label, createdAt, expiresAt (never a key or hash)
 *   POST   /v1/admin/tenants/ID/keys            issue one: {"label", "expiresAt"?: ms | "ttlSec"?}; the key is shown once
 *   DELETE /v1/admin/tenants/ID/keys/KEY_ID     revoke: refused on HTTP and its connections closed 4001, on every node
 *   GET    /v1/admin/audit[?tenant=ID&limit=N&before=ENTRY_ID]   the changes, newest first
 */
import type uWS from 'uWebSockets.js';
import { z } from 'zod';
import { route, QueryInt, TenantId, type RouteSpec } from '../api-spec/route-spec.js';
import { SwitchyardError, type ErrorCode } from '../errors.js';
import type { TenantDirectory } from '../tenants/tenant-directory.js';
import { tenantSettingsSchema, type KeyRecord, type TenantRecord, type TenantSettings } from '../tenants/tenant-records.js';
import { decodeParam, guard, readJsonBody, sendError, sendJson, type ApiAuth, type AuthTenant } from './http-kit.js';

export interface TenantRouteDeps {
  readonly directory: TenantDirectory;
  readonly auth: ApiAuth<AuthTenant>;
  readonly maxBodyBytes: number;
  /** Why these settings cannot be applied on this deployment (an unknown plan or SMSC, an unset webhook secret), or undefined. */
  readonly check: (settings: TenantSettings) => string | undefined;
  /** Settings fields a change of which this node applies only at its next restart (none: every field follows). */
  readonly restartFields?: ReadonlyArray<keyof TenantSettings>;
}

/** Most audit entries one request returns. */
const MAX_AUDIT = 1000;
/** Longest key label (characters). */
const MAX_LABEL = 100;

function zodText(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length === 0 ? '(body)' : i.path.join('.')}: ${i.message}`).join('; ');
}

/** Who changes: "admin", and the X-Switchyard-Actor name when given (the CLI sends $USER). Read synchronously. */
function whoOf(req: uWS.HttpRequest): string {
  const a = req.getHeader('x-switchyard-actor');
  return /^[A-Za-z0-9 ._@-]{1,64}$/.test(a) ? `admin (${a})` : 'admin';
}

function view(r: TenantRecord, keys: number): Record<string, unknown> {
  return { id: r.id, suspended: r.suspended, source: r.source, createdAt: r.createdAt, updatedAt: r.updatedAt, keys, settings: r.settings };
}

function keyView(k: KeyRecord): Record<string, unknown> {
  return { id: k.id, label: k.label, createdAt: k.createdAt, expiresAt: k.expiresAt === 0 ? null : k.expiresAt, by: k.by };
}

export function registerTenantRoutes(app: uWS.TemplatedApp, d: TenantRouteDeps): void {
  const dir = d.directory;
  const keyCount = (id: string): number => {
    let n = 0;
    for (const k of dir.snapshot.keys.values()) if (k.tenant === id) n++;
    return n;
  };
  const fail = (res: uWS.HttpResponse, alive: () => boolean, err: unknown): void => {
    if (!alive()) return;
    if (err instanceof SwitchyardError) {
      return sendError(res, err.code, err.message);
    }
    sendError(res, 'UNAVAILABLE', `the tenant directory could not be changed: ${(err as Error).message}`);
  };
  /** Validates settings (the config's tenant schema, then this deployment's plans and SMSCs). */
  const validate = (body: unknown): TenantSettings | string => {
    const r = tenantSettingsSchema.safeParse(body);
    if (!r.success) return zodText(r.error);
    return d.check(r.data) ?? r.data;
  };
  const restartNeeded = (before: TenantSettings | undefined, after: TenantSettings): string[] =>
    (d.restartFields ?? []).filter((f) => JSON.stringify(before?.[f] ?? null) !== JSON.stringify(after[f] ?? null) && !(before === undefined && (after[f] === undefined || (Array.isArray(after[f]) && (after[f] as unknown[]).length === 0)))) as string[];
  const idParam = (res: uWS.HttpResponse, req: uWS.HttpRequest): string | undefined => {
    const id = decodeParam(req.getParameter(0) ?? '');
    if (id === undefined || id === '') {
      sendError(res, 'BAD_REQUEST', 'the tenant id in the path is not readable');
      return undefined;
    }
    return id;
  };

  app.get('/v1/admin/tenants', (res, req) => {
    if (!d.auth.admin(res, req)) return;
    const counts = new Map<string, number>();
    for (const k of dir.snapshot.keys.values()) counts.set(k.tenant, (counts.get(k.tenant) ?? 0) + 1);
    const tenants = [...dir.snapshot.tenants.values()].sort((a, b) => a.id.localeCompare(b.id)).map((r) => view(r, counts.get(r.id) ?? 0));
    sendJson(res, '200 OK', { version: dir.snapshot.version, tenants });
  });

  app.get('/v1/admin/tenants/:id', (res, req) => {
    if (!d.auth.admin(res, req)) return;
    const id = idParam(res, req);
    if (id === undefined) return;
    const r = dir.snapshot.tenants.get(id);
    if (r === undefined) return sendError(res, 'NOT_FOUND', `no tenant "${id}"`);
    sendJson(res, '200 OK', view(r, keyCount(id)));
  });

  app.post('/v1/admin/tenants', (res, req) => {
    if (!d.auth.admin(res, req)) return;
    const who = whoOf(req);
    const withKey = req.getQuery('key') !== 'none';
    return readJsonBody(res, d.maxBodyBytes, async (body, alive) => {
      const s = validate(body);
      if (typeof s === 'string') return void (alive() && sendError(res, 'INVALID_FIELD', s));
      try {
        const rec = await dir.create(s.id, s, who);
        const key = withKey ? await dir.issueKey(s.id, 'first key', 0, who) : undefined;
        if (!alive()) return;
        sendJson(res, '201 Created', {
          tenant: view(rec, key === undefined ? 0 : 1),
          ...(key === undefined ? {} : { key: { ...keyView(key.record), key: key.key } }),
          restartNeeded: restartNeeded(undefined, s),
        });
      } catch (err) {
        fail(res, alive, err);
      }
    });
  });

  const change = (patch: boolean) => (res: uWS.HttpResponse, req: uWS.HttpRequest): Promise<void> | undefined => {
    if (!d.auth.admin(res, req)) return undefined;
    const id = idParam(res, req);
    if (id === undefined) return undefined;
    const who = whoOf(req);
    return readJsonBody(res, d.maxBodyBytes, async (body, alive) => {
      const before = dir.snapshot.tenants.get(id);
      if (before === undefined) return void (alive() && sendError(res, 'NOT_FOUND', `no tenant "${id}"`));
      if (typeof body !== 'object' || body === null || Array.isArray(body)) return void (alive() && sendError(res, 'INVALID_FIELD', '(body): must be a JSON object of tenant settings'));
      const b = body as Record<string, unknown>;
      if (b.id !== undefined && b.id !== id) return void (alive() && sendError(res, 'INVALID_FIELD', `id: "${String(b.id)}" differs from the tenant in the path ("${id}"); ids do not change`));
      const s = validate(patch ? { ...before.settings, ...b, id } : { ...b, id });
      if (typeof s === 'string') return void (alive() && sendError(res, 'INVALID_FIELD', s));
      try {
        const rec = await dir.update(id, s, who);
        if (alive()) sendJson(res, '200 OK', { tenant: view(rec, keyCount(id)), restartNeeded: restartNeeded(before.settings, s) });
      } catch (err) {
        fail(res, alive, err);
      }
    });
  };
  app.put('/v1/admin/tenants/:id', change(false));
  app.patch('/v1/admin/tenants/:id', change(true));

  for (const [path, suspended] of [['suspend', true], ['unsuspend', false]] as const) {
    app.post(`/v1/admin/tenants/:id/${path}`, (res, req) => {
      if (!d.auth.admin(res, req)) return;
      const id = idParam(res, req);
      if (id === undefined) return;
      const g = guard(res);
      return dir.setSuspended(id, suspended, whoOf(req)).then(
        (rec) => void (g.alive() && sendJson(res, '200 OK', { tenant: view(rec, keyCount(id)) })),
        (err: unknown) => fail(res, g.alive, err),
      );
    });
  }

  app.del('/v1/admin/tenants/:id', (res, req) => {
    if (!d.auth.admin(res, req)) return;
    const id = idParam(res, req);
    if (id === undefined) return;
    const g = guard(res);
    return dir.delete(id, whoOf(req)).then(
      () => void (g.alive() && sendJson(res, '200 OK', { deleted: id })),
      (err: unknown) => fail(res, g.alive, err),
    );
  });

  app.get('/v1/admin/tenants/:id/keys', (res, req) => {
    if (!d.auth.admin(res, req)) return;
    const id = idParam(res, req);
    if (id === undefined) return;
    if (!dir.snapshot.tenants.has(id)) return sendError(res, 'NOT_FOUND', `no tenant "${id}"`);
    const g = guard(res);
    return dir.listKeys(id).then(
      (keys) => void (g.alive() && sendJson(res, '200 OK', { tenant: id, keys: keys.map(keyView) })),
      (err: unknown) => fail(res, g.alive, err),
    );
  });

  app.post('/v1/admin/tenants/:id/keys', (res, req) => {
    if (!d.auth.admin(res, req)) return;
    const id = idParam(res, req);
    if (id === undefined) return;
    const who = whoOf(req);
    return readJsonBody(res, d.maxBodyBytes, async (body, alive) => {
      const b = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {}) as Record<string, unknown>;
      const unknown = Object.keys(b).filter((k) => k !== 'label' && k !== 'expiresAt' && k !== 'ttlSec');
      if (unknown.length > 0) return void (alive() && sendError(res, 'INVALID_FIELD', `${unknown[0]}: unknown field (give "label" and optionally "expiresAt" (epoch ms) or "ttlSec")`));
      const label = b.label;
      if (typeof label !== 'string' || label.length === 0 || label.length > MAX_LABEL) return void (alive() && sendError(res, 'INVALID_FIELD', `label: must be a string of 1-${MAX_LABEL} characters (what the key is for: "prod 2026-12")`));
      let expiresAt = 0;
      const now = Date.now();
      if (b.expiresAt !== undefined && b.ttlSec !== undefined) return void (alive() && sendError(res, 'INVALID_FIELD', 'give "expiresAt" or "ttlSec", not both'));
      if (b.expiresAt !== undefined) {
        if (typeof b.expiresAt !== 'number' || !Number.isInteger(b.expiresAt) || b.expiresAt <= now) return void (alive() && sendError(res, 'INVALID_FIELD', 'expiresAt: must be a time in the future, in epoch milliseconds'));
        expiresAt = b.expiresAt;
      }
      if (b.ttlSec !== undefined) {
        if (typeof b.ttlSec !== 'number' || !Number.isInteger(b.ttlSec) || b.ttlSec < 1) return void (alive() && sendError(res, 'INVALID_FIELD', 'ttlSec: must be a whole number of seconds, at least 1'));
        expiresAt = now + b.ttlSec * 1000;
      }
      try {
        const k = await dir.issueKey(id, label, expiresAt, who);
        if (alive()) sendJson(res, '201 Created', { tenant: id, ...keyView(k.record), key: k.key });
      } catch (err) {
        fail(res, alive, err);
      }
    });
  });

  app.del('/v1/admin/tenants/:id/keys/:key', (res, req) => {
    if (!d.auth.admin(res, req)) return;
    const id = idParam(res, req);
    if (id === undefined) return;
    const keyId = decodeParam(req.getParameter(1) ?? '') ?? '';
    const g = guard(res);
    return dir.revokeKey(id, keyId, whoOf(req)).then(
      (k) => void (g.alive() && sendJson(res, '200 OK', { tenant: id, revoked: keyView(k) })),
      (err: unknown) => fail(res, g.alive, err),
    );
  });

  app.get('/v1/admin/audit', (res, req) => {
    if (!d.auth.admin(res, req)) return;
    const q = new URLSearchParams(req.getQuery() ?? '');
    const limit = Number(q.get('limit') ?? 100);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT) return sendError(res, 'BAD_REQUEST', `limit: must be a whole number from 1 to ${MAX_AUDIT}`);
    const before = q.get('before') ?? undefined;
    if (before !== undefined && !/^[0-9]{1,20}-[0-9]{1,20}$/.test(before)) return sendError(res, 'BAD_REQUEST', 'before: must be an audit entry id as this API gave it ("1733600000000-0")');
    const g = guard(res);
    return dir.audit({ limit, tenant: q.get('tenant') ?? undefined, before }).then(
      (r) => void (g.alive() && sendJson(res, '200 OK', r)),
      (err: unknown) => fail(res, g.alive, err),
    );
  });
}

/** The contracts of these routes (engine/api-spec/): tenant settings are the config file's tenant (config/schema.ts tenantSchema), validated by it. */
const TenantPath = z.object({ id: TenantId });
const Settings = z.looseObject({}).describe("a tenant's settings: the fields of the config file's tenants[] entry (README \"Configuration\"), without apiKey");
const DIR_ERRORS: ErrorCode[] = ['NOT_FOUND', 'INVALID_FIELD', 'CHANGE_CONFLICT', 'UNAVAILABLE'];
export const TENANT_ROUTES: readonly RouteSpec[] = [
  route({ method: 'get', path: '/v1/admin/tenants', summary: 'Every tenant of the directory, with its settings, state and key count', tags: ['tenants'], auth: 'admin', ok: { 200: z.looseObject({ version: z.number(), tenants: z.array(z.looseObject({})) }) } }),
  route({ method: 'get', path: '/v1/admin/tenants/:id', summary: 'One tenant', tags: ['tenants'], auth: 'admin', params: TenantPath, ok: { 200: z.looseObject({}) }, errors: ['NOT_FOUND'] }),
  route({ method: 'post', path: '/v1/admin/tenants', query: z.object({ key: z.literal('none').optional().describe('none: issue no first key') }), summary: 'Create a tenant (applied on every node within a second); its first API key is issued and shown once', tags: ['tenants'], auth: 'admin', body: Settings, ok: { 201: z.looseObject({}) }, errors: ['INVALID_FIELD', 'TENANT_EXISTS', 'CHANGE_CONFLICT', 'UNAVAILABLE'] }),
  route({ method: 'put', path: '/v1/admin/tenants/:id', summary: "Replace a tenant's settings", tags: ['tenants'], auth: 'admin', params: TenantPath, body: Settings, ok: { 200: z.looseObject({ tenant: z.looseObject({}) }) }, errors: DIR_ERRORS }),
  route({ method: 'patch', path: '/v1/admin/tenants/:id', summary: "Change some of a tenant's settings", tags: ['tenants'], auth: 'admin', params: TenantPath, body: Settings, ok: { 200: z.looseObject({ tenant: z.looseObject({}) }) }, errors: DIR_ERRORS }),
  route({ method: 'post', path: '/v1/admin/tenants/:id/suspend', summary: "Suspend a tenant: its submits are refused TENANT_SUSPENDED, its connections closed 4003", tags: ['tenants'], auth: 'admin', params: TenantPath, ok: { 200: z.looseObject({ tenant: z.looseObject({}) }) }, errors: DIR_ERRORS }),
  route({ method: 'post', path: '/v1/admin/tenants/:id/unsuspend', summary: 'Lift a suspension', tags: ['tenants'], auth: 'admin', params: TenantPath, ok: { 200: z.looseObject({ tenant: z.looseObject({}) }) }, errors: DIR_ERRORS }),
  route({ method: 'delete', path: '/v1/admin/tenants/:id', summary: 'Delete a tenant (README "Tenants as data": what happens to its queued messages)', tags: ['tenants'], auth: 'admin', params: TenantPath, ok: { 200: z.looseObject({ deleted: z.string() }) }, errors: DIR_ERRORS }),
  route({ method: 'get', path: '/v1/admin/tenants/:id/keys', summary: "A tenant's API keys: id, label, expiry (never the key)", tags: ['tenants'], auth: 'admin', params: TenantPath, ok: { 200: z.looseObject({ tenant: z.string(), keys: z.array(z.looseObject({})) }) }, errors: DIR_ERRORS }),
  route({ method: 'post', path: '/v1/admin/tenants/:id/keys', summary: 'Issue an API key (shown once; stored as its SHA-256)', tags: ['tenants'], auth: 'admin', params: TenantPath, body: z.looseObject({ label: z.string(), expiresAt: z.number().int().optional(), ttlSec: z.number().int().optional() }), ok: { 201: z.looseObject({ tenant: z.string(), key: z.string() }) }, errors: DIR_ERRORS }),
  route({ method: 'delete', path: '/v1/admin/tenants/:id/keys/:key', summary: 'Revoke a key: refused on every node within a second, its WebSocket connections closed 4001', tags: ['tenants'], auth: 'admin', params: z.object({ id: TenantId, key: z.string().describe('the key id (from the key list)') }), ok: { 200: z.looseObject({ tenant: z.string(), revoked: z.looseObject({}) }) }, errors: DIR_ERRORS }),
  route({ method: 'get', path: '/v1/admin/audit', summary: 'The audit log of tenant and key changes, newest first: who, when, what (a diff without secrets)', tags: ['tenants'], auth: 'admin', query: z.object({ limit: QueryInt.optional(), before: z.string().optional(), tenant: TenantId.optional() }), ok: { 200: z.looseObject({}) }, errors: ['UNAVAILABLE'] }),
];
