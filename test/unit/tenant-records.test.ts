/**
 * The tenant directory's pure parts (engine/tenants/tenant-records.ts): the
 * audit diff never holds a secret reference, API keys are 256 random bits
 * hashed with SHA-256, and tenant settings are the config file's tenant
 * schema without `apiKey`.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyHash, newApiKey, settingsDiff, tenantSettingsSchema } from '../../engine/tenants/tenant-records.js';

describe('tenant records', () => {
  it('diffs settings by leaf path, old and new value', () => {
    expect(settingsDiff({ tps: 1, senders: ['A'], moderation: { urlAllowlist: ['a.com'] } }, { tps: 2, senders: ['A'], moderation: { urlAllowlist: ['b.com'] } })).toEqual({
      tps: [1, 2],
      'moderation.urlAllowlist': [['a.com'], ['b.com']],
    });
    expect(settingsDiff({}, { tps: 5 })).toEqual({ tps: [null, 5] });
    expect(settingsDiff({ tps: 5 }, { tps: 5 })).toEqual({});
  });

  it('masks the webhook secret reference in a diff (added, changed, removed)', () => {
    const w = (env: string) => ({ webhook: { url: 'https://h.example/x', secret: { env } } });
    const added = settingsDiff({}, w('SECRET_A'));
    expect(added['webhook.secret']).toEqual([null, '(secret, changed)']);
    expect(added['webhook.url']).toEqual([null, 'https://h.example/x']);
    expect(JSON.stringify(settingsDiff(w('SECRET_A'), w('SECRET_B')))).not.toContain('SECRET_');
    expect(JSON.stringify(settingsDiff(w('SECRET_A'), {}))).not.toContain('SECRET_A');
    expect(settingsDiff(w('SECRET_A'), w('SECRET_A'))).toEqual({});
  });

  it('issues 256-bit keys stored as their SHA-256', () => {
    const a = newApiKey();
    const b = newApiKey();
    expect(a.key).toMatch(/^sy_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a.key.slice(3), 'base64url')).toHaveLength(32);
    expect(a.key).not.toBe(b.key);
    expect(a.id).toMatch(/^k_[0-9a-f]{12}$/);
    expect(keyHash(a.key)).toBe(createHash('sha256').update(a.key).digest('hex'));
  });

  it('validates settings with the config tenant schema (defaults, unknown keys refused, no apiKey)', () => {
    const ok = tenantSettingsSchema.parse({ id: 'acme' });
    expect(ok.tps).toBe(10_000);
    expect(tenantSettingsSchema.safeParse({ id: 'acme', apiKey: { env: 'X' } }).success).toBe(false);
    expect(tenantSettingsSchema.safeParse({ id: 'acme', tpss: 5 }).success).toBe(false);
    expect(tenantSettingsSchema.safeParse({ id: 'Bad Id' }).success).toBe(false);
  });
});
