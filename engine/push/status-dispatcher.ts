/**
 * Pushes status frames to tenants' open WebSocket connections, from the events
 * streams the state scripts write: one per shard, ev:{T} (issue 13; one entry
 * per status change, with the tenant in field `t` and the ready-made frame in
 * field `f`).
 *
 *   ev:{T0} … ev:{TS-1} ──live reader (while any tenant is connected)──▶ live connections of entry.t
 *          └─lua/catch-up.lua pages (one shared scan, filtered in Redis by tenant)──▶ connections catching up
 *
 * The live reader: on a single Redis one XREAD BLOCK naming all S streams
 * (one command a read, as with one stream); on a Redis Cluster one XREAD per
 * stream, pipelined per master, polled (5 ms doubling to 100 ms while all are
 * empty) since a blocking read would hold its master's connection
 * (engine/queue/event-streams.ts). A master that does not answer (failover)
 * holds back only its shards.
 *
 * Every frame carries `eid`, `s<K>-<ms>-<seq>`: shard K and its stream id
 * (engine/queue/event-id.ts). A connection's position is one stream id per
 * shard. A frame of shard K goes to a connection only if it is after the
 * connection's position in K, and whoever gives it (the live reader or a
 * catch-up scan) moves that position; so no frame is given twice or skipped,
 * whatever order the two readers' replies come in. The live reader serves a
 * connection in a shard as soon as its position there reaches the reader's
 * (per shard, not all at once: under load a catch-up of S shards would
 * otherwise chase the live reader); a connection whose every shard has been
 * reached is "live" and simply follows the reader. A connection that is
 * backpressured stops being served and catches up later from its position,
 * so a slow client costs Redis reads, not engine memory. Tenants see only
 * their own frames: entries are matched on `t`.
 *
 * Where a connection starts:
 *   ?since=s<K>-<ms>-<seq>  shard K after that entry; the other shards from
 *                ms − resumeMarginMs (frames of different shards are pushed in
 *                time order only as far as reads and the masters' clocks
 *                allow), or from where the tenant was last served there (its
 *                saved cursor) when that is earlier; so a client that resumes
 *                with the eid of the last frame it processed may see frames of
 *                the other shards again (from the margin) and deduplicates by
 *                eid (README "What a client may see twice");
 *   ?since=<ms>-<seq>  the unsharded form: every shard from that ms;
 *   ?since=$     from now: after each stream's last entry (not the live
 *                reader's position, which is stale while nobody is connected);
 *   no since     after the tenant's saved cursor stc:{t}, a hash shard → stream
 *                id: the positions its connections were served to, saved with
 *                every push batch (one HSET of the shards that moved per tenant
 *                that got frames, never two saves in flight; positions without
 *                frames once a second), so a resume after a crash repeats what
 *                was in flight, exactly, per shard.
 * Either way no further back than `resumeMaxAgeMs` (clamped, and the client is
 * told with an error frame RESUME_LIMITED naming where it resumes), and never
 * beyond a stream's end.
 * A saved cursor never passes frames a backpressured connection may still hold
 * in its send buffer (they would be lost with a crash): until that connection
 * has caught up again, the tenant's cursor is held where its unflushed frames
 * begin.
 *
 * Catch-ups are bounded, because a resume is a client's to ask for: 200
 * connections resuming from `since=0-0` each XRANGEd the whole shared stream
 * (every tenant's events: 11 s of Redis CPU in 64 s, another tenant's ack p50
 * from 2 to 104 ms). Now
 *   - one scan at a time serves every connection catching up (at most
 *     `maxCatchUps`, `maxCatchUpsPerTenant` of one tenant; the others wait
 *     their turn, in order): N resuming connections cost one pass over the
 *     streams, not N; a connection that is not behind the scan in any shard
 *     joins it at its next page;
 *   - the scan filters in Redis (lua/catch-up.lua, one call per shard per page,
 *     all in one pipeline per master; ~500 entries a page over the shards, ~2 ms of
 *     Redis): only the frames of the tenants it serves come back, so the
 *     ingress thread (which acks) does not parse other tenants' entries;
 *   - a page goes only as far as the shard that is furthest behind in time
 *     (the lowest last id among the shards whose page was full): frames of all
 *     shards reach a connection in time order, as the live reader gives them,
 *     so the resume margin above holds after a catch-up too; entries of other
 *     shards beyond that point are read again by the next page (the price of
 *     the order);
 *   - it reaches back `resumeMaxAgeMs` at most.
 * The trade-offs, measured with `npm run bench:resume` (bench/RESULTS.md; a
 * loaded two-core box, so ratios rather than absolutes):
 *   - a plain XRANGE costs Redis ~1-1.5 µs per entry scanned, and the engine's
 *     ingress thread ~7 µs of CPU per entry to parse and filter it (~4.5 with
 *     Buffer replies);
 *   - the filter script costs Redis ~3-6.5 µs per entry scanned (Lua builds a
 *     table per entry) and the engine ~0.5-1.4 µs: about as much CPU in all,
 *     but the ack path's thread stays free, and the reach and the one shared
 *     scan bound what Redis spends;
 *   - a per-tenant index (a bounded stream per tenant, written next to every
 *     event, so a catch-up reads only its tenant's entries) would make a
 *     catch-up cheap, but every status change of every message would pay one
 *     more XADD in the state scripts: +2.5 to +10 µs of Redis per event
 *     (+30-110 % of the event write; with two events a message ~+5-20 % of a
 *     message's Redis time), always, for the rare resume. Not worth it. (A first version of the events stream
 *     kept a per-tenant stream as well; it cost Redis more than filtering `ev`
 *     by tenant, see README "Design notes".)
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../queue/keys.js';
import { isCluster, type RedisClient } from '../redis/connect-redis.js';
import { defineLuaCommand, loadLuaScript, luaPath } from '../redis/lua-loader.js';
import { perKey, type Reply } from '../redis/node-pipelines.js';
import { compareStreamId as compareEid } from '../queue/stream-id.js';
import { EventStreams, IdlePoll, type StreamEntry } from '../queue/event-streams.js';
import { formatEid, maxId, minId, msOf, parseEid, uniform, type Positions } from '../queue/event-id.js';

export interface StatusSink {
  /**
   * Sends one frame; returns false when the connection is backpressured.
   * (Not named `send`: uWS merges user data into its WebSocket object.)
   */
  push(frame: string): boolean;
  /** Sends several frames in one write (uWS cork); false when backpressured after them. */
  pushMany(frames: string[]): boolean;
  readonly tenant: string;
  /** Set by the dispatcher: the connection follows the live reader in every shard. */
  live: boolean;
  closed: boolean;
}

