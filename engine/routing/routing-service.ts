/**
 * Routing in the engine: holds the current router and swaps it on reload,
 * feeds it the SMSCs' health, keeps the MNP copy fresh and runs failover.
 *
 * Hot reload: `reload()` (admin call, or a change to the config file or a plan
 * file, watched) re-reads the config file and the numbering plan files and
 * builds a complete new router; only then is the reference swapped, so a
 * message is routed by the old or the new routing, never a mix. A bad file is
 * refused with the loader's precise error and the old routing stays. Only the
 * routing parts of the config are reloaded (route plans and prices, tenants'
 * plans and overrides, SMSCs' queue-lag limits, the numbering plan and range
 * files); a changed set of SMSCs needs a restart and is refused as such.
 *
 * Tenants come from the tenant directory (engine/tenants/) once it runs
 * (setTenants): a reload keeps them and routes by the file's new plans; the
 * file's tenants are handed to `onReloaded` (the engine seeds them into the
 * directory and says in the reload's answer what it could not apply).
 */
import { watch, type FSWatcher } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { loadConfig, resolveSecret, type Config } from '../../config/index.js';
import { PlanRouter, RouteHealth, RouterConfigError, type MnpTable, type Network, type RouteExplanation, type Router } from '../../router/index.js';
import type { ActorStats } from '../actors/messages.js';
import { SwitchyardError } from '../errors.js';
import { normalizeNumber } from '../ingress/normalize-number.js';
import type { RedisStore } from '../queue/redis-store.js';
import { Failover } from './failover.js';
import { HealthFeed } from './health-feed.js';
import { buildRouting, networksById, routerConfigOf, shippedPlanPath, type LoadedRouting, type TenantRoutingFields } from './load-routing.js';
import { CachedNetworkLookup, HttpLookupProvider } from './lookup-hook.js';
import { MnpCache } from './mnp.js';
import type { FleetHealthPort } from '../fleet/node-figures.js';

export interface RoutingServiceOptions {
  readonly config: Config;
  /** The config file, for reloads; without it only the start-up routing is used. */
  readonly configFile?: string | undefined;
  readonly redis: Redis;
  /** Where secrets named by the config come from (the lookup hook's authorization). */
  readonly env?: NodeJS.ProcessEnv;
  readonly store: RedisStore;
  readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void;
  /** Watch the config and plan files and reload on change (default true when configFile is given). */
  readonly watchFiles?: boolean;
  /** The other live nodes' SMSC figures: health is judged fleet-wide (health-feed.ts). */
  readonly fleetHealth?: FleetHealthPort;
  /** Whether this node moves queued traffic on failover (the fleet's `failover` leader); default always (a node alone). */
  readonly failoverLeader?: () => boolean;
  /** Called with the file's config after every reload that applied (admin call or file change). */
  readonly onReloaded?: (next: Config) => void;
}

export interface ReloadResult {
  readonly prefixes: number;
  readonly plans: number;
}

export class RoutingService {
  readonly health: RouteHealth;
  private loaded: LoadedRouting;
  private networks: Map<string, Network>;
  private readonly bareNetworks = new Map<string, Network>();
  private readonly mnp: MnpCache;
  /** The lookup hook's cache (when configured), read before the MNP table. */
  readonly lookupHook: CachedNetworkLookup | undefined;
  private readonly ported: MnpTable;
  private readonly feed: HealthFeed;
  private readonly failover: Failover;
  private readonly baseDir: string;
  private timer: NodeJS.Timeout | undefined;
  private watchers: FSWatcher[] = [];
  private reloadTimer: NodeJS.Timeout | undefined;
  reloads = 0;
  reloadFailures = 0;
  /** The tenants routed (the config's until the tenant directory's arrive by setTenants). */
  private tenants: ReadonlyArray<TenantRoutingFields>;
  /** The config the routing was last built from (the file's, after a reload). */
  private current: Config;

