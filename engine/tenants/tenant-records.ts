/**
 * What the tenant directory stores in Redis (engine/tenants/): tenant records
 * and API key records, their validation, and the audit diff.
 *
 * A tenant's settings are validated by the config file's own tenant schema
 * (config/schema.ts `tenantSchema`), less `apiKey`: keys are records of their
 * own, several per tenant. Secrets in the settings (the webhook's) stay
 * references ({env} / {file}) resolved on each node, never values.
 */
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { tenantSchema, type TenantConfig } from '../../config/index.js';

/** A tenant's settings: the config file's tenant without its key. */
export const tenantSettingsSchema = tenantSchema.omit({ apiKey: true });
export type TenantSettings = z.infer<typeof tenantSettingsSchema>;

export interface TenantRecord {
  readonly id: string;
  readonly settings: TenantSettings;
  /** Submits refused TENANT_SUSPENDED, connections closed 4003, while true. */
  readonly suspended: boolean;
  /** 'seed': as the config file gave it (a restart with a changed file updates it); 'api': changed through the admin API since (the file no longer applies). */
  readonly source: 'seed' | 'api';
  readonly createdAt: number;
  readonly updatedAt: number;
  /** A tombstone: deleted through the API (a config seed of the same id is not written back at restart). */
  readonly deleted?: true;
}

export interface KeyRecord {
  /** Public id of the key ("k_…"): how it is listed and revoked. */
  readonly id: string;
  readonly tenant: string;
  readonly label: string;
  readonly createdAt: number;
  /** Epoch ms after which the key is refused; 0: never. */
  readonly expiresAt: number;
  /** Who issued it (admin key label or "config seed"). */
  readonly by: string;
  /** Kept (not deleted) when a config-file key is revoked: a restart does not seed it back. */
  readonly revoked?: true;
}

/** The key hash of a tenant's config-file key: its record id. */
export const SEED_KEY_ID = 'seed';

/**
 * SHA-256 (hex) of an API key. A plain, unsalted hash suffices because the
 * keys the API issues are 256 random bits: no dictionary or brute force can
 * reach one from its hash, so a slow or salted hash (bcrypt, scrypt) would
 * buy nothing and would cost its work on every connection and HTTP request.
 * Keys a config file names are the operator's choice (documented: use a
 * random one, `openssl rand -hex 32`).
 */
export function keyHash(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** A new API key: "sy_" + 43 base64url characters (32 random bytes), and its public id. */
export function newApiKey(): { key: string; id: string } {
  return { key: `sy_${randomBytes(32).toString('base64url')}`, id: `k_${randomBytes(6).toString('hex')}` };
}

/** The settings of a config-file tenant (its key goes to the keys hash). */
export function settingsOfConfig(t: TenantConfig): TenantSettings {
  return tenantSettingsSchema.parse(Object.fromEntries(Object.entries(t).filter(([k]) => k !== 'apiKey')));
}

export function parseTenantRecord(json: string): TenantRecord | undefined {
  try {
    const r = JSON.parse(json) as TenantRecord;
    if (r.deleted === true) return r;
    // Stored by this code after validation; parsed again so that defaults added since apply.
    return { ...r, settings: tenantSettingsSchema.parse(r.settings) };
  } catch {
    return undefined;
  }
}

export function parseKeyRecord(json: string): KeyRecord | undefined {
  try {
    const r = JSON.parse(json) as KeyRecord;
    return typeof r.tenant === 'string' && typeof r.id === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}

/** Settings keys whose values are secret references: the audit names them, never their values. */
const SECRET_PATHS = new Set(['webhook.secret']);

/**
 * What changed between two settings, as `{path: [before, after]}` for the
 * audit log, leaves compared as JSON. Secret references are shown as
 * "(changed)" only: the audit never holds a secret or where it lives.
 */
export function settingsDiff(before: unknown, after: unknown, path = ''): Record<string, [unknown, unknown]> {
  const out: Record<string, [unknown, unknown]> = {};
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (SECRET_PATHS.has(path)) {
    if (JSON.stringify(before) !== JSON.stringify(after)) out[path] = [before === undefined ? null : '(secret)', after === undefined ? null : '(secret, changed)'];
    return out;
  }
  if (isObj(before) && isObj(after)) {
    for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) Object.assign(out, settingsDiff(before[k], after[k], path === '' ? k : `${path}.${k}`));
    return out;
  }
  if (isObj(before) || isObj(after)) {
    // An object appearing or going: its leaves, one by one (secrets masked there too).
    return settingsDiff(isObj(before) ? before : {}, isObj(after) ? after : {}, path);
  }
  if (JSON.stringify(before) !== JSON.stringify(after)) out[path] = [before ?? null, after ?? null];
  return out;
}