export interface StatusDispatcherOptions {
  /** How far back a resume reaches (ms; server.resume.maxAgeSec). */
  readonly resumeMaxAgeMs: number;
  /** Connections catching up at once, all served by one scan (server.resume.maxCatchUps). */
  readonly maxCatchUps: number;
  /** Of those, connections of one tenant (server.resume.maxCatchUpsPerTenant). */
  readonly maxCatchUpsPerTenant: number;
  /** ?since=s<K>-…: the other shards resume this much earlier (ms; server.resume.marginSec). */
  readonly resumeMarginMs: number;
  readonly now?: () => number;
}

const DEFAULT_OPTIONS: StatusDispatcherOptions = { resumeMaxAgeMs: 300_000, maxCatchUps: 64, maxCatchUpsPerTenant: 2, resumeMarginMs: 5000 };

/** The largest sequence number of a stream id: `${ms - 1}-MAX_SEQ` is the position just before ms. */
const MAX_SEQ = '18446744073709551615';

interface TenantState {
  readonly conns: Set<StatusSink>;
  /**
   * Positions reached for the tenant, saved as stc:{t} (unless held). Tenants
   * with a live connection take the live reader's cursor snapshot (shared, never
   * mutated); `ahead` says a catch-up went beyond it in some shard.
   */
  pushed: Positions;
  /** `pushed` is a cursor snapshot (shared: copy before changing it). */
  shared: boolean;
  ahead: boolean;
  /** Backpressured connections → where their possibly unflushed frames begin, per shard. */
  readonly holds: Map<StatusSink, Positions>;
  /** Positions last saved (or read) per shard; '' unknown. */
  readonly saved: string[];
  /** The saved cursor may be behind `pushed` (or a hold). */
  dirty: boolean;
  /** Frames went out since the last save: save with the next batch. */
  urgent: boolean;
}

/** One page of a catch-up scan of one shard, filtered in Redis: lua/catch-up.lua (its header names KEYS and ARGV). */
export const CATCH_UP = loadLuaScript(luaPath(import.meta.url, './lua/catch-up.lua'));
export const CATCH_UP_LUA = CATCH_UP.lua;

/**
 * Entries a catch-up page aims to scan over the shards it reads: its time
 * window adapts to that (INITIAL_WINDOW_MS to start, up to MAX_WINDOW_MS);
 * one shard's part stops at 2 × SCAN_PAGE / shards read (at least
 * MIN_SHARD_PAGE), so one page holds Redis for a few ms whatever the burst.
 */
const SCAN_PAGE = 500;
const MIN_SHARD_PAGE = 64;
const INITIAL_WINDOW_MS = 1000;
/** Frames of different shards reach a connection in time order within this (ms); server.resume.marginSec must exceed it. */
export const ORDER_SLACK_MS = 1000;
const MAX_WINDOW_MS = 3_600_000;
/**
 * Entries per live read, over all shards: LIVE_PAGE normally, small enough that
 * parsing a reply and pushing its frames never holds the ingress thread for
 * long (acks wait behind it). A full page from any stream means the reader is
 * behind: the next read takes twice as many, up to LIVE_PAGE_MAX, and shrinks
 * back once no page is full. (At a fixed 200 a busy machine's slower round trips capped the
 * push rate below the event rate: status frames fell seconds behind.) XREAD's
 * COUNT is per stream: each takes its share, page / S.
 */
const LIVE_PAGE = 200;
const LIVE_PAGE_MAX = 3200;

/**
 * Reads fields t (tenant) and f (frame) of an events entry (analytics/status-events.ts);
 * frame is undefined when the client asked for no pushes (p = '0'). The hot path's
 * lean version of parseStatusEvent.
 */
function fieldsOf(fields: string[] | null): { tenant: string | undefined; frame: string | undefined } {
  let tenant: string | undefined;
  let frame: string | undefined;
  if (fields === null) return { tenant, frame };
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const k = fields[i];
    if (k === 't') tenant = fields[i + 1];
    else if (k === 'f') frame = fields[i + 1];
    else if (k === 'p' && fields[i + 1] === '0') return { tenant, frame: undefined };
  }
  return { tenant, frame };
}

function frameWithEid(eid: string, frame: string): string {
  // frame is {"op":"status",...} (or {"at":...}): splice the eid in after the opening brace.
  return `{"eid":"${eid}",${frame.slice(1)}`;
}

