/**
 * Takeover of a dead node's work (issue 14; README "Many nodes" → "Takeover").
 * A node whose heartbeat ran out (Fleet.deadNodes) leaves behind:
 *
 *   whq:{T}:{dead}[:lane]      events its webhook dispatcher had queued for tenant T's receiver
 *   ev:{K} group "webhooks",   entries it read and had not yet queued (pending: the trimmer keeps
 *     consumer webhooks-<dead>   everything after the oldest of them)
 *   ev:{K} group "analytics",  the batch its sink had read and not yet acknowledged (and the batch's
 *     consumer sink-<dead>       description, anb:{sink-<dead>})
 *
 * The node holding the `takeover` leader lease, on every fleet tick, for each
 * dead node:
 *   1. appends each of its tenant lists to its own list of the same lane
 *      (lua/adopt-webhook-lists.lua, in steps of STEP events: one tenant
 *      slot per call) and kicks its dispatcher;
 *   2. XCLAIMs its webhook consumer's pending entries to its own webhook
 *      consumer (on every shard), tells its dispatcher to read its pending
 *      entries again, then deletes the dead consumer (XGROUP DELCONSUMER, only
 *      once it has nothing pending) so the events streams trim again.
 * The node holding the `takeover-analytics` lease (contended only by nodes
 * whose analytics process runs: on embedded chdb there is one, and if it died
 * its batch waits for it) has its analytics process finish the dead sink's
 * batch as that consumer — the same entries under the same deduplication token,
 * so a batch inserted before the crash is not inserted twice — then delete it.
 *
 * The list moves are fenced by the `takeover` lease's epoch (a leader deposed
 * since, paused past its lease, is refused when it acts late: whf:{T} keeps the
 * highest epoch that moved lists of tenant T).
 *
 * Its record in `{c}nodes` (and its figures) are deleted by the `takeover`
 * leader `fleet.deadNodeRetentionMs` after its heartbeat ran out, once its
 * webhook work is taken over and its analytics consumer has nothing pending
 * (lua/forget-node.lua, which checks the leader's lease and epoch itself): until
 * then it is listed dead, and a node started again with that id simply renews it.
 *
 * Everything is idempotent: a takeover cut off half-way is taken up again at
 * the next tick (by this node or the next leader). A dead node id that starts
 * again finds its lists empty and its consumers gone; it creates them again.
 * Its status-push cursors are per tenant (stc:{T}), its scheduler and sweep
 * are already every node's (atomic scripts): nothing of those to take over.
 */
import type { RedisClient } from '../redis/connect-redis.js';
import type { Keys } from '../queue/keys.js';
import { eventStreamKeys } from '../queue/event-streams.js';
import { ANALYTICS_GROUP } from '../../analytics/event-sink.js';
import { fleetKeys } from './fleet.js';
import { loadLuaScript, luaPath } from '../redis/lua-loader.js';
import { WEBHOOK_GROUP, MAX_LANES } from '../webhooks/webhook-dispatcher.js';

export const ADOPT_LISTS = loadLuaScript(luaPath(import.meta.url, './lua/adopt-webhook-lists.lua'));
export const FORGET_NODE = loadLuaScript(luaPath(import.meta.url, './lua/forget-node.lua'));

/** Events moved per script call (a few ms of Redis each). */
const STEP = 5000;
/** Pending entries claimed per XCLAIM. */
const CLAIM_STEP = 1000;

/** What the takeover needs of the fleet. */
export interface TakeoverFleet {
  readonly nodeId: string;
  readonly boot: string;
  deadNodes(): ReadonlyArray<{ readonly id: string; readonly boot: string; readonly expiresAtMs: number }>;
  /** Redis time of the last tick. */
  readonly lastView: { readonly redisNowMs: number };
  isLeader(duty: string): boolean;
  leaderEpoch(duty: string): number | undefined;
}

/** How often a dead node past its retention is looked at again while its analytics consumer still has entries (ms). */
const RECHECK_MS = 30_000;

/** The webhook dispatcher of this node (engine/webhooks/webhook-host.ts). */
export interface TakeoverWebhooks {
  kick(tenant: string, retryNow: boolean): void;
  /** Its consumer got entries (XCLAIM): read its pending entries again. */
  rereadPending(): void;
}

/** This node's analytics process: finishes another consumer's pending batch and deletes that consumer. */
export interface TakeoverAnalytics {
  readonly running: boolean;
  drain(consumer: string): Promise<number>;
}

