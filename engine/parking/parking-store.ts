/**
 * Messages that wait outside their SMSC queue: held for moderation
 * (`pending_approval`) or parked while their tenant is paused (`paused`), in
 * streams of their message's shard: hold:{K}:{tenant} and park:{K}:{tenant}.
 * Both hold the parts exactly as the SMSC queue would (fields h, b, t) plus
 * `q`, the queue they belong in (q:{K}:{smsc}, the same shard), so that moving
 * them back is a copy, not a rebuild. Every move is one Lua script per shard
 * (one call for all shards on a single Redis, one per shard on a cluster:
 * queue/sections.ts): an entry is in exactly one stream at any time (nothing
 * lost, nothing sent twice).
 *
 *   enqueue ──held──▶ hold:{K}:{T} ──approve──▶ q:{K}:{smsc}  (or park:{K}:{T} if T is paused, sch:{K} if not due)
 *                               └──reject──▶ stopped (MODERATION_REJECTED)
 *   enqueue ──T paused──▶ park:{K}:{T} ◀──divert (actor)── q:{K}:{smsc}
 *                               └──unpark (after resume)──▶ q:{K}:{smsc}
 *   q:{K}:{smsc} ──divert (actor, number opted out)──▶ stopped (OPTED_OUT)
 *
 * What a move decides on: the paused set is read in the shard's copy
 * pz:{K} inside the script; the opt-out lists live in their tenants' slots,
 * so the caller reads them first and the script closes the race through the
 * shard's recent opt-outs (optout/pre-check.ts). Keys a script needs that
 * depend on data (a held message's tenant, a parked entry's queue) are read
 * by the caller first; the script checks the state again and skips an item
 * that changed meanwhile.
 *
 * The paused set: a master copy with its version in the control slot
 * ({P}{c}:pz, pz:ver: what the actors poll) and a copy per shard, written by
 * setPaused after the master with the version it reflects (copies only move
 * forward: lua/copy-paused.lua; repairCopies redoes them after a crash
 * between the steps). Pause handshake: actors poll the version (lua/poll.lua,
 * a few times a second) and record in {P}{c}:pz:ack the version they apply
 * with the Redis time of the poll. An actor that has not polled successfully
 * for SELF_STOP_MS sends nothing, so once every actor has confirmed a version,
 * or its last poll is older than SELF_STOP_MS, no actor sends on an older one.
 */
import type { RedisClient } from '../redis/connect-redis.js';
import { runCommands } from '../redis/run-commands.js';
import { defineLuaCommand } from '../redis/lua-loader.js';
import { loadStateScript } from '../queue/lua-scripts.js';
import { GROUP, type Keys } from '../queue/keys.js';
import { OPT_OUT_SKEW_MS, PRE_CHECK_MAX_AGE_MS, type QueueEntry } from '../queue/redis-store.js';
import { runSections, Section, type Arg } from '../queue/sections.js';
import { ApproveResult, DivertResult, RejectResult, UnparkResult } from '../queue/script-codes.js';
import { slotOf } from '../queue/shards.js';
import { optOutPreCheck, PRE_CHECK_ATTEMPTS, PRE_CHECK_FRAGMENTS, PreCheckResult } from '../optout/pre-check.js';

export { ApproveResult, DivertResult } from '../queue/script-codes.js';

/** An actor whose view of the paused set is older than this sends nothing (ms). */
export const SELF_STOP_MS = 3_000;

// The scripts, in engine/parking/lua/ (headers there name their KEYS and ARGV).
const DIVERT = loadStateScript(import.meta.url, './lua/divert.lua', PRE_CHECK_FRAGMENTS);
const UNPARK = loadStateScript(import.meta.url, './lua/unpark.lua', PRE_CHECK_FRAGMENTS);
const APPROVE = loadStateScript(import.meta.url, './lua/approve.lua', PRE_CHECK_FRAGMENTS);
const REJECT = loadStateScript(import.meta.url, './lua/reject.lua');
const REAP = loadStateScript(import.meta.url, './lua/reap.lua');
const POLL = loadStateScript(import.meta.url, './lua/poll.lua');
const SET_PAUSED = loadStateScript(import.meta.url, './lua/set-paused.lua');
const COPY_PAUSED = loadStateScript(import.meta.url, './lua/copy-paused.lua');
const PAUSE_CHECK = loadStateScript(import.meta.url, './lua/pause-check.lua');

