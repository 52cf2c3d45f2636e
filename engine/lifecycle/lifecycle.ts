/**
 * Wires a message's life around the message path, for one engine node: the
 * scheduler, cancels (batched), daily quotas, sender allowlists, the list
 * index trimming, and the HTTP routes for messages and usage. The engine
 * makes one of these and hands its parts to the ingress.
 */
import { eventsCapPerShard } from '../queue/event-streams.js';
import type { Redis } from 'ioredis';
import type uWS from 'uWebSockets.js';
import type { Config } from '../../config/index.js';
import type { Clock } from '../flow/clock.js';
import type { AuthTenant, ApiAuth } from '../http/http-kit.js';
import { registerMessageRoutes } from '../http/message-routes.js';
import { registerUsageRoutes } from '../http/usage-routes.js';
import type { CancelPort, IngressTenant, QuotaPort } from '../ingress/ingress-server.js';
import { LifecycleStore } from '../queue/lifecycle-store.js';
import type { Keys } from '../queue/keys.js';
import { CancelBatcher, cancelPort, type CancelReply } from './cancel-batcher.js';
import { trimListIndexes } from './message-query.js';
import { QuotaTracker } from './quota-tracker.js';
import { Scheduler } from './scheduler.js';
import { compileSenders } from './sender-allowlist.js';

export interface LifecycleOptions {
  readonly config: Config;
  readonly redis: Redis;
  readonly keys: Keys;
  readonly clock: Clock;
  readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

/** What the lifecycle reads of a tenant. */
export type LifecycleTenant = Pick<Config['tenants'][number], 'id' | 'senders' | 'transliterate' | 'billOn' | 'dailyQuota'>;

/** How often the list index is trimmed to messages.listRetentionSec (ms). */
const TRIM_EVERY_MS = 5_000;

export class Lifecycle {
  readonly store: LifecycleStore;
  readonly scheduler: Scheduler;
  readonly quota: QuotaTracker;
  readonly cancels: CancelBatcher;
  private trimTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: LifecycleOptions) {
    const c = o.config;
    this.store = new LifecycleStore(o.redis, o.keys, { eventsMaxLen: eventsCapPerShard(c.messages.statusRetention, c.redis.shards), finalRetentionSec: c.messages.finalRetentionSec }, c.smscs.map((s) => s.id));
    this.scheduler = new Scheduler(this.store, o.clock, o.log);
    this.quota = new QuotaTracker(o.redis, o.keys, c.tenants, o.clock);
    this.cancels = new CancelBatcher(this.store, () => o.clock.now());
    this.tenants = c.tenants;
    for (const t of c.tenants) this.billOn.set(t.id, t.billOn);
  }

  /** The tenants served (the config's until the tenant directory's arrive by setTenants). */
  private tenants: ReadonlyArray<LifecycleTenant>;
  /** tenants[].billOn by tenant, read by the usage routes (updated in place). */
  private readonly billOn = new Map<string, 'sent' | 'delivered'>();

  /** The tenants from now on (the tenant directory changed): quotas, billing, list trimming. */
  setTenants(tenants: ReadonlyArray<LifecycleTenant>): void {
    this.tenants = tenants;
    this.quota.setQuotas(tenants);
    this.billOn.clear();
    for (const t of tenants) this.billOn.set(t.id, t.billOn);
  }

  /** The tenant's lifecycle settings for the ingress (sender allowlist, transliteration, billing). */
  tenant(id: string): Pick<IngressTenant, 'senders' | 'accept'> {
    return Lifecycle.ingressFields(this.tenants.find((x) => x.id === id));
  }

  /** A tenant's lifecycle settings for the ingress, from its record. */
  static ingressFields(t: LifecycleTenant | undefined): Pick<IngressTenant, 'senders' | 'accept'> {
    const senders = compileSenders(t?.senders);
    return { ...(senders === undefined ? {} : { senders }), accept: { transliterate: t?.transliterate ?? false, billOn: t?.billOn ?? 'sent' } };
  }

  /** What the ingress needs: limits, the quota and the cancel ports. */
  ingressOptions(): { minValiditySec: number; maxScheduleSec: number; quota: QuotaPort; cancel: CancelPort } {
    return {
      minValiditySec: this.o.config.messages.minValiditySec,
      maxScheduleSec: this.o.config.messages.maxScheduleSec,
      quota: this.quota,
      cancel: cancelPort(this.cancels),
    };
  }

  /** Registers GET/POST /v1/messages/… and GET /v1/usage. */
  routes(
    app: uWS.TemplatedApp,
    auth: ApiAuth<AuthTenant>,
    cancel: (tenant: string, f: Record<string, unknown>, done: (r: CancelReply) => void) => void,
    history?: (tenant: string, id: string) => Promise<Record<string, unknown> | undefined>,
  ): void {
    registerMessageRoutes(app, { auth, redis: this.o.redis, keys: this.o.keys, cancel, ...(history === undefined ? {} : { history }) });
    registerUsageRoutes(app, { auth, redis: this.o.redis, keys: this.o.keys, clock: this.o.clock, tenants: this.billOn });
  }

  async start(): Promise<void> {
    await this.quota.start();
    this.scheduler.start();
 const trim = () =>
      trimListIndexes(this.o.redis, this.o.keys, this.tenants.map((t) => t.id), this.o.clock.now(), this.o.config.messages.listRetentionSec).catch((err: Error) =>
        this.o.log('warn', `list index trim failed: ${err.message}`),
      );
    void trim();
    this.trimTimer = setInterval(() => void trim(), TRIM_EVERY_MS);
  }

  async stop(): Promise<void> {
    clearInterval(this.trimTimer);
    await this.scheduler.stop();
    await this.quota.stop();
  }
}