export interface TakeoverOptions {
  readonly fleet: TakeoverFleet;
  readonly redis: RedisClient;
  readonly keys: Keys;
  /** Tenants with a webhook (their lists whq:{T}:{node}[:lane]). */
  readonly webhookTenants: ReadonlyArray<string>;
  readonly webhooks: TakeoverWebhooks | undefined;
  readonly analytics: TakeoverAnalytics | undefined;
  /** A dead node's `{c}nodes` record is deleted this long after its heartbeat ran out (fleet.deadNodeRetentionMs). */
  readonly deadNodeRetentionMs: number;
  readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

export interface TakeoverCounts {
  webhookEvents: number;
  webhookPending: number;
  analyticsPending: number;
  /** Dead nodes' records deleted after the retention. */
  forgotten: number;
  /** Actions refused by a fence: this node's takeover lease had been taken by another since. */
  fenced: number;
}

export class Takeover {
  readonly counts: TakeoverCounts = { webhookEvents: 0, webhookPending: 0, analyticsPending: 0, forgotten: 0, fenced: 0 };
  /** Dead node id → when its analytics consumer was last found with entries (monotonic ms). */
  private readonly analyticsLeft = new Map<string, number>();
  private running = false;
  /** Dead nodes with nothing left to take (checked again only if they come back and die again). */
  private readonly done = new Set<string>();
  private readonly analyticsDone = new Set<string>();

  constructor(private readonly o: TakeoverOptions) {}

