/**
 * Decides, at ingress and per message, whether a message is held for an
 * admin (`pending_approval`) instead of queued: a link to a domain that is
 * not on the tenant's allowlist (url-check.ts), or a volume far above the
 * tenant's normal (volume-detector.ts). Synchronous and in memory; the hold
 * itself is written by the enqueue script. The volume baselines are saved
 * to Redis once a minute (the hash `{P}{c}:vol`, control slot) and loaded at start.
 */
import type { RedisClient } from '../redis/connect-redis.js';
import type { Config } from '../../config/index.js';
import type { Clock } from '../flow/clock.js';
import type { Keys } from '../queue/keys.js';
import { UrlAllowlist } from './url-check.js';
import { VolumeDetector, type VolumeRule } from './volume-detector.js';

export type HoldCode = 'URL_NOT_ALLOWED' | 'VOLUME_ANOMALY';

export interface Hold {
  readonly code: HoldCode;
  readonly text: string;
}

export class Moderator {
  private readonly urls = new Map<string, UrlAllowlist>();
  readonly volume: VolumeDetector;
  private timer: NodeJS.Timeout | undefined;
  /** Held by reason, for metrics. */
  readonly held: Record<HoldCode, number> = { URL_NOT_ALLOWED: 0, VOLUME_ANOMALY: 0 };
  /** Called for every held message (metrics). */
  onHold: ((tenant: string, code: HoldCode) => void) | undefined;

  constructor(
    config: Config,
    clock: Clock,
    private readonly redis?: RedisClient,
    private readonly keys?: Keys,
  ) {
    this.global = config.moderation;
    this.volume = new VolumeDetector(this.compile(config.tenants), clock);
  }

  private readonly global: Config['moderation'];

  /** The URL allowlists (set here) and volume rules (returned) of these tenants. */
  private compile(tenants: ReadonlyArray<Pick<Config['tenants'][number], 'id' | 'moderation'>>): Map<string, VolumeRule> {
    const rules = new Map<string, VolumeRule>();
    const g = this.global;
    this.urls.clear();
    for (const t of tenants) {
      const list = t.moderation?.urlAllowlist ?? g.urlAllowlist;
      if (list !== undefined) this.urls.set(t.id, new UrlAllowlist(list));
      const v = { ...g.volume, ...t.moderation?.volume };
      if (v.enabled) rules.set(t.id, { multiple: v.multiple, floorPerMinute: v.floorPerMinute, halfLifeHours: v.halfLifeHours });
    }
    return rules;
  }

  /** The tenants from now on (the tenant directory changed): allowlists rebuilt, volume baselines kept. */
  setTenants(tenants: ReadonlyArray<Pick<Config['tenants'][number], 'id' | 'moderation'>>): void {
    this.volume.setRules(this.compile(tenants));
  }

  /** Whether any tenant is moderated at all (the accept path skips the call otherwise). */
  get active(): boolean {
    return this.urls.size > 0 || this.volume.watching > 0;
  }

  /** The reason to hold this message, or undefined to queue it. */
  moderate(tenant: string, text: string): Hold | undefined {
    if (!this.active) return undefined;
    const list = this.urls.get(tenant);
    if (list !== undefined) {
      const host = list.firstDisallowed(text);
      if (host !== undefined) return this.hold(tenant, 'URL_NOT_ALLOWED', `link to ${host} is not on the tenant's URL allowlist`);
    }
    const v = this.volume.check(tenant);
    if (v !== undefined) {
      return this.hold(tenant, 'VOLUME_ANOMALY', `${v.rate} messages in the last minute, over the limit of ${v.limit} (normal volume ${v.baseline}/min)`);
    }
    return undefined;
  }

  private hold(tenant: string, code: HoldCode, text: string): Hold {
    this.held[code]++;
    this.onHold?.(tenant, code);
    return { code, text };
  }

  /** Loads saved volume baselines and saves them once a minute from then on. */
  async start(): Promise<void> {
    // Saved even when no tenant is watched yet: the tenant directory may add one later.
    if (this.redis === undefined || this.keys === undefined) return;
    const saved = await this.redis.hgetall(this.keys.control('vol'));
    const m = new Map<string, number>();
    for (const [t, v] of Object.entries(saved)) m.set(t, Number(v.split('|')[0]));
    this.volume.restore(m);
    this.timer = setInterval(() => void this.save(), 60_000);
  }

  async save(): Promise<void> {
    if (this.redis === undefined || this.keys === undefined) return;
    const b = this.volume.baselines();
    if (b.size === 0) return;
    const now = Date.now();
    const args: string[] = [];
    for (const [t, v] of b) args.push(t, `${v.toFixed(3)}|${now}`);
    await this.redis.hset(this.keys.control('vol'), ...args).catch(() => undefined);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.save();
  }
}
