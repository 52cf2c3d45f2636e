/**
 * The tenant directory as a node module (engine/node/node-module.ts): opened
 * before the other modules are created (they start from the directory's
 * tenants), attached to them when the modules start (first in the list, so
 * before the ingress listens), its admin routes, and the honest answer of a
 * routing reload (the file's tenants seeded, what could not be applied named).
 */
import type { Config } from '../../config/index.js';
import { connectRedis } from '../redis/connect-redis.js';
import { onRedisError } from '../redis/on-redis-error.js';
import { resolveWebhookTenants } from '../webhooks/webhook-tenants.js';
import type { NodeContext } from '../node/node-context.js';
import type { NodeModule } from '../node/node-module.js';
import { TenantsFeature, type TenantPorts } from './tenants-feature.js';

/** What a reload did beyond routing: ok only when everything the file changed is applied. */
export interface ReloadOutcome {
  readonly ok: boolean;
  /** Why not (ok false). */
  readonly error?: string;
  readonly detail: Record<string, unknown>;
}

/** Opens the directory on a subscriber connection of its own: seeds the config's tenants, loads, follows. */
export async function openTenants(ctx: NodeContext): Promise<TenantsFeature> {
  // The config's webhook secrets are checked before anything opens: a missing or short one is CONFIG_INVALID.
  resolveWebhookTenants(ctx.config.tenants, ctx.env);
  const subscriber = connectRedis(ctx.target, { connectionName: 'sy-tenants', blocking: true });
  onRedisError(subscriber, 'tenants', (m) => ctx.log('warn', m));
  try {
    return await TenantsFeature.open({ config: ctx.config, env: ctx.env, redis: ctx.redis, subscriber, clock: ctx.clock, log: ctx.log });
  } catch (err) {
    subscriber.disconnect();
    throw err;
  }
}

/** The module: attaches the directory to the modules that hold tenants (getters: they are created after it). */
export function tenantsModule(feature: TenantsFeature, ports: () => TenantPorts, maxBodyBytes: number): NodeModule {
  return {
    name: 'tenants',
    start: () => feature.attach(ports()),
    stop: () => feature.stop(),
    routes: (app, http) => feature.routes(app, http.auth, maxBodyBytes),
  };
}

/** Top-level config sections a reload does not apply (all but routing and tenants) that differ. */
export function restartSections(running: Config, next: Config): string[] {
  return Object.keys({ ...running, ...next }).filter((k) => k !== 'routing' && k !== 'tenants' && JSON.stringify((running as Record<string, unknown>)[k]) !== JSON.stringify((next as Record<string, unknown>)[k]));
}

/**
 * After a routing reload: the file's tenants seeded into the directory (new
 * ones created, seeded ones updated; ones changed through the API keep their
 * Redis version), and the other sections compared with the running config.
 */
export function reloadTenants(feature: TenantsFeature, running: Config): (next: Config) => Promise<ReloadOutcome> {
  return async (next) => {
    const restartNeeded = restartSections(running, next);
    let seed: { written: string[]; kept: string[] };
    try {
      seed = await feature.seed(next);
    } catch (err) {
      return { ok: false, error: `routing reloaded, but the file's tenants were not applied: ${(err as Error).message}`, detail: { restartNeeded } };
    }
    const why = [
      ...(seed.kept.length > 0 ? [`tenants changed or deleted through the admin API keep their Redis version (the file's is not applied): ${seed.kept.join(', ')}`] : []),
      ...(restartNeeded.length > 0 ? [`changed sections need a restart: ${restartNeeded.join(', ')}`] : []),
    ];
    return why.length === 0
      ? { ok: true, detail: { tenants: { written: seed.written } } }
      : { ok: false, error: `routing reloaded, but not everything: ${why.join('; ')}`, detail: { tenants: seed, restartNeeded } };
  };
}
