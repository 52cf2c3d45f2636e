/**
 * The tenant directory as an engine feature: opened before the modules that
 * read tenants are built (they start from the directory's tenants, not the
 * config file's), then every change is applied to each of them in place:
 *
 *   directory change ─▶ ingress      tenants (window, tps, senders, billing), keys, suspension;
 *                                     connections of revoked keys closed 4001, of suspended tenants 4003
 *                    ─▶ routing      tenants' plans, forced and blocked SMSCs and networks
 *                    ─▶ lifecycle    daily quotas, billOn, list index trimming
 *                    ─▶ moderator    URL allowlists, volume rules
 *                    ─▶ flagged      refuseFlaggedNumbers
 *                    ─▶ id set/list  pause, opt-out and held-message routes, the pause control
 *
 * Two fields run in worker threads fixed at start and follow at the node's
 * next restart (the change's answer lists them in `restartNeeded`, and every
 * node logs it): `webhook` (the webhook worker's tenants) and `inboundNumbers`
 * (the operator actors' MO attribution).
 */
import type uWS from 'uWebSockets.js';
import { resolveSecret, type Config, type TenantConfig } from '../../config/index.js';
import type { Clock } from '../flow/clock.js';
import type { ApiAuth, AuthTenant } from '../http/http-kit.js';
import { registerTenantRoutes } from '../http/tenant-routes.js';
import type { IngressTenantUpdate } from '../ingress/ingress-server.js';
import { Lifecycle, type LifecycleTenant } from '../lifecycle/lifecycle.js';
import type { RedisClient } from '../redis/connect-redis.js';
import type { TenantRoutingFields } from '../routing/load-routing.js';
import { resolveWebhookTenants } from '../webhooks/webhook-tenants.js';
import type { WebhookTenant } from '../webhooks/tenant-channel.js';
import { TenantDirectory, type DirectorySnapshot } from './tenant-directory.js';
import { settingsOfConfig, type TenantSettings } from './tenant-records.js';

/** Fields applied at the next restart only (see the header). */
export const RESTART_FIELDS = ['webhook', 'inboundNumbers'] as const;

/** A config tenant built from the directory. `apiKey` is never read (keys come from the directory): a placeholder reference. */
const NO_KEY = Object.freeze({ env: 'SWITCHYARD_KEYS_IN_REDIS' });

export interface TenantPorts {
  readonly ingress: { setTenants(list: ReadonlyArray<IngressTenantUpdate>, keys: ReadonlyMap<string, { readonly tenant: string; readonly expiresAt: number; readonly id: string }>): void };
  readonly routing: { setTenants(t: ReadonlyArray<TenantRoutingFields>): void; checkTenant(t: TenantRoutingFields): string | undefined };
  readonly lifecycle: { setTenants(t: ReadonlyArray<LifecycleTenant>): void };
  readonly moderator: { setTenants(t: ReadonlyArray<TenantConfig>): void };
}

export interface TenantsFeatureOptions {
  readonly config: Config;
  readonly env: NodeJS.ProcessEnv;
  readonly redis: RedisClient;
  readonly subscriber: RedisClient;
  readonly clock: Clock;
  readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

export class TenantsFeature {
  readonly directory: TenantDirectory;
  /** Tenant ids, kept current in place (routes and the pause control hold these very objects). */
  readonly ids = new Set<string>();
  readonly idList: string[] = [];
  /** Tenants refusing flagged numbers (FlaggedNumbers holds this set), kept current in place. */
  readonly refusingFlagged = new Set<string>();
  private ports: TenantPorts | undefined;
  /** Restart-only fields as this node started with them, by tenant (JSON). */
  private readonly startedWith = new Map<string, string>();
  private routingJson = '';
  /** Restart-only fields already warned about, by tenant (JSON): one warning per change. */
  private readonly warned = new Map<string, string>();

  private constructor(private readonly o: TenantsFeatureOptions) {
    this.directory = new TenantDirectory({ redis: o.redis, subscriber: o.subscriber, prefix: o.config.redis.keyPrefix, clock: o.clock, log: o.log });
  }

  /** Seeds the config file's tenants, loads the directory and follows it. */
  static async open(o: TenantsFeatureOptions): Promise<TenantsFeature> {
    const f = new TenantsFeature(o);
    await f.seed(o.config);
    f.directory.onChange((now) => f.apply(now));
    await f.directory.start();
    for (const t of f.configTenants()) f.startedWith.set(t.id, restartJson(t));
    f.applyIds(f.directory.snapshot);
    return f;
  }