/** The position just before `ms`: everything at ms or later is after it. */
function beforeMs(ms: number): string {
  return ms <= 0 ? '0-0' : `${ms - 1}-${MAX_SEQ}`;
}

/** Every position of `a` at or past the same shard's in `b`. */
function allAtOrPast(a: Positions, b: Positions): boolean {
  for (let k = 0; k < a.length; k++) if (compareEid(a[k] as string, b[k] as string) < 0) return false;
  return true;
}

/** Catch-up counters (for /v1/status and the tests). */
export interface CatchUpStats {
  /** Scan pages read since start (one script call per shard read). */
  pages: number;
  /** Entries those pages scanned. */
  scanned: number;
  /** Of those, entries beyond the page's time bound, read again by the next page. */
  rescanned: number;
  /** Connections waiting for their turn now. */
  waiting: number;
  /** Connections being served by the running scan now. */
  running: number;
  /** Most connections served by one scan at once. */
  maxRunning: number;
  /** Resumes clamped to the reach (resumeMaxAgeMs). */
  limited: number;
}

/** A frame a catch-up page gives: shard, stream id, tenant, frame (without eid). */
type PageFrame = [number, string, string, string];

export class StatusDispatcher {
  /** Status frames handed to connections (catch-up and live). */
  pushed = 0;
  framesPushed = 0;
  readonly catchUps: CatchUpStats = { pages: 0, scanned: 0, rescanned: 0, waiting: 0, running: 0, maxRunning: 0, limited: 0 };
  /** Live reads that a master did not answer (cluster failover): their shards wait for the next read. */
  liveReadFailures = 0;
  readonly shards: number;
  private readonly tenants = new Map<string, TenantState>();
  private readonly o: StatusDispatcherOptions;
  private readonly now: () => number;
  private readonly streams: EventStreams;
  private readonly cluster: boolean;
  private readonly reader: RedisClient;
  private readonly idle = new IdlePoll();
  private running = false;
  private blockedClientId: number | undefined;
  private wake: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;
  private cursorTimer: NodeJS.Timeout | undefined;
  /**
   * Position of the live reader in every shard; undefined while nobody is
   * connected (it would go stale). Replaced, never mutated, by each read: a
   * snapshot can be kept by reference (TenantState.pushed).
   */
  private cursor: Positions | undefined;
  /**
   * Positions of connections that are not exactly at the live reader's cursor
   * (catching up, waiting, backpressured, following); live ones without an
   * entry here are at `cursor`.
   */
  private readonly pos = new Map<StatusSink, Positions>();
  /**
   * Live connections ahead of the live reader in some shard (a catch-up read
   * beyond it, or a `$` while its cursor was stale): the reader serves them
   * frame by frame against their own positions until its cursor has reached
   * them (moving them back to the cursor re-sent what they had).
   */
  private readonly following = new Set<StatusSink>();
  /** Connections waiting for a catch-up, in arrival order. */
  private readonly waiting = new Set<StatusSink>();
  /** Connections the running scan serves. */
  private readonly round = new Set<StatusSink>();
  private scanning: Promise<void> | undefined;
  private scanLoop = false;
  /** Resolves attach() once the connection is live (or closed, or backpressured). */
  private readonly settled = new Map<StatusSink, () => void>();
  private saving = false;

  /**
   * `redis`: commands (heads, cursors, catch-up pages); `reader`: the live
   * reader's own connection (a blocking read holds it; on a cluster its own
   * connections to every master).
   */
  constructor(
    private readonly redis: RedisClient,
    reader: RedisClient,
    private readonly keys: Keys,
    options: Partial<StatusDispatcherOptions> = {},
  ) {
    this.o = { ...DEFAULT_OPTIONS, ...options };
    this.now = this.o.now ?? Date.now;
    this.streams = new EventStreams(reader, keys);
    this.shards = this.streams.shards;
    this.cluster = isCluster(reader);
    this.reader = reader;
    defineLuaCommand(redis, 'syCatchUp', CATCH_UP);
  }