  /** One pass (called on every fleet tick); never two at once. */
  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const deadNodes = this.o.fleet.deadNodes().filter((n) => n.id !== this.o.fleet.nodeId);
      const dead = deadNodes.map((n) => n.id);
      // A node that came back (live again) may die again: forget what was done for ids no longer dead.
      for (const id of this.done) if (!dead.includes(id)) this.done.delete(id);
      for (const id of this.analyticsDone) if (!dead.includes(id)) this.analyticsDone.delete(id);
      // Asked every tick, so that the duties are contended while there is nothing to do too.
      const lead = this.o.fleet.isLeader('takeover');
      const leadAnalytics = this.o.analytics?.running === true && this.o.fleet.isLeader('takeover-analytics');
      for (const id of dead) {
        if (lead && !this.done.has(id) && (await this.webhooksOf(id))) this.done.add(id);
        if (leadAnalytics && !this.analyticsDone.has(id)) {
          const n = await (this.o.analytics as TakeoverAnalytics).drain(`sink-${id}`);
          this.counts.analyticsPending += n;
          if (n > 0) this.o.log('info', `takeover: finished ${n} analytics event(s) the sink of dead node ${id} had pending`);
          this.analyticsDone.add(id);
        }
      }
      if (lead) for (const n of deadNodes) if (this.done.has(n.id)) await this.forget(n);
    } catch (err) {
      this.o.log('warn', `takeover failed (taken up again at the next tick): ${(err as Error).message}`);
    } finally {
      this.running = false;
    }
  }

  /**
   * Deletes a dead node's record once it has been dead the retention and its analytics
   * consumer has nothing pending (another node's analytics takeover may not have run yet).
   */
  private async forget(n: { readonly id: string; readonly boot: string; readonly expiresAtMs: number }): Promise<void> {
    if (this.o.fleet.lastView.redisNowMs - n.expiresAtMs < this.o.deadNodeRetentionMs) return;
    const epoch = this.o.fleet.leaderEpoch('takeover');
    if (epoch === undefined) return;
    const checked = this.analyticsLeft.get(n.id);
    if (checked !== undefined && performance.now() - checked < RECHECK_MS) return;
    if (await this.hasAnalyticsPending(n.id)) {
      if (checked === undefined) this.o.log('warn', `takeover: dead node ${n.id} is kept in the fleet's records: its analytics consumer sink-${n.id} still has entries (a node running analytics takes them over)`);
      this.analyticsLeft.set(n.id, performance.now());
      return;
    }
    this.analyticsLeft.delete(n.id);
    const k = fleetKeys(this.o.keys);
    const r = Number(await this.o.redis.eval(FORGET_NODE.lua, FORGET_NODE.numberOfKeys, k.nodes, k.figs, k.lead, n.id, n.boot, this.o.deadNodeRetentionMs, this.o.fleet.nodeId, this.o.fleet.boot, epoch));
    if (r === 1) {
      this.counts.forgotten++;
      this.done.delete(n.id);
      this.analyticsDone.delete(n.id);
      this.o.log('info', `takeover: the record of node ${n.id} deleted (dead for more than ${Math.round(this.o.deadNodeRetentionMs / 1000)} s, its work taken over)`);
    } else if (r === -1) this.counts.fenced++;
  }

  /** Whether the dead node's analytics consumer still holds entries on any events stream. */
  private async hasAnalyticsPending(id: string): Promise<boolean> {
    for (const key of eventStreamKeys(this.o.keys)) {
      try {
        const p = (await this.o.redis.xpending(key, ANALYTICS_GROUP, '-', '+', 1, `sink-${id}`)) as unknown[];
        if (p.length > 0) return true;
      } catch (err) {
        if (/NOGROUP|no such key/i.test((err as Error).message)) continue;
        throw err;
      }
    }
    return false;
  }

  /** The dead node's webhook lists and pending entries; true when nothing of it is left. */
  private async webhooksOf(dead: string): Promise<boolean> {
    const me = this.o.fleet.nodeId;
    const { keys, redis } = this.o;
    const epoch = this.o.fleet.leaderEpoch('takeover');
    if (epoch === undefined) return false;
    let moved = 0;
    for (const t of this.o.webhookTenants) {
      let tenantMoved = 0;
      for (let lane = 0; lane < MAX_LANES; lane++) {
        for (;;) {
          const [n, left] = (await redis.eval(ADOPT_LISTS.lua, ADOPT_LISTS.numberOfKeys, keys.webhookQueue(t, dead, lane), keys.webhookQueue(t, me, lane), takeoverFence(keys, t), STEP, epoch)) as [number, number];
          if (n === -1) {
            // Another node took the takeover lease since this pass began: it does the work.
            this.counts.fenced++;
            this.o.log('warn', `takeover: moving dead node ${dead}'s webhook list of ${t} refused: the takeover lease has a newer holder (epoch ${epoch} is stale)`);
            return false;
          }
          tenantMoved += n;
          if (n === 0 || left === 0) break;
        }
      }
      // Every lane of the tenant (a kick without retryNow wakes lane 0 only): the moved events may sit in any lane,
      // and a lane of this node that was idle would not look at its list again until its own next event.
      if (tenantMoved > 0) this.o.webhooks?.kick(t, true);
      moved += tenantMoved;
    }
    if (moved > 0) this.o.log('info', `takeover: ${moved} webhook event(s) queued by dead node ${dead} appended to this node's lists`);
    this.counts.webhookEvents += moved;
    // Without a webhook dispatcher here the group's entries cannot be delivered by this node: leave them.
    if (this.o.webhooks === undefined) return true;
    const claimed = await claimConsumer(redis, eventStreamKeys(keys), WEBHOOK_GROUP, `webhooks-${dead}`, `webhooks-${me}`);
    if (claimed > 0) {
      this.o.webhooks.rereadPending();
      this.o.log('info', `takeover: ${claimed} events entry(ies) the webhook dispatcher of dead node ${dead} had read claimed by this node`);
    }
    this.counts.webhookPending += claimed;
    return true;
  }
}

/** whf:{T}: the highest `takeover` epoch that moved webhook lists of tenant T (the tenant's slot). */
export function takeoverFence(keys: Keys, tenant: string): string {
  return `${keys.prefix}whf:{${tenant}}`;
}

/**
 * Moves every pending entry of consumer `from` to `to` on each stream (XPENDING
 * of that consumer, XCLAIM with min-idle 0: its node is dead), then deletes
 * `from` (it has nothing pending left, so XGROUP DELCONSUMER loses nothing).
 * A stream or group that does not exist is skipped. Returns the entries moved.
 */
export async function claimConsumer(redis: RedisClient, streams: ReadonlyArray<string>, group: string, from: string, to: string): Promise<number> {
  let total = 0;
  for (const key of streams) {
    try {
      for (;;) {
        const pending = (await redis.xpending(key, group, '-', '+', CLAIM_STEP, from)) as Array<[string, string, number, number]>;
        if (pending.length === 0) break;
        const ids = pending.map((p) => p[0]);
        await redis.xclaim(key, group, to, 0, ...ids, 'JUSTID');
        total += ids.length;
        if (pending.length < CLAIM_STEP) break;
      }
      await redis.xgroup('DELCONSUMER', key, group, from);
    } catch (err) {
      if (/NOGROUP|no such key/i.test((err as Error).message)) continue;
      throw err;
    }
  }
  return total;
}