export interface PollResult {
  readonly version: string;
  /** The paused tenants, when the version differs from the one applied. */
  readonly paused: string[] | undefined;
  /** Opt-out changes after the cursor, oldest first. */
  readonly optOuts: Array<{ readonly eid: string; readonly add: boolean; readonly tenant: string; readonly number: string }>;
}

interface Scripted {
  syPoll(...a: Array<string | number>): Promise<[string, string[], Array<[string, string[]]>]>;
  sySetPaused(...a: Array<string | number>): Promise<[number, number, string[]]>;
  syCopyPaused(...a: Array<string | number>): Promise<number>;
  syPauseCheck(...a: Array<string | number>): Promise<[string[], string[]]>;
}

/** A hold or park stream to reap, and where the last pass stopped. */
export interface ReapStream {
  readonly shard: number;
  readonly tenant: string;
  readonly kind: 'hold' | 'park';
  /** Scan after this entry id ('0-0': from the start). */
  readonly after: string;
}

/** A stream entry as XRANGE gives it. */
type Entry = [string, string[]];

function fieldOf(f: ReadonlyArray<string>, name: string): string | undefined {
  for (let i = 0; i + 1 < f.length; i += 2) if (f[i] === name) return f[i + 1];
  return undefined;
}

export class ParkingStore {
  private readonly s: Scripted;

  constructor(
    readonly redis: RedisClient,
    readonly keys: Keys,
    private readonly limits: { readonly eventsMaxLen: number; readonly finalRetentionSec: number },
  ) {
    defineLuaCommand(redis, 'syDivert', DIVERT);
    defineLuaCommand(redis, 'syUnpark', UNPARK);
    defineLuaCommand(redis, 'syApprove', APPROVE);
    defineLuaCommand(redis, 'syReject', REJECT);
    defineLuaCommand(redis, 'syReap', REAP);
    defineLuaCommand(redis, 'syPoll', POLL);
    defineLuaCommand(redis, 'sySetPaused', SET_PAUSED);
    defineLuaCommand(redis, 'syCopyPaused', COPY_PAUSED);
    defineLuaCommand(redis, 'syPauseCheck', PAUSE_CHECK);
    this.s = redis as unknown as Scripted;
  }

  private head(now: number): Arg[] {
    return [now, this.limits.eventsMaxLen, this.limits.finalRetentionSec];
  }

