/**
 * The Redis adapter for the lifecycle scripts (lifecycle-scripts.ts): moving
 * due scheduled messages and cancelling, each one script call per batch, in
 * sections, one per shard (sections.ts: one call on a single Redis, one per
 * shard on a cluster).
 *
 * Moving due messages reads before it writes: the due ids of every shard's
 * schedule (one ZRANGEBYSCORE per shard, sent together), their tenants and
 * numbers, and the opt-out lists of those (they live in their tenants'
 * slots, which a shard's script cannot read on a cluster); the script then
 * re-checks that each is still scheduled and due, and closes the race with an
 * opt-out recorded since the check through oor:{T}, as the enqueue does.
 */
import type { RedisClient } from '../redis/connect-redis.js';
import { defineLuaCommand } from '../redis/lua-loader.js';
import { GROUP, type Keys } from './keys.js';
import { CANCEL, SCHEDULE } from './lifecycle-scripts.js';
import { OPT_OUT_SKEW_MS, PRE_CHECK_MAX_AGE_MS, type StoreLimits } from './redis-store.js';
import { CancelOutcome } from './script-codes.js';
import { runSections, Section } from './sections.js';

export type CancelCode = 'stopped' | 'not_cancellable' | 'not_found';

export interface CancelResult {
  readonly code: CancelCode;
  /** The message's status (for not_cancellable: why; for stopped: "stopped"). */
  readonly status: string;
}

const CODE: Readonly<Record<CancelOutcome, CancelCode>> = {
  [CancelOutcome.Stopped]: 'stopped',
  [CancelOutcome.NotCancellable]: 'not_cancellable',
  [CancelOutcome.NotFound]: 'not_found',
};

const DAY_MS = 86_400_000;

export class LifecycleStore {
  private readonly smscs: ReadonlyArray<string>;

  constructor(
    private readonly redis: RedisClient,
    readonly keys: Keys,
    private readonly limits: StoreLimits,
    /** The configured SMSC ids: the queues a due message may go to, and a cancel may take entries from. */
    smscs: ReadonlyArray<string> = [],
  ) {
    this.smscs = smscs;
    defineLuaCommand(redis, 'sySchedule', SCHEDULE);
    defineLuaCommand(redis, 'syCancel', CANCEL);
  }

  /** The shard's queue of each configured SMSC, in the order of `smscs` (the scripts' queue table). */
  private queues(k: number): string[] {
    return this.smscs.map((s) => this.keys.queueOf(s, k));
  }

  /**
   * Moves up to `limit` due scheduled messages per shard onto their queues (or
   * ends them expired, or stopped when opted out). `taken` is the most one
   * shard had due: `limit` means that shard may have more.
   */
  async moveDue(now: number, limit: number): Promise<{ moved: number; expired: number; taken: number; stopped: number }> {
    const shards = this.keys.shards.all();
    const due = await Promise.all(shards.map((k) => this.redis.zrangebyscore(this.keys.scheduleOf(k), '-inf', now, 'LIMIT', 0, limit)));
    const r = { moved: 0, expired: 0, taken: 0, stopped: 0 };
    const work = shards.map((k, i) => ({ k, ids: due[i] as string[] })).filter((w) => w.ids.length > 0);
    if (work.length === 0) return r;
    r.taken = Math.max(...work.map((w) => w.ids.length));
    // The opt-out check: tenant and number of each due message, then their lists.
    const checkedAt = Date.now();
    const ids = work.flatMap((w) => w.ids.filter((id) => this.keys.shardOf(id) === w.k));
    const who = await Promise.all(ids.map((id) => this.redis.hmget(this.keys.msg(id), 't', 'to')));
    const byTenant = new Map<string, Set<string>>();
    const numbers = new Set<string>();
    who.forEach(([t, to]) => {
      if (t == null || to == null) return;
      numbers.add(to);
      let s = byTenant.get(t);
      if (s === undefined) byTenant.set(t, (s = new Set()));
      s.add(to);
    });
    const listed = new Set<string>();
    if (numbers.size > 0) {
      const lists: Array<[string, string[]]> = [['*', [...numbers]], ...[...byTenant].map(([t, s]): [string, string[]] => [t, [...s]])];
      const scores = await Promise.all(lists.map(([t, nums]) => this.redis.zmscore(this.keys.optOut(t), ...nums)));
      lists.forEach(([t, nums], i) => nums.forEach((n, j) => (scores[i] as Array<string | null>)[j] !== null && listed.add(t === '*' ? `*|${n}` : `${t}|${n}`)));
    }
    const onList = (t: string | null, to: string | null) => t != null && to != null && (listed.has(`*|${to}`) || listed.has(`${t}|${to}`));
    const whoOf = new Map(ids.map((id, i) => [id, who[i] as [string | null, string | null]]));
    const secs = work.map((w) => {
      const s = new Section(w.k, [this.keys.eventsOf(w.k), this.keys.expiryOf(w.k), this.keys.usageOf(w.k, Math.floor(now / DAY_MS)), this.keys.scheduleOf(w.k), this.keys.recentOptOuts(w.k), ...this.queues(w.k)]);
      for (const id of w.ids) {
        const [t, to] = whoOf.get(id) ?? [null, null];
        // A stray member (not an id of this shard) is dropped by the script: no hash of that name.
        s.push(s.key(this.keys.shardOf(id) === w.k ? this.keys.msg(id) : `${this.keys.prefix}m:${this.keys.shards.tag(w.k)}:${id}`), id, onList(t, to) ? 1 : 0);
      }
      return s;
    });
    const res = await runSections(this.redis, 'sySchedule', [now, this.limits.eventsMaxLen, this.limits.finalRetentionSec, checkedAt, PRE_CHECK_MAX_AGE_MS, OPT_OUT_SKEW_MS, this.smscs.join(',')], secs);
    for (const x of res) {
      const [moved, expired, stopped] = x as [number, number, number, number];
      r.moved += moved;
      r.expired += expired;
      r.stopped += stopped;
    }
    return r;
  }

  /** Cancels messages, one result per item in order. An id that is not one of this deployment's is not_found. */
  async cancel(items: ReadonlyArray<{ tenant: string; id: string }>, now: number): Promise<CancelResult[]> {
    const out = new Array<CancelResult>(items.length).fill({ code: 'not_found', status: '' });
    const groups = new Map<number, { sec: Section; idx: number[] }>();
    items.forEach((it, i) => {
      const k = this.keys.shardOf(it.id);
      if (k === undefined) return;
      let g = groups.get(k);
      if (g === undefined) groups.set(k, (g = { sec: new Section(k, [this.keys.eventsOf(k), this.keys.expiryOf(k), this.keys.scheduleOf(k), ...this.queues(k)]), idx: [] }));
      g.idx.push(i);
      g.sec.push(g.sec.key(this.keys.msg(it.id)), it.tenant, it.id);
    });
    const list = [...groups.values()];
    const res = await runSections(this.redis, 'syCancel', [now, this.limits.eventsMaxLen, this.limits.finalRetentionSec, GROUP, this.smscs.join(',')], list.map((g) => g.sec));
    res.forEach((r, k) => {
      const flat = r as string[];
      (list[k] as { idx: number[] }).idx.forEach((i, j) => (out[i] = { code: CODE[flat[2 * j] as CancelOutcome] ?? 'not_found', status: flat[2 * j + 1] ?? '' }));
    });
    return out;
  }
}