  start(): void {
    this.running = true;
    this.loopDone = this.loop();
    this.cursorTimer = setInterval(() => void this.saveCursors(false), 1000);
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.cursorTimer);
    this.interrupt();
    await this.loopDone;
    await this.scanning;
    while (this.saving) await new Promise((ok) => setTimeout(ok, 5));
    await this.saveCursors(false);
  }

  /**
   * Checks a client's `?since=` before the connection opens: undefined when it
   * can be used, else what is wrong with it (the ingress answers 400 BAD_REQUEST).
   */
  checkSince(since: string): string | undefined {
    if (since === '$' || parseEid(since, this.shards) !== undefined) return undefined;
    return `"since" must be an event id such as "s3-1732290000000-0" (the eid of a status frame; shards 0-${this.shards - 1}) or "$" for new events only, got ${JSON.stringify(since.slice(0, 40))}`;
  }

  /** The last entry of each shard's stream ('0-0' when empty). */
  private async heads(): Promise<Positions> {
    const res = await perKey(this.redis, this.streams.keys, (p, key) => p.xrevrange(key, '+', '-', 'COUNT', 1));
    return res.map((r) => {
      const [err, v] = r[0] as Reply;
      if (err !== null) throw err;
      return (v as Array<[string, string[]]>)[0]?.[0] ?? '0-0';
    });
  }

  /** The tenant's saved cursor (stc:{t}, shard → id); undefined when it has none. */
  private async savedCursor(tenant: string): Promise<Array<string | undefined> | undefined> {
    let h: Record<string, string>;
    try {
      h = await this.redis.hgetall(this.keys.statusCursor(tenant));
    } catch (err) {
      // A cursor of another type (WRONGTYPE) counts as none; Redis being away does not.
      if (err instanceof Error && err.message.startsWith('WRONGTYPE')) return undefined;
      throw err;
    }
    const out: Array<string | undefined> = new Array<string | undefined>(this.shards).fill(undefined);
    let any = false;
    for (const [k, v] of Object.entries(h)) {
      const shard = Number(k);
      const p = parseEid(v, 1);
      if (Number.isInteger(shard) && shard >= 0 && shard < this.shards && p?.kind === 'plain') {
        out[shard] = p.id;
        any = true;
      }
    }
    return any ? out : undefined;
  }

  /**
   * Registers a connection; it catches up from `since` (an event id, or `$` for
   * new events only; default the tenant's saved cursor), within the resume
   * reach, then goes live. Resolves once it is live (or closed or backpressured).
   */
  async attach(sink: StatusSink, since: string | undefined): Promise<void> {
    let t = this.tenants.get(sink.tenant);
    if (t === undefined) {
      t = { conns: new Set(), pushed: uniform(this.shards, '0-0'), shared: false, ahead: false, holds: new Map(), saved: new Array<string>(this.shards).fill(''), dirty: false, urgent: false };
      this.tenants.set(sink.tenant, t);
    }
    // Registered before any await: the live reader must not think nobody is connected meanwhile.
    t.conns.add(sink);
    sink.live = false;
    this.pos.set(sink, uniform(this.shards, '0-0'));
    const heads = await this.heads();
    if (this.cursor === undefined) {
      this.cursor = heads;
      this.interrupt();
    }
    const floorMs = Math.max(0, this.now() - this.o.resumeMaxAgeMs);
    const floor = `${floorMs}-0`;
    const given = since === '$' ? undefined : since === undefined ? undefined : parseEid(since, this.shards);
    const saved = since === '$' ? undefined : await this.savedCursor(sink.tenant);
    for (let k = 0; k < this.shards; k++) if (saved?.[k] !== undefined) t.saved[k] = saved[k] as string;
    // Per shard: where to start, and whether that was asked for exactly (a clamp of it is told).
    const from: Positions = [];
    const exact: boolean[] = [];
    for (let k = 0; k < this.shards; k++) {
      let p: string;
      let ex = true;
      if (since === '$') p = heads[k] as string;
      else if (given?.kind === 'shard') {
        if (given.shard === k) p = given.id;
        else {
          // The other shards: from the margin before the eid's time, or from where the tenant was last served there.
          p = beforeMs(msOf(given.id) - this.o.resumeMarginMs);
          const s = saved?.[k];
          if (s !== undefined) p = minId(p, s);
          ex = false;
        }
      } else if (given?.kind === 'plain') p = beforeMs(msOf(given.id));
      // A tenant's first connection ever (no saved cursor) starts at the reach, without a notice.
      else if (saved === undefined) p = floor;
      else p = saved[k] ?? floor;
      from.push(p);
      exact.push(ex);
    }
    // Not beyond a stream's end (nothing exists after it: from now), nor further back than the reach
    // (nor, in an idle stream, than its end).
    const clamped: number[] = [];
    for (let k = 0; k < this.shards; k++) {
      const head = heads[k] as string;
      if (compareEid(from[k] as string, head) > 0) from[k] = head;
      const reach = compareEid(floor, head) < 0 ? floor : head;
      if (compareEid(from[k] as string, reach) < 0) {
        if (exact[k]) clamped.push(k);
        from[k] = reach;
      }
    }
    if (clamped.length > 0 && !sink.closed) {
      // Told only when entries are skipped: the first one after the asked position is not after the reach.
      const asked = (k: number) => (given?.kind === 'shard' && given.shard === k ? given.id : given?.kind === 'plain' ? beforeMs(msOf(given.id)) : (saved?.[k] ?? '0-0'));
      const firsts = await perKey(this.redis, clamped.map((k) => this.streams.keys[k] as string), (p, key, i) => p.xrange(key, '(' + asked(clamped[i] as number), '+', 'COUNT', 1));
      const skipped = clamped.some((k, i) => {
        const next = ((firsts[i]?.[0]?.[1] ?? []) as Array<[string, string[]]>)[0]?.[0];
        return next !== undefined && compareEid(next, from[k] as string) <= 0;
      });
      if (skipped) {
        this.catchUps.limited++;
        sink.push(
          `{"op":"error","code":"RESUME_LIMITED","from":"${floor}","error":${JSON.stringify(
            `status frames resume from ${floor} (ms-seq, in every shard), not from the position asked: a resume reaches back at most ${Math.round(this.o.resumeMaxAgeMs / 1000)} s (server.resume.maxAgeSec); statuses before that are not sent again (GET /v1/messages/ID has them)`,
          )}}`,
        );
      }
    }
    if (sink.closed) return;
    this.pos.set(sink, from);
    const done = new Promise<void>((ok) => this.settled.set(sink, ok));
    this.request(sink);
    await done;
  }

  detach(sink: StatusSink): void {
    sink.closed = true;
    this.waiting.delete(sink);
    this.round.delete(sink);
    this.following.delete(sink);
    this.pos.delete(sink);
    this.settle(sink);
    const t = this.tenants.get(sink.tenant);
    if (t === undefined) return;
    t.conns.delete(sink);
    // A closed connection's unflushed frames are lost to it; the tenant resumes before them
    // only if it has no other connection that got them.
    const hold = t.holds.get(sink);
    if (t.conns.size === 0) {
      this.tenants.delete(sink.tenant);
      const point = this.savePoint(t);
      const fields = this.changed(t, point);
      if (fields.length > 0) void this.redis.hset(this.keys.statusCursor(sink.tenant), ...fields).catch(() => undefined);
    } else if (hold !== undefined) {
      t.holds.delete(sink);
      t.dirty = true;
    }
  }

  /** Called when a backpressured connection has drained. */
  resume(sink: StatusSink): void {
    if (!sink.live && !sink.closed) this.request(sink);
  }

  private settle(sink: StatusSink): void {
    const ok = this.settled.get(sink);
    if (ok !== undefined) {
      this.settled.delete(sink);
      ok();
    }
  }

  /**
   * The connection has reached the live reader in every shard: from now on it
   * follows it (exactly at its cursor, or ahead of it in some shard: following).
   */
  private goLive(sink: StatusSink): void {
    sink.live = true;
    const p = this.pos.get(sink);
    if (p !== undefined && this.cursor !== undefined && allAtOrPast(this.cursor, p)) this.pos.delete(sink);
    else if (p !== undefined) this.following.add(sink);
    const t = this.tenants.get(sink.tenant);
    if (t !== undefined && t.holds.delete(sink)) t.dirty = true;
    this.settle(sink);
  }

  /** A live connection leaves live (backpressure): its position is what it was served to. */
  private leaveLive(sink: StatusSink, at: Positions): void {
    sink.live = false;
    this.following.delete(sink);
    if (!this.pos.has(sink)) this.pos.set(sink, at.slice());
  }

  /** Frames may sit in a backpressured connection's buffer from `from` on: hold the tenant's saved cursor there. */
  private hold(sink: StatusSink, from: Positions): void {
    const t = this.tenants.get(sink.tenant);
    if (t === undefined) return;
    const h = t.holds.get(sink);
    if (h === undefined) t.holds.set(sink, from.slice());
    else for (let k = 0; k < h.length; k++) h[k] = minId(h[k] as string, from[k] as string);
  }

  /** The tenant's connections have been served up to `at` (per shard; only moves forward). */
  private reached(t: TenantState, at: Positions, frames: boolean): void {
    for (let k = 0; k < at.length; k++) {
      if (compareEid(at[k] as string, t.pushed[k] as string) <= 0) continue;
      if (t.shared) {
        // A cursor snapshot other tenants may hold too: copied before it changes.
        t.pushed = t.pushed.slice();
        t.shared = false;
      }
      t.pushed[k] = at[k] as string;
      t.dirty = true;
      if (this.cursor !== undefined && compareEid(at[k] as string, this.cursor[k] as string) > 0) t.ahead = true;
    }
    if (frames) t.urgent = true;
  }

  /** A live connection of the tenant was served up to the live reader's new cursor: O(1) unless a catch-up went beyond it. */
  private reachedCursor(t: TenantState, cursor: Positions, frames: boolean): void {
    if (t.ahead) {
      t.pushed = t.pushed.map((p, k) => maxId(p, cursor[k] as string));
      t.shared = false;
      t.ahead = t.pushed.some((p, k) => compareEid(p, cursor[k] as string) > 0);
    } else {
      t.pushed = cursor;
      t.shared = true;
    }
    t.dirty = true;
    if (frames) t.urgent = true;
  }

  // ---- catch-up -------------------------------------------------------------

  private perTenant(set: Set<StatusSink>, tenant: string): number {
    let n = 0;
    for (const s of set) if (s.tenant === tenant) n++;
    return n;
  }

  /**
   * Queues a connection for catch-up, or lets it go live at once. A waiting
   * connection joins the running scan at its next page if it is not behind it
   * in any shard (pickJoiners): mid-page it would miss that page, whose filter
   * did not ask for its tenant.
   */
  private request(sink: StatusSink): void {
    if (this.waiting.has(sink) || this.round.has(sink) || sink.closed) return;
    const p = this.pos.get(sink);
    if (p === undefined) return;
    if (this.cursor !== undefined && allAtOrPast(p, this.cursor)) return this.goLive(sink);
    this.waiting.add(sink);
    this.catchUps.waiting = this.waiting.size;
    if (!this.scanLoop) {
      // Set and cleared synchronously around the loop: a request never finds a loop that has just ended.
      this.scanLoop = true;
      this.scanning = this.scanRounds();
    }
  }

  /** Moves waiting connections that are not behind the scan's position in any shard into it (at a page boundary). */
  private pickJoiners(at: Positions): void {
    for (const s of this.waiting) {
      const p = this.pos.get(s);
      if (s.closed || p === undefined) this.waiting.delete(s);
      else if (allAtOrPast(p, at) && this.canJoin(s)) {
        this.waiting.delete(s);
        this.round.add(s);
      }
    }
    this.catchUps.waiting = this.waiting.size;
    this.catchUps.maxRunning = Math.max(this.catchUps.maxRunning, this.round.size);
  }

  private canJoin(sink: StatusSink): boolean {
    return this.round.size < this.o.maxCatchUps && this.perTenant(this.round, sink.tenant) < this.o.maxCatchUpsPerTenant;
  }

  /** Runs scans while connections wait; each scan takes as many waiting connections as the limits allow, in order. */
  private async scanRounds(): Promise<void> {
    try {
      await this.scanWhileWaiting();
    } finally {
      this.scanLoop = false;
    }
  }

  private async scanWhileWaiting(): Promise<void> {
    while (this.waiting.size > 0 && this.running) {
      for (const s of this.waiting) {
        if (s.closed || !this.pos.has(s)) this.waiting.delete(s);
        else if (this.canJoin(s)) {
          this.waiting.delete(s);
          this.round.add(s);
        }
      }
      this.catchUps.waiting = this.waiting.size;
      this.catchUps.maxRunning = Math.max(this.catchUps.maxRunning, this.round.size);
      try {
        await this.scan();
      } catch {
        // Redis unavailable: the connections of this scan wait and try again (a backoff, not a spin).
        for (const s of this.round) if (!s.closed) this.waiting.add(s);
        this.round.clear();
        await new Promise((ok) => setTimeout(ok, 500));
      }
    }
    if (!this.running) for (const s of this.waiting) this.settle(s);
  }

  /** Connections of the round that have reached the live reader in every shard go live (synchronously with the check). */
  private promote(): void {
    if (this.cursor === undefined) return;
    for (const s of this.round) {
      const p = this.pos.get(s);
      if (s.closed || p === undefined) this.round.delete(s);
      else if (allAtOrPast(p, this.cursor)) {
        this.round.delete(s);
        this.goLive(s);
      }
    }
  }

  /**
   * One pass over the streams from the round's positions until every connection
   * of it is live. Each page reads one time window [T, T + window) of every
   * shard that has entries in it (T: the earliest next entry of any shard), so
   * the shards' frames go out in time order and nothing is read twice; the
   * window adapts to about SCAN_PAGE entries a page. A shard whose page is
   * full (a burst) ends the page at its last entry's millisecond for all.
   */
  private async scan(): Promise<void> {
    const at: Positions = uniform(this.shards, '');
    /** Per shard: ms of the first entry after at[k] when a page saw it (undefined: not known). */
    const next: Array<number | undefined> = new Array<number | undefined>(this.shards).fill(undefined);
    let windowMs = INITIAL_WINDOW_MS;
    let upToLast = new Map<number, string>();
    const lowest = () => {
      for (let k = 0; k < this.shards; k++) {
        const was = at[k] as string;
        at[k] = '';
        for (const s of this.round) {
          const p = (this.pos.get(s) as Positions)[k] as string;
          if (at[k] === '' || compareEid(p, at[k] as string) < 0) at[k] = p;
        }
        // Moved by a connection that left or joined, not by the page: what comes next is not known.
        if (at[k] !== was && at[k] !== upToLast.get(k)) next[k] = undefined;
      }
    };
    lowest();
    while (this.round.size > 0 && this.running) {
      this.catchUps.running = this.round.size;
      const cursor = this.cursor;
      if (cursor === undefined) break;
      // The shards some connection of the round still needs read (the live reader serves the rest).
      let from = Infinity;
      const need: number[] = [];
      for (let k = 0; k < this.shards; k++) {
        if (compareEid(at[k] as string, cursor[k] as string) >= 0) continue;
        need.push(k);
        from = Math.min(from, next[k] ?? msOf(at[k] as string));
      }
      if (need.length === 0) {
        this.promote();
        lowest();
        continue;
      }
      const endMs = from + windowMs - 1;
      const read = need.filter((k) => (next[k] ?? 0) <= endMs);
      const tenants = new Set<string>();
      for (const s of this.round) tenants.add(s.tenant);
      const count = Math.max(MIN_SHARD_PAGE, Math.ceil((2 * SCAN_PAGE) / read.length));
      const end = `${endMs}-${MAX_SEQ}`;
      const replies = await perKey(this.redis, read.map((k) => this.streams.keys[k] as string), (p, key, i) =>
        (p as unknown as { syCatchUp(...a: Array<string | number>): unknown }).syCatchUp(key, at[read[i] as number] as string, end, count, ...tenants),
      );
      // Each shard's page: scanned, last id scanned, the next id after the window ('' none), frames.
      const pages = read.map((k, i) => {
        const [err, v] = (replies[i] as Reply[])[0] as Reply;
        if (err !== null) throw err;
        const r = v as Array<string | number>;
        return { k, scanned: Number(r[0]), last: String(r[1]), next: String(r[2]), r };
      });
      // A full page (a burst bigger than its part) ends the page for every shard ORDER_SLACK_MS after its
      // last millisecond (when that is before the window's end): frames of different shards reach a
      // connection in time order within ORDER_SLACK_MS, and a burst in a short window costs no re-reads.
      let bound = endMs;
      let full = false;
      for (const pg of pages) {
        if (pg.scanned < count) continue;
        full = true;
        bound = Math.min(bound, msOf(pg.last) + ORDER_SLACK_MS);
      }
      const boundId = `${bound}-${MAX_SEQ}`;
      const frames: PageFrame[] = [];
      const upTo = new Map<number, string>();
      let scanned = 0;
      for (const pg of pages) {
        this.catchUps.pages++;
        this.catchUps.scanned += pg.scanned;
        scanned += pg.scanned;
        // Where this shard's page ends: its last entry if full; the window's end if the stream goes on
        // beyond it (entries added later come after those); else the stream's end (its last entry).
        let reached = pg.scanned >= count ? pg.last : pg.next !== '' ? end : pg.last;
        // The next entry's ms, or a lower bound of it, starts the next window (shards with nothing in it are not read).
        next[pg.k] = pg.scanned < count && pg.next !== '' ? msOf(pg.next) : undefined;
        if (compareEid(reached, boundId) > 0) {
          reached = boundId;
          next[pg.k] = bound + 1;
        }
        reached = maxId(reached, at[pg.k] as string);
        upTo.set(pg.k, reached);
        for (let i = 3; i + 2 < pg.r.length; i += 3) {
          const id = String(pg.r[i]);
          if (compareEid(id, reached) > 0) {
            this.catchUps.rescanned++;
            continue;
          }
          frames.push([pg.k, id, String(pg.r[i + 1]), String(pg.r[i + 2])]);
        }
      }
      // The next window: about SCAN_PAGE entries at this page's rate; half as long after a burst.
      windowMs = full ? Math.max(1, Math.floor(windowMs / 2)) : Math.min(MAX_WINDOW_MS, Math.max(1, Math.round((windowMs * SCAN_PAGE) / Math.max(scanned, SCAN_PAGE / 4))));
      if (pages.length > 1) frames.sort((a, b) => compareEid(a[1], b[1]) || a[0] - b[0]);
      this.deliverPage(frames, upTo);
      for (const [k, e] of upTo) at[k] = maxId(at[k] as string, e);
      upToLast = upTo;
      this.requestSave();
      this.promote();
      this.pickJoiners(at);
      lowest();
    }
    // Stopped mid-scan: attach() resolves for those it still served.
    for (const s of this.round) this.settle(s);
    this.round.clear();
    this.catchUps.running = 0;
  }

  /** Gives a page's frames to the round's connections (each only those after its own position) and moves their positions. */
  private deliverPage(frames: PageFrame[], upTo: Map<number, string>): void {
    const out = new Map<StatusSink, string[]>();
    for (const [k, id, tenant, frame] of frames) {
      let framed: string | undefined;
      for (const s of this.round) {
        if (s.tenant !== tenant || compareEid(id, (this.pos.get(s) as Positions)[k] as string) <= 0) continue;
        framed ??= frameWithEid(formatEid(k, id), frame);
        let list = out.get(s);
        if (list === undefined) out.set(s, (list = []));
        list.push(framed);
      }
    }
    for (const s of [...this.round]) {
      const p = this.pos.get(s);
      if (s.closed || p === undefined) {
        this.round.delete(s);
        continue;
      }
      const before = p.slice();
      for (const [k, end] of upTo) p[k] = maxId(p[k] as string, end);
      const given = out.get(s);
      const t = this.tenants.get(s.tenant);
      if (t !== undefined) this.reached(t, p, given !== undefined);
      if (given === undefined) continue;
      this.framesPushed += given.length;
      this.pushed += given.length;
      if (!s.pushMany(given)) {
        // Backpressured: it leaves the scan, served up to the page's end; resume() brings it back.
        this.hold(s, before);
        this.round.delete(s);
        this.settle(s);
      }
    }
  }

  // ---- live reader ----------------------------------------------------------

  private interrupt(): void {
    if (this.wake) this.wake();
    this.idle.interrupt();
    if (this.blockedClientId !== undefined) void this.redis.client('UNBLOCK', this.blockedClientId).catch(() => undefined);
  }

  private async loop(): Promise<void> {
    // A single Redis: one blocking XREAD over all streams, interrupted with CLIENT UNBLOCK. A cluster: polled.
    if (!this.cluster) this.blockedClientId = Number(await (this.reader as Redis).client('ID'));
    let page = LIVE_PAGE;
    while (this.running) {
      if (this.tenants.size === 0 || this.cursor === undefined) {
        // Nobody connected: forget the position, so the next connection starts from the streams' ends
        // instead of this reader re-reading (and `$` replaying) everything written meanwhile.
        if (this.tenants.size === 0) this.cursor = undefined;
        await new Promise<void>((ok) => {
          this.wake = ok;
          setTimeout(ok, 1000);
        });
        this.wake = undefined;
        continue;
      }
      const from = this.cursor;
      const perStream = Math.max(1, Math.ceil(page / this.shards));
      let reply: { entries: StreamEntry[][]; failed: ReadonlyArray<number> };
      try {
        reply = await this.streams.read(from, perStream, this.cluster ? 0 : 2000);
      } catch {
        if (!this.running) return;
        await new Promise((ok) => setTimeout(ok, 200));
        continue;
      }
      if (reply.failed.length > 0) this.liveReadFailures++;
      // A connection attach() registered meanwhile may have reset the cursor (nobody was connected).
      if (this.cursor !== from) continue;
      let found = 0;
      let full = false;
      for (const e of reply.entries) {
        found += e.length;
        if (e.length >= perStream) full = true;
      }
      if (found === 0) {
        page = LIVE_PAGE;
        if (this.cluster) await this.idle.wait(this.idle.next(false));
        else if (reply.failed.length > 0) await new Promise((ok) => setTimeout(ok, 200));
        continue;
      }
      this.idle.next(true);
      page = full ? Math.min(LIVE_PAGE_MAX, page * 2) : LIVE_PAGE;
      this.dispatch(from, reply.entries);
      this.requestSave();
    }
  }

  /** Hands one live read's entries to the connections they are due to, and moves the cursor. */
  private dispatch(from: Positions, entries: StreamEntry[][]): void {
    const cursor = from.slice();
    const changed: number[] = [];
    // Frames per connection, sent with one write each (cork) after the batch.
    const outbox = new Map<StatusSink, string[]>();
    for (let k = 0; k < entries.length; k++) {
      const list = entries[k] as StreamEntry[];
      if (list.length === 0) continue;
      changed.push(k);
      const was = from[k] as string;
      for (const [id, fields] of list) {
        const { tenant, frame } = fieldsOf(fields);
        if (tenant === undefined || frame === undefined) continue;
        const t = this.tenants.get(tenant);
        if (t === undefined) continue;
        let out: string | undefined;
        for (const c of t.conns) {
          const own = this.pos.get(c);
          if (own === undefined) {
            if (!c.live) continue;
          } else {
            // Catching up or following: served here in this shard once its position has reached the
            // reader's (it then has everything up to `was`), and only with what it does not have yet.
            if (!c.live && !this.round.has(c)) continue;
            const p = own[k] as string;
            if (compareEid(p, was) < 0 || compareEid(id, p) <= 0) continue;
          }
          out ??= frameWithEid(formatEid(k, id), frame);
          let l = outbox.get(c);
          if (l === undefined) outbox.set(c, (l = []));
          l.push(out);
        }
      }
      cursor[k] = (list[list.length - 1] as StreamEntry)[0];
    }
    this.cursor = cursor;
    // Catching-up and following connections this read reached move in the shards where they were served.
    const before = new Map<StatusSink, Positions>();
    for (const set of [this.round, this.following]) {
      for (const c of set) {
        const p = this.pos.get(c) as Positions;
        if (outbox.has(c)) before.set(c, p.slice());
        for (const k of changed) if (compareEid(p[k] as string, from[k] as string) >= 0) p[k] = maxId(p[k] as string, cursor[k] as string);
      }
    }
    for (const [c, frames] of outbox) {
      this.framesPushed += frames.length;
      this.pushed += frames.length;
      if (c.pushMany(frames)) continue;
      if (c.live) {
        // It got every frame up to its position (or the cursor); unflushed ones may begin where it was.
        this.hold(c, before.get(c) ?? from);
        this.leaveLive(c, cursor);
      } else {
        this.hold(c, before.get(c) as Positions);
        this.round.delete(c);
        this.settle(c);
      }
    }
    // Live connections have been served up to the cursor, whether or not it held frames for them;
    // the others to their own positions.
    for (const t of this.tenants.values()) {
      let anyLive = false;
      let frames = false;
      for (const c of t.conns) {
        if (c.live && !this.pos.has(c)) anyLive = true;
        if (outbox.has(c)) frames = true;
      }
      if (anyLive) this.reachedCursor(t, cursor, frames);
      if (!frames && this.round.size === 0 && this.following.size === 0) continue;
      for (const c of t.conns) {
        const p = this.pos.get(c);
        if (p !== undefined && (outbox.has(c) || this.round.has(c) || this.following.has(c))) this.reached(t, p, outbox.has(c));
      }
    }
    // Following connections the cursor has reached in every shard are simply live now.
    for (const c of this.following) {
      if (allAtOrPast(cursor, this.pos.get(c) as Positions)) {
        this.following.delete(c);
        this.pos.delete(c);
      }
    }
    this.promote();
  }

  // ---- saved cursors ----------------------------------------------------------

  /** Saves the cursors of tenants that got frames, one pipeline per batch, never two at once. */
  private requestSave(): void {
    if (!this.saving) void this.saveCursors(true);
  }

  /** The positions a tenant may resume from without losing what a backpressured connection holds. */
  private savePoint(t: TenantState): Positions {
    if (t.holds.size === 0) return t.pushed;
    const p = t.pushed.slice();
    for (const h of t.holds.values()) for (let k = 0; k < p.length; k++) p[k] = minId(p[k] as string, h[k] as string);
    return p;
  }

  /** HSET arguments for the shards whose saved position differs from `point`; marks them saved. */
  private changed(t: TenantState, point: Positions): string[] {
    const fields: string[] = [];
    for (let k = 0; k < point.length; k++) {
      const v = point[k] as string;
      if (v === t.saved[k] || v === '0-0') continue;
      t.saved[k] = v;
      fields.push(String(k), v);
    }
    return fields;
  }

  private async saveCursors(urgentOnly: boolean): Promise<void> {
    if (this.saving) return;
    const work: Array<{ t: TenantState; key: string; fields: string[]; before: string[] }> = [];
    for (const [tenant, t] of this.tenants) {
      if (!t.dirty || (urgentOnly && !t.urgent)) continue;
      t.dirty = false;
      t.urgent = false;
      const before = t.saved.slice();
      const fields = this.changed(t, this.savePoint(t));
      if (fields.length > 0) work.push({ t, key: this.keys.statusCursor(tenant), fields, before });
    }
    if (work.length === 0) return;
    this.saving = true;
    try {
      const res = await perKey(this.redis, work.map((w) => w.key), (p, key, i) => p.hset(key, ...(work[i] as { fields: string[] }).fields));
      res.forEach((r, i) => {
        if (r[0]?.[0] === null) return;
        // Not saved (Redis or its master away): saved again with the next batch or tick.
        const w = work[i] as (typeof work)[number];
        for (let k = 0; k < w.before.length; k++) w.t.saved[k] = w.before[k] as string;
        w.t.dirty = true;
      });
    } catch {
      for (const w of work) {
        for (let k = 0; k < w.before.length; k++) w.t.saved[k] = w.before[k] as string;
        w.t.dirty = true;
      }
    } finally {
      this.saving = false;
    }
  }
}
