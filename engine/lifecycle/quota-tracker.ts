/**
 * Daily quotas (tenants[].dailyQuota: accepted messages per UTC day) without a
 * Redis round trip per message. Each engine node counts in memory what it
 * accepted and, every `syncMs` (default 250 ms), adds its count to the day's
 * counter in Redis (one INCRBY per tenant, pipelined) and learns the total of
 * every node from the reply:
 *
 *   used(tenant) = total in Redis at the last sync + accepted here since
 *
 * A submit is refused QUOTA_EXCEEDED when it would go over. One node is
 * exact; with several, each may overshoot by what the others accepted within
 * one sync interval (bounded by their TPS × syncMs) — the price of keeping
 * Redis off the per-message path. Counting starts at the accept (a reserve)
 * and is given back if Redis then refuses the message, so a quota is never
 * spent on messages that were not accepted.
 */
import type { RedisClient } from '../redis/connect-redis.js';
import { runCommandsSettled, type RedisCommand } from '../redis/run-commands.js';
import type { Clock } from '../flow/clock.js';
import type { Keys } from '../queue/keys.js';

const DAY_MS = 86_400_000;

interface TenantQuota {
  readonly quota: number;
  day: number;
  /** The day's total in Redis as of the last sync (every node's). */
  synced: number;
  /** Accepted here and not yet added to Redis. */
  local: number;
  /** Being added to Redis right now. */
  sending: number;
}

export class QuotaTracker {
  private readonly tenants = new Map<string, TenantQuota>();
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    quotas: ReadonlyArray<{ id: string; dailyQuota?: number | undefined }>,
    private readonly clock: Clock,
    private readonly syncMs = 250,
  ) {
    const day = this.today();
    for (const q of quotas) if (q.dailyQuota !== undefined) this.tenants.set(q.id, { quota: q.dailyQuota, day, synced: 0, local: 0, sending: 0 });
  }

  private today(): number {
    return Math.floor(this.clock.now() / DAY_MS);
  }

  /** Loads today's totals, then syncs periodically. */
  async start(): Promise<void> {
    await this.sync();
    this.timer = setInterval(() => void this.sync().catch(() => undefined), this.syncMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.syncing;
    await this.sync().catch(() => undefined);
  }

  /**
   * The tenants' quotas from now on (the tenant directory changed): a tenant
   * keeps its counts when its quota changes; one without a quota is dropped.
   */
  setQuotas(quotas: ReadonlyArray<{ id: string; dailyQuota?: number | undefined }>): void {
    const day = this.today();
    const seen = new Set<string>();
    for (const q of quotas) {
      if (q.dailyQuota === undefined) continue;
      seen.add(q.id);
      const was = this.tenants.get(q.id);
      this.tenants.set(q.id, was === undefined ? { quota: q.dailyQuota, day, synced: 0, local: 0, sending: 0 } : { ...was, quota: q.dailyQuota });
    }
    for (const id of [...this.tenants.keys()]) if (!seen.has(id)) this.tenants.delete(id);
  }

  /** The tenant's quota, or undefined when it has none. */
  quotaOf(tenant: string): number | undefined {
    return this.tenants.get(tenant)?.quota;
  }

  /** Takes one message off the tenant's quota; false when it is used up. */
  tryTake(tenant: string): boolean {
    const q = this.tenants.get(tenant);
    if (q === undefined) return true;
    const day = this.today();
    if (day !== q.day) {
      q.day = day;
      q.synced = 0;
      q.local = 0;
    }
    if (q.synced + q.sending + q.local >= q.quota) return false;
    q.local++;
    return true;
  }

  /** Gives one back (the message was not accepted after all). */
  giveBack(tenant: string): void {
    const q = this.tenants.get(tenant);
    if (q !== undefined) q.local--;
  }

  /** Accepted today by every node, as far as this node knows. */
  used(tenant: string): number {
    const q = this.tenants.get(tenant);
    return q === undefined ? 0 : q.synced + q.sending + q.local;
  }

  sync(): Promise<void> {
    if (this.syncing !== undefined) return this.syncing;
    this.syncing = this.syncOnce().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private async syncOnce(): Promise<void> {
    if (this.tenants.size === 0) return;
    // One command per tenant's key (each in its tenant's slot): run-commands.ts.
    const cmds: RedisCommand[] = [];
    const order: Array<[TenantQuota, number, number]> = [];
    for (const [id, q] of this.tenants) {
      const key = this.keys.quota(id, q.day);
      const delta = q.local;
      q.local = 0;
      q.sending = delta;
      if (delta !== 0) cmds.push(['INCRBY', key, delta], ['EXPIRE', key, 2 * 86_400]);
      else cmds.push(['GET', key]);
      order.push([q, delta, q.day]);
    }
    let res: Array<[Error | null, unknown]>;
    try {
      res = await runCommandsSettled(this.redis, cmds);
    } catch (err) {
      for (const [q, delta] of order) {
        q.local += delta;
        q.sending = 0;
      }
      throw err;
    }
    let i = 0;
    for (const [q, delta, day] of order) {
      const [err, v] = res[i] ?? [null, null];
      i += delta !== 0 ? 2 : 1;
      q.sending = 0;
      if (q.day !== day) continue; // a new day began meanwhile: yesterday's total does not count
      if (err !== null) q.local += delta;
      else q.synced = Number(v ?? 0);
    }
  }
}