  /** Writes a config's tenants as seeds (start, and every routing reload of the file). */
  async seed(config: Config): Promise<{ written: string[]; kept: string[] }> {
    return await this.directory.seed(config.tenants.map((t) => ({ id: t.id, settings: settingsOfConfig(t), key: resolveSecret(t.apiKey, `tenants[${t.id}].apiKey`, this.o.env) })));
  }

  /** The directory's tenants in the config's shape, for the modules built at start. */
  configTenants(snap: DirectorySnapshot = this.directory.snapshot): TenantConfig[] {
    return [...snap.tenants.values()].map((r) => ({ ...r.settings, apiKey: NO_KEY }) as TenantConfig);
  }

  /** The tenants with a webhook whose secret resolves on this node; the others are logged and left out (one bad tenant must not stop a node). */
  webhookTenants(): WebhookTenant[] {
    const out: WebhookTenant[] = [];
    for (const t of this.configTenants()) {
      if (t.webhook === undefined) continue;
      try {
        out.push(...resolveWebhookTenants([t], this.o.env));
      } catch (err) {
        this.o.log('error', `tenant ${t.id}: webhook left out on this node: ${(err as Error).message}`);
      }
    }
    return out;
  }

  /** Hands changes to these modules from now on, and applies the current directory to them. */
  attach(ports: TenantPorts): void {
    this.ports = ports;
    this.apply(this.directory.snapshot);
  }

  /** Why settings cannot be applied here (unknown plan or SMSC, a webhook secret not set on this node), or undefined. */
  check(s: TenantSettings): string | undefined {
    const why = this.ports?.routing.checkTenant(s);
    if (why !== undefined) return why;
    if (s.webhook !== undefined) {
      try {
        resolveWebhookTenants([{ ...s, apiKey: NO_KEY } as TenantConfig], this.o.env);
      } catch (err) {
        return (err as Error).message;
      }
    }
    return undefined;
  }

  routes(app: uWS.TemplatedApp, auth: ApiAuth<AuthTenant>, maxBodyBytes: number): void {
    registerTenantRoutes(app, { directory: this.directory, auth, maxBodyBytes, check: (s) => this.check(s), restartFields: RESTART_FIELDS });
  }

  async stop(): Promise<void> {
    await this.directory.stop();
  }

  private applyIds(snap: DirectorySnapshot): void {
    this.ids.clear();
    this.idList.length = 0;
    this.refusingFlagged.clear();
    const refuse = this.o.config.analytics.badNumbers.refuse;
    for (const r of snap.tenants.values()) {
      this.ids.add(r.id);
      this.idList.push(r.id);
      if (r.settings.refuseFlaggedNumbers ?? refuse) this.refusingFlagged.add(r.id);
    }
  }

  private apply(snap: DirectorySnapshot): void {
    this.applyIds(snap);
    const p = this.ports;
    if (p === undefined) return;
    const tenants = this.configTenants(snap);
    const list: IngressTenantUpdate[] = [];
    for (const r of snap.tenants.values()) {
      const s = r.settings;
      list.push({ id: r.id, tps: s.tps, window: s.window, ...Lifecycle.ingressFields(s), suspended: r.suspended });
    }
    // The router is rebuilt only when routing fields changed (not for a key or a suspension).
    const routingJson = JSON.stringify(tenants.map((t) => [t.id, t.routePlan, t.forceSmsc, t.blockedNetworks, t.blockedSmscs]));
    if (routingJson !== this.routingJson) {
      p.routing.setTenants(tenants);
      this.routingJson = routingJson;
    }
    p.lifecycle.setTenants(tenants);
    p.moderator.setTenants(tenants);
    // Keys last: a new tenant's key works once everything above knows the tenant.
    const keys = new Map<string, { tenant: string; expiresAt: number; id: string }>();
    for (const [h, k] of snap.keys) keys.set(h, { tenant: k.tenant, expiresAt: k.expiresAt, id: k.id });
    p.ingress.setTenants(list, keys);
    for (const t of tenants) {
      const was = this.startedWith.get(t.id);
      const now = restartJson(t);
      if (was !== now && (was !== undefined || now !== restartJson({})) && this.warned.get(t.id) !== now) {
        this.warned.set(t.id, now);
        this.o.log('warn', `tenant ${t.id}: webhook or inboundNumbers changed; this node applies them at its next restart (README "Tenants as data")`);
      }
    }
  }
}

function restartJson(t: Partial<Pick<TenantConfig, 'webhook' | 'inboundNumbers'>>): string {
  return JSON.stringify([t.webhook ?? null, t.inboundNumbers ?? []]);
}
