/**
 * A tenant's `tps` across the fleet (issue 14, README "Many nodes" → "Tenant
 * rate limits"). Alone, a node keeps the plain local bucket (flow/token-bucket.ts,
 * 'api' mode: tps sustained, a burst of one second's worth): no Redis call per
 * submit. With other live nodes it admits only tokens granted from the
 * tenant's bucket in Redis:
 *
 *   Redis {P}rate:{T}   refilled by Redis time at tps, up to tps (one second's burst)
 *        │  lua/tenant-grant.lua: one call takes a grant of up to tps × grantMs / 1000
 *        ▼
 *   node-local tokens   ≤ one grant; a submit takes one synchronously (THROTTLED when none);
 *                       below half a grant, the node tops up in the background (one call in
 *                       flight per tenant; after an empty answer, not before a token is due),
 *                       and every fleet tick tops up every tenant (`primeAll`): a tenant's first
 *                       submit on a node finds its grant there
 *
 * Every admitted submit spent a token the Redis bucket handed out, so in any
 * second the fleet admits at most tps + burst (the bucket's own bound) plus
 * what nodes held from before: over-admission ≤ nodes × grant (grantMs = 50:
 * 5 % of a second per node). The price: a burst on one node is served from
 * its grant, not the fleet's whole burst; beyond the grant the rest of a batch
 * gets THROTTLED until the next grant (a round trip away). The daily quota is
 * unchanged (its documented bound, lifecycle/quota-tracker.ts).
 */
import { TokenBucket } from '../flow/token-bucket.js';
import type { Clock } from '../flow/clock.js';
import { loadLuaScript, luaPath } from '../redis/lua-loader.js';

export const TENANT_GRANT = loadLuaScript(luaPath(import.meta.url, './lua/tenant-grant.lua'));

/** What a tenant's rate limit looks like to the ingress. */
export interface RateBucket {
  /** Takes n tokens if all are there; returns whether it did. Never waits. */
  tryTake(n?: number): boolean;
}

export interface GrantRedis {
  eval(script: string, numberOfKeys: number, ...args: Array<string | number>): Promise<unknown>;
}

export interface TenantRateOptions {
  readonly redis: GrantRedis;
  /** The key prefix (redis.keyPrefix): the bucket is {P}rate:{T}, in the tenant's slot. */
  readonly prefix: string;
  readonly clock: Clock;
  /** Live nodes of the fleet, this one included (1: alone, the local bucket decides). */
  readonly liveNodes: () => number;
  /** A grant's worth of the tenant's tps (ms). */
  readonly grantMs: number;
  readonly log?: (level: 'warn', msg: string) => void;
}

export class FleetTenantBucket implements RateBucket {
  private readonly local: TokenBucket;
  private readonly grant: number;
  private readonly key: string;
  private tokens = 0;
  private fetching = false;
  /** Clock time before which an empty Redis bucket is not asked again. */
  private notBefore = 0;
  private failing = false;
  /** Tokens taken from Redis so far (tests, metrics). */
  granted = 0;

  constructor(
    readonly tenant: string,
    private readonly tps: number,
    private readonly o: TenantRateOptions,
  ) {
    this.local = new TokenBucket(tps, o.clock, tps, 'api');
    this.grant = Math.max(1, Math.floor((tps * o.grantMs) / 1000));
    this.key = `${o.prefix}rate:{${tenant}}`;
  }

  /** Tokens this node holds from fleet grants. */
  get held(): number {
    return this.tokens;
  }

  tryTake(n = 1): boolean {
    if (this.o.liveNodes() <= 1) return this.local.tryTake(n);
    const ok = this.tokens >= n;
    if (ok) this.tokens -= n;
    if (this.tokens < this.grant / 2) this.topUp();
    return ok;
  }

  /** Asks Redis for what tops the node up to one grant (one call in flight; none while the bucket is known empty). */
  topUp(): Promise<void> {
    if (this.fetching || this.o.clock.now() < this.notBefore) return Promise.resolve();
    const want = this.grant - Math.floor(this.tokens);
    if (want <= 0) return Promise.resolve();
    this.fetching = true;
    return this.o.redis.eval(TENANT_GRANT.lua, TENANT_GRANT.numberOfKeys, this.key, this.tps, this.tps, want).then(
      (r) => {
        const [got, waitMs] = r as [number, number];
        this.tokens += got;
        this.granted += got;
        this.notBefore = got === 0 ? this.o.clock.now() + waitMs : 0;
        this.fetching = false;
        this.failing = false;
      },
      (err: Error) => {
        // Redis away: refuse (THROTTLED) rather than admit beyond the fleet's limit; try again in a grant's time.
        this.notBefore = this.o.clock.now() + this.o.grantMs;
        this.fetching = false;
        if (!this.failing) this.o.log?.('warn', `tenant ${this.tenant}: rate grant failed (submits THROTTLED until Redis answers): ${err.message}`);
        this.failing = true;
      },
    );
  }
}

/** Tops up every tenant's node-local grant while the node is in a fleet (each fleet tick): idle tenants keep one grant ready. */
export function primeAll(buckets: Iterable<FleetTenantBucket>, liveNodes: number): void {
  if (liveNodes <= 1) return;
  for (const b of buckets) void b.topUp();
}