  /**
   * Runs a move whose items need the opt-out pre-check: pre-checks them,
   * builds the sections (`build` gets the pre-check and returns the sections
   * and, per section, the indexes of the items in it), runs them, and does it
   * again for the sections whose script found the pre-check too old.
   * Returns each item's section result and its place in it.
   */
  private async withPreCheck<I extends { readonly tenant: string; readonly to: string }>(
    command: string,
    head: (checkedAt: number) => Arg[],
    items: ReadonlyArray<I>,
    build: (items: ReadonlyArray<I>, listed: ReadonlyArray<boolean>) => Array<{ sec: Section; idx: number[] }>,
  ): Promise<Array<{ result: unknown; idx: number[] }>> {
    let pending = items.map((_, i) => i);
    const done: Array<{ result: unknown; idx: number[] }> = [];
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt === PRE_CHECK_ATTEMPTS) throw new Error(`${command}: the opt-out pre-check was too old ${attempt} times when the script ran (Redis slow to answer?)`);
      const sub = pending.map((i) => items[i] as I);
      const { at, listed } = await optOutPreCheck(this.redis, this.keys, sub);
      const groups = build(sub, listed);
      const res = await runSections(this.redis, command, head(at), groups.map((g) => g.sec));
      const again: number[] = [];
      groups.forEach((g, j) => {
        const idx = g.idx.map((x) => pending[x] as number);
        if (res[j] === PreCheckResult.Stale) again.push(...idx);
        else done.push({ result: res[j], idx });
      });
      pending = again;
    }
    return done;
  }

  /** Actor: parks or stops entries it held back (lua/divert.lua); one result per entry. */
  async divert(entries: ReadonlyArray<QueueEntry>, now = Date.now()): Promise<DivertResult[]> {
    const out: DivertResult[] = entries.map(() => DivertResult.Send);
    const k = this.keys;
    const ok = entries.map((e, i) => ({ e, i, shard: k.shardOf(e.id) })).filter((x) => x.shard !== undefined) as Array<{ e: QueueEntry; i: number; shard: number }>;
    const items = ok.map((x) => ({ tenant: x.e.tenant, to: x.e.to, ...x }));
    const done = await this.withPreCheck('syDivert', (at) => [...this.head(now), GROUP, at, PRE_CHECK_MAX_AGE_MS, OPT_OUT_SKEW_MS], items, (sub, listed) => {
      const bySh = new Map<number, { sec: Section; idx: number[] }>();
      sub.forEach((x, j) => {
        let g = bySh.get(x.shard);
        if (g === undefined) bySh.set(x.shard, (g = { sec: new Section(x.shard, [k.eventsOf(x.shard), k.expiryOf(x.shard), k.pausedCopy(x.shard), k.recentOptOuts(x.shard)]), idx: [] }));
        const s = g.sec;
        s.push(s.key(x.e.queueKey), s.key(k.msg(x.e.id)), s.key(k.parkOf(x.shard, x.e.tenant)), x.e.entryId, x.e.id, x.e.part, x.e.tenant, x.e.to, listed[j] === true ? 1 : 0);
        g.idx.push(j);
      });
      return [...bySh.values()];
    });
    for (const d of done) (d.result as DivertResult[]).forEach((r, j) => (out[(items[d.idx[j] as number] as { i: number }).i] = r));
    return out;
  }

  /**
   * Moves up to `count` parked parts per shard of a resumed tenant back to
   * their queues; undefined when it is paused again. `more`: some shard had
   * `count` or more (call again).
   */
  async unpark(tenant: string, count: number, now = Date.now()): Promise<{ moved: number; scanned: number; more: boolean } | undefined> {
    const k = this.keys;
    const shards = k.shards.all();
    const pages = (await runCommands(this.redis, shards.map((sh) => ['XRANGE', k.parkOf(sh, tenant), '-', '+', 'COUNT', count] as const))) as Entry[][];
    type Item = { tenant: string; to: string; shard: number; eid: string; q: string; id: string; part: string };
    const items: Item[] = [];
    pages.forEach((page, sh) => {
      for (const [eid, f] of page) {
        const h = (fieldOf(f, 'h') ?? '').split('|');
        const id = h[0] ?? '';
        const q = fieldOf(f, 'q') ?? '';
        // An entry whose message or queue is not of this shard was not written by this deployment: the reaper drops it.
        if (k.shardOf(id) !== sh || slotOf(q) !== k.shards.slot(sh)) continue;
        items.push({ tenant, to: h[3] ?? '', shard: sh, eid, q, id, part: h[1] ?? '' });
      }
    });
    const scanned = pages.reduce((a, p) => a + p.length, 0);
    const more = pages.some((p) => p.length >= count);
    if (items.length === 0) return { moved: 0, scanned, more: false };
    const done = await this.withPreCheck('syUnpark', (at) => [...this.head(now), at, PRE_CHECK_MAX_AGE_MS, OPT_OUT_SKEW_MS], items, (sub, listed) => {
      const bySh = new Map<number, { sec: Section; idx: number[] }>();
      sub.forEach((x, j) => {
        let g = bySh.get(x.shard);
        if (g === undefined) {
          g = { sec: new Section(x.shard, [k.eventsOf(x.shard), k.expiryOf(x.shard), k.pausedCopy(x.shard), k.recentOptOuts(x.shard), k.parkOf(x.shard, tenant)]), idx: [] };
          g.sec.push(tenant);
          bySh.set(x.shard, g);
        }
        g.sec.push(x.eid, g.sec.key(x.q), g.sec.key(k.msg(x.id)), x.id, x.part, listed[j] === true ? 1 : 0);
        g.idx.push(j);
      });
      return [...bySh.values()];
    });
    let moved = 0;
    for (const d of done) {
      if (d.result === UnparkResult.PausedAgain) return undefined;
      moved += (d.result as [number, number])[0];
    }
    return { moved, scanned, more };
  }

  async approve(ids: ReadonlyArray<string>, now = Date.now()): Promise<ApproveResult[]> {
    const out: ApproveResult[] = ids.map(() => ApproveResult.NotHeld);
    const k = this.keys;
    const known = ids.map((id, i) => ({ id, i, shard: k.shardOf(id) })).filter((x) => x.shard !== undefined) as Array<{ id: string; i: number; shard: number }>;
    if (known.length === 0) return out;
    // What names the keys: the tenant (hold and park streams) and the SMSC (its queue in the shard).
    const metas = (await runCommands(this.redis, known.map((x) => ['HMGET', k.msg(x.id), 't', 'to', 's', 'sm'] as const))) as Array<Array<string | null>>;
    const items = known.flatMap((x, j) => {
      const [t, to, st, sm] = metas[j] as Array<string | null>;
      return st === 'pending_approval' && t && to && sm ? [{ ...x, tenant: t, to, sm }] : [];
    });
    if (items.length === 0) return out;
    const done = await this.withPreCheck('syApprove', (at) => [...this.head(now), at, PRE_CHECK_MAX_AGE_MS, OPT_OUT_SKEW_MS], items, (sub, listed) => {
      const bySh = new Map<number, { sec: Section; idx: number[] }>();
      sub.forEach((x, j) => {
        let g = bySh.get(x.shard);
        if (g === undefined) bySh.set(x.shard, (g = { sec: new Section(x.shard, [k.eventsOf(x.shard), k.expiryOf(x.shard), k.scheduleOf(x.shard), k.pausedCopy(x.shard), k.recentOptOuts(x.shard)]), idx: [] }));
        const s = g.sec;
        s.push(s.key(k.msg(x.id)), s.key(k.holdOf(x.shard, x.tenant)), s.key(k.parkOf(x.shard, x.tenant)), s.key(k.queueOf(x.sm, x.shard)), x.id, listed[j] === true ? 1 : 0);
        g.idx.push(j);
      });
      return [...bySh.values()];
    });
    for (const d of done) (d.result as ApproveResult[]).forEach((r, j) => (out[(items[d.idx[j] as number] as { i: number }).i] = r));
    return out;
  }

  /** Rejects held messages (`stopped`, MODERATION_REJECTED with `reason`); per id whether it was held. */
  async reject(ids: ReadonlyArray<string>, reason: string, now = Date.now()): Promise<boolean[]> {
    const out = ids.map(() => false);
    const k = this.keys;
    const known = ids.map((id, i) => ({ id, i, shard: k.shardOf(id) })).filter((x) => x.shard !== undefined) as Array<{ id: string; i: number; shard: number }>;
    if (known.length === 0) return out;
    const tenants = (await runCommands(this.redis, known.map((x) => ['HGET', k.msg(x.id), 't'] as const))) as Array<string | null>;
    const bySh = new Map<number, { sec: Section; idx: number[] }>();
    known.forEach((x, j) => {
      const t = tenants[j];
      if (!t) return;
      let g = bySh.get(x.shard);
      if (g === undefined) bySh.set(x.shard, (g = { sec: new Section(x.shard, [k.eventsOf(x.shard), k.expiryOf(x.shard)]), idx: [] }));
      g.sec.push(g.sec.key(k.msg(x.id)), g.sec.key(k.holdOf(x.shard, t)), x.id);
      g.idx.push(x.i);
    });
    const groups = [...bySh.values()];
    const res = await runSections(this.redis, 'syReject', [...this.head(now), reason], groups.map((g) => g.sec));
    groups.forEach((g, j) => (res[j] as RejectResult[]).forEach((r, n) => (out[g.idx[n] as number] = r === RejectResult.Rejected)));
    return out;
  }

  /**
   * Drops entries of hold and park streams whose message no longer waits
   * there, up to `count` entries scanned per stream; per stream where the
   * next pass starts ('0-0' at its end) and how many it dropped.
   */
  async reap(streams: ReadonlyArray<ReapStream>, count: number): Promise<Array<{ last: string; dropped: number }>> {
    if (streams.length === 0) return [];
    const k = this.keys;
    const keyOf = (r: ReapStream) => (r.kind === 'hold' ? k.holdOf(r.shard, r.tenant) : k.parkOf(r.shard, r.tenant));
    const pages = (await runCommands(this.redis, streams.map((r) => ['XRANGE', keyOf(r), `(${r.after}`, '+', 'COUNT', count] as const))) as Entry[][];
    const out = streams.map((_, i) => ({ last: (pages[i] as Entry[]).length < count ? '0-0' : ((pages[i] as Entry[]).at(-1)?.[0] ?? '0-0'), dropped: 0 }));
    const secs: Section[] = [];
    const which: number[] = [];
    streams.forEach((r, i) => {
      const page = pages[i] as Entry[];
      if (page.length === 0) return;
      const sec = new Section(r.shard, [keyOf(r)]);
      sec.push(r.kind);
      for (const [eid, f] of page) {
        const h = (fieldOf(f, 'h') ?? '').split('|');
        const id = h[0] ?? '';
        // Not a message of this shard: nothing to look up, the entry is dropped.
        sec.push(eid, k.shardOf(id) === r.shard ? sec.key(k.msg(id)) : 0, h[1] ?? '');
      }
      secs.push(sec);
      which.push(i);
    });
    const res = await runSections(this.redis, 'syReap', [], secs);
    which.forEach((i, j) => ((out[i] as { dropped: number }).dropped = Number(res[j])));
    return out;
  }

  async poll(consumer: string, appliedVersion: string, cursor: string, count: number): Promise<PollResult> {
    const k = this.keys;
    const [version, members, ev] = await this.s.syPoll(k.control('pz:ack'), k.control('pz:ver'), k.control('pz'), k.control('ooev'), consumer, appliedVersion, cursor, count);
    const optOuts = ev.map(([eid, f]) => {
      const m: Record<string, string> = {};
      for (let i = 0; i + 1 < f.length; i += 2) m[f[i] as string] = f[i + 1] as string;
      return { eid, add: m.k === 'a', tenant: m.t ?? '', number: m.n ?? '' };
    });
    return { version, paused: version === appliedVersion ? undefined : members, optOuts };
  }

  /**
   * Pauses or resumes a tenant: the master copy and its version (control
   * slot, what the actors poll), then every shard's copy (what the enqueue
   * scripts read). Returns once every copy holds this version or a later one.
   */
  async setPaused(tenant: string, paused: boolean): Promise<{ version: number; at: number }> {
    const [version, at, members] = await this.s.sySetPaused(this.keys.control('pz'), this.keys.control('pz:ver'), tenant, paused ? 1 : 0);
    await this.writeCopies(version, members);
    return { version, at };
  }

  private async writeCopies(version: number, members: ReadonlyArray<string>): Promise<void> {
    await Promise.all(this.keys.shards.all().map((k) => this.s.syCopyPaused(this.keys.pausedCopy(k), this.keys.pausedCopyVersion(k), version, ...members)));
  }

  /**
   * Writes the master copy into every shard's copy again: repairs copies a
   * crash between the two steps of setPaused left behind (run at start and
   * now and then). A newer copy is never overwritten (copy-paused.lua).
   */
  async repairCopies(): Promise<void> {
    const r = await this.redis.multi().get(this.keys.control('pz:ver')).smembers(this.keys.control('pz')).exec();
    const [[e1, ver], [e2, members]] = (r ?? []) as Array<[Error | null, unknown]> as [[Error | null, string | null], [Error | null, string[]]];
    if (e1 || e2) throw e1 ?? e2;
    if (ver === null) return;
    await this.writeCopies(Number(ver), members);
  }

  /** Actors that confirmed paused-set `version` and opt-out change `optOutEid`, and those that may not have yet. */
  async pauseCheck(version: number, optOutEid = '0-0'): Promise<{ confirmed: string[]; waiting: string[] }> {
    const [confirmed, waiting] = await this.s.syPauseCheck(this.keys.control('pz:ack'), version, SELF_STOP_MS + 200, optOutEid);
    return { confirmed, waiting };
  }

  /** Parts of the tenant parked now, over every shard. */
  async parkedCount(tenant: string): Promise<number> {
    return (await this.parkedCounts([tenant]))[0] as number;
  }

  /** Parts of each tenant parked now, over every shard (S × tenants XLENs, one pipeline on a single Redis). */
  async parkedCounts(tenants: ReadonlyArray<string>): Promise<number[]> {
    const shards = this.keys.shards.all();
    const n = await runCommands(this.redis, tenants.flatMap((t) => shards.map((k) => ['XLEN', this.keys.parkOf(k, t)] as const)));
    return tenants.map((_, i) => n.slice(i * shards.length, (i + 1) * shards.length).reduce<number>((a, b) => a + Number(b), 0));
  }

  async pausedTenants(): Promise<string[]> {
    return await this.redis.smembers(this.keys.control('pz'));
  }

  async isPaused(tenant: string): Promise<boolean> {
    return (await this.redis.sismember(this.keys.control('pz'), tenant)) === 1;
  }
}