  constructor(private readonly o: RoutingServiceOptions) {
    const c = o.config;
    this.tenants = c.tenants;
    this.current = c;
    this.baseDir = o.configFile !== undefined ? dirname(resolve(o.configFile)) : process.cwd();
    this.health = new RouteHealth(c.smscs.map((s) => s.id));
    this.mnp = new MnpCache(o.redis, o.store.keys, (id) => this.networkOf(id));
    const hook = c.routing.lookupHook;
    this.lookupHook = hook === undefined ? undefined : new CachedNetworkLookup(
      new HttpLookupProvider(hook.url, hook.authorization === undefined ? undefined : resolveSecret(hook.authorization, 'routing.lookupHook.authorization', o.env ?? process.env)),
      hook,
      (id) => this.networkOf(id),
      (e164, err) => o.log('warn', `network lookup for +${e164} failed, routed by the MNP table and numbering plan: ${err.message}`),
    );
    const lookup = this.lookupHook;
    this.ported = lookup === undefined ? { get: (e) => this.mnp.current?.get(e) } : { get: (e) => lookup.get(e) ?? this.mnp.current?.get(e) };
    this.loaded = buildRouting(c, this.baseDir, this.health, () => this.ported);
    this.networks = networksById(this.loaded.plan);
    this.feed = new HealthFeed(this.health, c.routing, c.smscs, o.redis, o.store.keys, Date.now, (smsc, bound, why) =>
      o.log(bound ? 'info' : 'warn', `[${smsc}] ${bound ? `has a bound session${why.startsWith('bound on node') ? ` (${why})` : ''}` : `has no bound session (${why}); no new traffic after ${c.routing.downAfterMs} ms`}`), o.fleetHealth);
    this.failover = new Failover(o.store, o.redis, this.health, () => this.router, {
      failoverAfterSec: c.routing.failoverAfterSec,
      batch: 500,
      smscs: c.smscs,
    });
  }

  /** The router to use for the next decision (swapped on reload). */
  get router(): Router {
    return this.loaded.router;
  }

  get planSize(): number {
    return this.loaded.plan.size;
  }

  get failoverMoved(): number {
    return this.failover.moved;
  }

  get mnpSize(): number {
    return this.mnp.size;
  }

  /** Whether any SMSC is up (bound anywhere in the fleet, or within its grace): /readyz is not ready without one. */
  get anySmscUp(): boolean {
    return this.health.up.some((u) => u === 1);
  }

  /** SMSCs whose binds have not had their first chance since the engine started (not ready while any). */
  get startingSmscs(): string[] {
    return this.feed.startingSmscs;
  }

  async start(stats: () => ReadonlyArray<ActorStats>, running: (smsc: string) => boolean): Promise<void> {
    await this.mnp.refresh();
    this.onStats(stats(), running);
    let busy = false;
    this.timer = setInterval(() => {
      if (busy) return;
      busy = true;
      this.onStats(stats(), running);
      Promise.all([this.feed.refreshQueues(), this.mnp.refresh().then((changed) => changed && this.o.log('info', `MNP table reloaded: ${this.mnp.size} ported numbers`))])
        // One node moves queued traffic (the fleet's failover leader): two would race over the same queues.
        .then(() => (this.o.failoverLeader === undefined || this.o.failoverLeader() ? this.failover.tick() : 0))
        .then((moved) => moved > 0 && this.o.log('warn', `failover: moved ${moved} queued entries off SMSCs down for more than ${this.o.config.routing.failoverAfterSec} s`))
        .catch((err: Error) => this.o.log('warn', `routing upkeep failed: ${err.message}`))
        .finally(() => (busy = false));
    }, 1000);
    if (this.o.configFile !== undefined && this.o.watchFiles !== false) this.watchFiles();
  }

  /** Counters and bind states, once a second. */
  onStats(stats: ReadonlyArray<ActorStats>, running: (smsc: string) => boolean): void {
    this.feed.applyStats(stats, running);
  }

  /** A bind went up or down: the router knows at once. */
  onBindChange(stats: ActorStats, running: boolean): void {
    this.feed.applyBinds(stats, running);
  }

  /** Builds the routing from the config file again and swaps it in, or throws and keeps the old. */
  reload(): ReloadResult {
    if (this.o.configFile === undefined) throw new SwitchyardError('CONFIG_INVALID', 'the engine was started without a config file: nothing to reload');
    try {
      const next = loadConfig(this.o.configFile);
      const was = this.o.config.smscs.map((s) => s.id).join(',');
      const now = next.smscs.map((s) => s.id).join(',');
      if (was !== now) throw new SwitchyardError('CONFIG_INVALID', `${this.o.configFile}: smscs: the set of SMSCs changed (${was} → ${now}); that needs a restart, routing was not reloaded`);
      const loaded = buildRouting(next, this.baseDir, this.health, () => this.ported, this.routable(next, this.tenants));
      this.loaded = loaded;
      this.current = next;
      this.networks = networksById(loaded.plan);
      this.reloads++;
      this.o.log('info', `routing reloaded: ${next.routing.plans.length} plan(s), ${loaded.plan.size} prefixes`);
      if (this.watchers.length > 0) this.watchFiles(next);
      this.o.onReloaded?.(next);
      return { prefixes: loaded.plan.size, plans: next.routing.plans.length };
    } catch (err) {
      this.reloadFailures++;
      this.o.log('error', `routing reload refused, the previous routing stays: ${(err as Error).message}`);
      throw err;
    }
  }

