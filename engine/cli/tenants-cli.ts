/**
 * `switchyard tenants ...` and `switchyard keys ...`: the admin tenant API
 * (engine/http/tenant-routes.ts) from the command line, against a running
 * engine (`--url`, default http://127.0.0.1:8080) with SWITCHYARD_ADMIN_KEY.
 * Every change is audited as "admin ($USER)".
 *
 *   switchyard tenants list
 *   switchyard tenants show ID
 *   switchyard tenants create ID [--file TENANT.json] [--set key=value ...] [--no-key]
 *   switchyard tenants update ID [--file TENANT.json] [--set key=value ...]   (only the fields given change)
 *   switchyard tenants suspend|unsuspend|delete ID
 *   switchyard tenants audit [ID] [--limit N]
 *   switchyard keys list TENANT
 *   switchyard keys issue TENANT --label TEXT [--ttl SECONDS]   (the key is printed once)
 *   switchyard keys revoke TENANT KEY_ID
 *
 * `--set` values are JSON when they parse as JSON (numbers, booleans, arrays),
 * else strings: `--set tps=500 --set senders='["Acme"]' --set routePlan=eu`.
 */
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { SwitchyardError } from '../errors.js';

export const TENANTS_USAGE = `usage: switchyard tenants list|show ID|create ID|update ID|suspend ID|unsuspend ID|delete ID|audit [ID]
         [--url http://127.0.0.1:8080] [--file TENANT.json] [--set key=value ...] [--no-key] [--limit N] [--json]
       switchyard keys list TENANT | issue TENANT --label TEXT [--ttl SECONDS] | revoke TENANT KEY_ID [--url URL]
  SWITCHYARD_ADMIN_KEY is the admin key. Tenant fields are the config file's (README "Tenants as data").`;

