/**
 * Messages that wait outside their SMSC queue: held for moderation
 * (`pending_approval`, stream {P}hold:{T}) or parked while their tenant is
 * paused (`paused`, stream {P}park:{T}). Both streams hold the parts exactly
 * as the SMSC queue would (fields h, b, t) plus `q`, the queue they belong
 * in, so that moving them back is a copy, not a rebuild. Every move is one
 * Lua script: an entry is in exactly one stream at any time (nothing lost,
 * nothing sent twice), and each check that decides a move (opt-out lists,
 * the paused set) is made inside the script that moves.
 *
 *   enqueue ──held──▶ hold:{T} ──approve──▶ q:{smsc:p}  (or park:{T} if T is paused)
 *                            └──reject──▶ stopped (MODERATION_REJECTED)
 *   enqueue ──T paused──▶ park:{T} ◀──divert (actor)── q:{smsc:p}
 *                            └──unpark (after resume)──▶ q:{smsc:p}
 *   q:{smsc:p} ──divert (actor, number opted out)──▶ stopped (OPTED_OUT)
 *
 * Pause handshake: actors poll the paused set's version (lua/poll.lua, a few
 * times a second) and record in {P}pz:ack the version they apply with the
 * Redis time of the poll. An actor that has not polled successfully for
 * SELF_STOP_MS sends nothing, so once every actor has confirmed a version,
 * or its last poll is older than SELF_STOP_MS, no actor sends on an older one.
 */
import type { RedisClient } from '../redis/connect-redis.js';
import { runCommands } from '../redis/run-commands.js';
import { defineLuaCommand } from '../redis/lua-loader.js';
import { loadStateScript } from '../queue/lua-scripts.js';
import { GROUP, type Keys } from '../queue/keys.js';
import type { QueueEntry } from '../queue/redis-store.js';
import { RejectResult, UnparkResult, type ApproveResult, type DivertResult } from '../queue/script-codes.js';

export { ApproveResult, DivertResult } from '../queue/script-codes.js';

/** An actor whose view of the paused set is older than this sends nothing (ms). */
export const SELF_STOP_MS = 3_000;

// The scripts, in engine/parking/lua/ (headers there name their KEYS and ARGV).
const DIVERT = loadStateScript(import.meta.url, './lua/divert.lua');
const UNPARK = loadStateScript(import.meta.url, './lua/unpark.lua');
const APPROVE = loadStateScript(import.meta.url, './lua/approve.lua');
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
  syDivert(...a: Array<string | number>): Promise<DivertResult[]>;
  syUnpark(...a: Array<string | number>): Promise<[number, number] | typeof UnparkResult.PausedAgain>;
  syApprove(...a: Array<string | number>): Promise<ApproveResult[]>;
  syReject(...a: Array<string | number>): Promise<RejectResult[]>;
  syReap(...a: Array<string | number>): Promise<[string, number]>;
  syPoll(...a: Array<string | number>): Promise<[string, string[], Array<[string, string[]]>]>;
  sySetPaused(...a: Array<string | number>): Promise<[number, number, string[]]>;
  syCopyPaused(...a: Array<string | number>): Promise<number>;
  syPauseCheck(...a: Array<string | number>): Promise<[string[], string[]]>;
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

  private head(now: number): Array<string | number> {
    return [this.keys.prefix, now, this.limits.eventsMaxLen, this.limits.finalRetentionSec];
  }

  /** Actor: parks or stops entries it held back (lua/divert.lua); one result per entry. */
  async divert(entries: ReadonlyArray<QueueEntry>, now = Date.now()): Promise<DivertResult[]> {
    const args = this.head(now);
    args.push(GROUP);
    for (const e of entries) args.push(e.queueKey, e.entryId, e.id, e.part, e.tenant, e.to);
    return await this.s.syDivert(...args);
  }

  /** Moves up to `count` parked parts of a resumed tenant back; undefined when it is paused again. */
  async unpark(tenant: string, count: number, now = Date.now()): Promise<{ moved: number; scanned: number } | undefined> {
    const r = await this.s.syUnpark(...this.head(now), tenant, count);
    return r === UnparkResult.PausedAgain ? undefined : { moved: r[0], scanned: r[1] };
  }

  async approve(ids: ReadonlyArray<string>, now = Date.now()): Promise<ApproveResult[]> {
    if (ids.length === 0) return [];
    return await this.s.syApprove(...this.head(now), ...ids);
  }

  /** Rejects held messages (`stopped`, MODERATION_REJECTED with `reason`); per id whether it was held. */
  async reject(ids: ReadonlyArray<string>, reason: string, now = Date.now()): Promise<boolean[]> {
    if (ids.length === 0) return [];
    return (await this.s.syReject(...this.head(now), reason, ...ids)).map((r) => r === RejectResult.Rejected);
  }

  async reap(key: string, after: string, count: number, kind: 'hold' | 'park'): Promise<{ last: string; dropped: number }> {
    const [last, dropped] = await this.s.syReap(this.keys.prefix, key, after, count, kind);
    return { last, dropped };
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
    const n = await runCommands(this.redis, this.keys.shards.all().map((k) => ['XLEN', this.keys.parkOf(k, tenant)] as const));
    return n.reduce<number>((a, b) => a + Number(b), 0);
  }

  async pausedTenants(): Promise<string[]> {
    return await this.redis.smembers(this.keys.control('pz'));
  }

  async isPaused(tenant: string): Promise<boolean> {
    return (await this.redis.sismember(this.keys.control('pz'), tenant)) === 1;
  }
}
