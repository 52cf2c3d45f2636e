/**
 * The tenants with a webhook, with their secrets resolved, checked at boot:
 * a missing or short secret stops the engine with CONFIG_INVALID before it
 * opens anything (the URL was already checked by the config schema).
 */
import { resolveSecret, type TenantConfig } from '../../config/index.js';
import { SwitchyardError } from '../errors.js';
import type { WebhookTenant } from './tenant-channel.js';

/** Shortest secret accepted: 16 characters (128 bits if random hex or base64). */
export const MIN_SECRET_LENGTH = 16;

export function resolveWebhookTenants(tenants: ReadonlyArray<TenantConfig>, env: NodeJS.ProcessEnv): WebhookTenant[] {
  const out: WebhookTenant[] = [];
  for (const t of tenants) {
    const w = t.webhook;
    if (w === undefined) continue;
    const what = `tenants[${t.id}].webhook.secret`;
    const secret = resolveSecret(w.secret, what, env);
    if (secret.length < MIN_SECRET_LENGTH) throw new SwitchyardError('CONFIG_INVALID', `${what}: must be at least ${MIN_SECRET_LENGTH} characters (e.g. openssl rand -hex 32)`);
    out.push({ id: t.id, url: w.url, secret, timeoutMs: w.timeoutMs, maxBatch: w.maxBatch, lingerMs: w.lingerMs, concurrency: w.concurrency, retryForSec: w.retryForSec, backoffMs: { ...w.backoffMs }, maxQueued: w.maxQueued, maxDeadLetters: w.maxDeadLetters });
  }
  return out;
}