const OPTIONS = {
  url: { type: 'string', default: 'http://127.0.0.1:8080' },
  file: { type: 'string' },
  set: { type: 'string', multiple: true },
  'no-key': { type: 'boolean', default: false },
  limit: { type: 'string' },
  label: { type: 'string' },
  ttl: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

function actor(): string {
  try {
    return userInfo().username;
  } catch {
    return '';
  }
}

async function call(url: string, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const key = process.env.SWITCHYARD_ADMIN_KEY ?? '';
  if (key === '') throw new SwitchyardError('UNAUTHORIZED', 'set SWITCHYARD_ADMIN_KEY to the engine\'s admin key');
  let res: Response;
  try {
    res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'x-switchyard-actor': actor(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
    throw new SwitchyardError('UNAVAILABLE', `cannot reach the engine at ${url}: ${cause}`);
  }
  const text = await res.text();
  let out: Record<string, unknown>;
  try {
    out = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new SwitchyardError('UNAVAILABLE', `${url}${path} answered ${res.status} with a body that is not JSON`);
  }
  if (!res.ok) {
    const code = typeof out.code === 'string' ? out.code : 'UNAVAILABLE';
    throw new SwitchyardError(code as 'UNAVAILABLE', String(out.error ?? out.message ?? `HTTP ${res.status}`));
  }
  return out;
}

/** Tenant fields from --file and --set (in that order: --set wins). */
function fieldsOf(file: string | undefined, sets: ReadonlyArray<string> | undefined): Record<string, unknown> {
  let out: Record<string, unknown> = {};
  if (file !== undefined) {
    try {
      out = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new SwitchyardError('BAD_REQUEST', `--file ${file}: ${(err as Error).message}`);
    }
  }
  for (const s of sets ?? []) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new SwitchyardError('BAD_REQUEST', `--set ${s}: give key=value (e.g. --set tps=500)`);
    const raw = s.slice(eq + 1);
    let v: unknown = raw;
    try {
      v = JSON.parse(raw);
    } catch {
      // a plain string
    }
    out[s.slice(0, eq)] = v;
  }
  return out;
}

function positiveInt(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new SwitchyardError('BAD_REQUEST', `--${name} must be a whole number of at least 1 (got "${v}")`);
  return n;
}

const enc = encodeURIComponent;

export async function tenantsCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  const [sub, id] = positionals;
  const need = (): string => {
    if (id === undefined) throw new SwitchyardError('BAD_REQUEST', `switchyard tenants ${sub ?? ''}: give the tenant id\n${TENANTS_USAGE}`);
    return id;
  };
  const print = (o: unknown): void => console.log(JSON.stringify(o, null, 2));
  switch (sub) {
    case 'list': {
      const r = await call(values.url, 'GET', '/v1/admin/tenants');
      if (values.json) return print(r);
      for (const t of r.tenants as Array<{ id: string; suspended: boolean; source: string; keys: number; settings: { tps: number } }>)
        console.log(`${t.id.padEnd(32)} ${t.suspended ? 'SUSPENDED' : 'active   '} keys ${String(t.keys).padStart(3)}  tps ${t.settings.tps}  (${t.source})`);
      return;
    }
    case 'show':
      return print(await call(values.url, 'GET', `/v1/admin/tenants/${enc(need())}`));
    case 'create': {
      const r = await call(values.url, 'POST', `/v1/admin/tenants${values['no-key'] ? '?key=none' : ''}`, { ...fieldsOf(values.file, values.set), id: need() });
      print(r);
      if (r.key !== undefined) console.error('The key above is shown once: store it now (only its SHA-256 is kept).');
      return;
    }
    case 'update':
      return print(await call(values.url, 'PATCH', `/v1/admin/tenants/${enc(need())}`, fieldsOf(values.file, values.set)));
    case 'suspend':
    case 'unsuspend':
      return print(await call(values.url, 'POST', `/v1/admin/tenants/${enc(need())}/${sub}`));
    case 'delete':
      return print(await call(values.url, 'DELETE', `/v1/admin/tenants/${enc(need())}`));
    case 'audit': {
      const q = new URLSearchParams();
      if (id !== undefined) q.set('tenant', id);
      const limit = positiveInt(values.limit, 'limit');
      if (limit !== undefined) q.set('limit', String(limit));
      const r = await call(values.url, 'GET', `/v1/admin/audit?${q}`);
      if (values.json) return print(r);
      for (const e of r.entries as Array<{ at: number; who: string; action: string; tenant: string; key?: { id: string; label: string }; diff?: unknown }>)
        console.log(`${new Date(e.at).toISOString()}  ${e.who}  ${e.action} ${e.tenant}${e.key === undefined ? '' : ` key ${e.key.id} (${e.key.label})`}${e.diff === undefined ? '' : `  ${JSON.stringify(e.diff)}`}`);
      return;
    }
    default:
      throw new SwitchyardError('BAD_REQUEST', `${sub === undefined ? 'give a subcommand' : `unknown subcommand "${sub}"`}\n${TENANTS_USAGE}`);
  }
}

export async function keysCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  const [sub, tenant, keyId] = positionals;
  if (tenant === undefined) throw new SwitchyardError('BAD_REQUEST', `switchyard keys ${sub ?? ''}: give the tenant id\n${TENANTS_USAGE}`);
  const print = (o: unknown): void => console.log(JSON.stringify(o, null, 2));
  switch (sub) {
    case 'list':
      return print(await call(values.url, 'GET', `/v1/admin/tenants/${enc(tenant)}/keys`));
    case 'issue': {
      if (values.label === undefined) throw new SwitchyardError('BAD_REQUEST', 'switchyard keys issue: give --label TEXT (what the key is for)');
      const ttl = positiveInt(values.ttl, 'ttl');
      print(await call(values.url, 'POST', `/v1/admin/tenants/${enc(tenant)}/keys`, { label: values.label, ...(ttl === undefined ? {} : { ttlSec: ttl }) }));
      console.error('The key above is shown once: store it now (only its SHA-256 is kept).');
      return;
    }
    case 'revoke':
      if (keyId === undefined) throw new SwitchyardError('BAD_REQUEST', 'switchyard keys revoke TENANT KEY_ID: give the key id (switchyard keys list TENANT)');
      return print(await call(values.url, 'DELETE', `/v1/admin/tenants/${enc(tenant)}/keys/${enc(keyId)}`));
    default:
      throw new SwitchyardError('BAD_REQUEST', `${sub === undefined ? 'give a subcommand' : `unknown subcommand "${sub}"`}\n${TENANTS_USAGE}`);
  }
}