  /**
   * Routes by these tenants from now on (the tenant directory changed): a new
   * router over the same numbering plan, swapped in whole. A tenant whose
   * routing fields no longer fit the plans (a reload removed its plan) is left
   * out and logged: its submits get NO_ROUTE until it is fixed.
   */
  setTenants(tenants: ReadonlyArray<TenantRoutingFields>): void {
    this.tenants = tenants;
    const loaded = this.loaded;
    const router = new PlanRouter(routerConfigOf(this.current, this.routable(this.current, tenants)), loaded.lookup, this.health, () => this.ported);
    this.loaded = { ...loaded, router };
  }

  /** Why a tenant's routing fields do not fit the current plans and SMSCs, or undefined when they do. */
  checkTenant(t: TenantRoutingFields, config: Config = this.current): string | undefined {
    try {
      new PlanRouter(routerConfigOf(config, [t]), this.loaded.lookup, this.health, () => this.ported);
      return undefined;
    } catch (err) {
      if (err instanceof RouterConfigError) return err.message;
      throw err;
    }
  }

  /** The tenants that fit `config`'s plans and SMSCs (the others logged). */
  private routable(config: Config, tenants: ReadonlyArray<TenantRoutingFields>): ReadonlyArray<TenantRoutingFields> {
    // All together first (one build); one by one only when some tenant does not fit.
    try {
      new PlanRouter(routerConfigOf(config, tenants), this.loaded.lookup, this.health, () => this.ported);
      return tenants;
    } catch (err) {
      if (!(err instanceof RouterConfigError)) throw err;
    }
    return tenants.filter((t) => {
      const why = this.checkTenant(t, config);
      if (why !== undefined) this.o.log('error', `tenant ${t.id} is not routable (its submits get NO_ROUTE): ${why}`);
      return why === undefined;
    });
  }

  /**
   * With a lookup hook: a promise to wait for before routing a submit to `to`
   * when the hook's cache cannot answer yet (it never rejects); otherwise undefined.
   */
  awaitNetwork(to: string): Promise<void> | undefined {
    if (this.lookupHook === undefined) return undefined;
    const n = normalizeNumber(to);
    return n.ok ? this.lookupHook.ensure(n.e164) : undefined;
  }

  /** Explains a decision for a number as given by a person ("+47 912 34 567"). */
  explain(to: string, tenant: string): RouteExplanation | { error: string } {
    const n = normalizeNumber(to);
    if (!n.ok) return { error: n.error };
    return this.loaded.router.explain({ e164: n.e164, tenant, country: n.country });
  }

  stop(): void {
    clearInterval(this.timer);
    clearTimeout(this.reloadTimer);
    for (const w of this.watchers) w.close();
    this.watchers = [];
  }

  private networkOf(id: string): Network {
    const n = this.networks.get(id);
    if (n !== undefined) return n;
    let b = this.bareNetworks.get(id);
    if (b === undefined) {
      const [mcc = '', mnc = ''] = id.split('-');
      b = Object.freeze({ country: '', mcc, mnc, operator: '' });
      this.bareNetworks.set(id, b);
    }
    return b;
  }

  private watchFiles(cfg: Config = this.o.config): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    const at = (p: string) => (isAbsolute(p) ? p : resolve(this.baseDir, p));
    const files = [this.o.configFile as string, cfg.routing.numberingPlan === undefined ? shippedPlanPath() : at(cfg.routing.numberingPlan), ...cfg.routing.rangeFiles.map(at)];
    for (const f of files) {
      try {
        // Editors replace files (rename): a change of either kind reloads, after things settle.
        this.watchers.push(watch(f, { persistent: false }, () => {
          clearTimeout(this.reloadTimer);
          this.reloadTimer = setTimeout(() => {
            try {
              this.reload();
            } catch {
              // logged by reload(); the old routing stays
            }
          }, 300);
        }));
      } catch (err) {
        this.o.log('warn', `cannot watch ${f} for routing reloads: ${(err as Error).message}`);
      }
    }
  }
}
