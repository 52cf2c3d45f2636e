/**
 * Pushes status frames to tenants' open WebSocket connections, from the events
 * stream `ev` that the state scripts write (one entry per status change, with
 * the tenant in field `t` and the ready-made frame in field `f`).
 *
 *   ev ──XREAD BLOCK (one live reader, while any tenant is connected)──▶ live connections of entry.t
 *      └─lua/catch-up.lua pages (one shared scan, filtered in Redis by tenant)──▶ connections catching up
 *
 * Every frame carries `eid` (its stream id). A connection is "live" once it
 * has caught up; until then the live reader skips it. A connection that is
 * backpressured drops out of live and catches up later from its last eid, so
 * a slow client costs Redis reads, not engine memory. Tenants see only their
 * own frames: entries are matched on `t`.
 *
 * Where a connection starts:
 *   ?since=EID   after that event;
 *   ?since=$     from now: after the stream's last entry (not the live
 *                reader's position, which is stale while nobody is connected:
 *                `$` replayed old frames);
 *   no since     after the tenant's saved cursor stc:{t}: the position its
 *                connections were served to, saved with every push batch (one
 *                pipelined SET per batch for the tenants that got frames, never
 *                two in flight; positions without frames once a second), so a
 *                resume after a crash repeats what was in flight, not the last
 *                200 ms (up to ~900 frames).
 * Either way no further back than `resumeMaxAgeMs` (clamped, and the client
 * is told with an error frame RESUME_LIMITED naming where it resumes), and
 * never beyond the stream's end.
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
 *     stream, not N; a connection whose position is at or past the scan's
 *     joins it at once, one that is at or past the live reader goes live at once;
 *   - the scan filters in Redis (lua/catch-up.lua, pages of 500 entries, ~2 ms of
 *     Redis each): only the frames of the tenants it serves come back, so the
 *     ingress thread (which acks) no longer parses other tenants' entries;
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
import { defineLuaCommand, loadLuaScript, luaPath } from '../redis/lua-loader.js';
import { compareStreamId as compareEid, normalizeStreamId } from '../queue/stream-id.js';

export interface StatusSink {
  /**
   * Sends one frame; returns false when the connection is backpressured.
   * (Not named `send`: uWS merges user data into its WebSocket object.)
   */
  push(frame: string): boolean;
  /** Sends several frames in one write (uWS cork); false when backpressured after them. */
  pushMany(frames: string[]): boolean;
  readonly tenant: string;
  /** Stream position this connection has been served up to. */
  lastEid: string;
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
  readonly now?: () => number;
}

const DEFAULT_OPTIONS: StatusDispatcherOptions = { resumeMaxAgeMs: 300_000, maxCatchUps: 64, maxCatchUpsPerTenant: 2 };

interface TenantState {
  readonly conns: Set<StatusSink>;
  /** Position reached for the tenant (saved as stc:{t}, unless held). */
  pushed: string;
  /** Backpressured connections → where their possibly unflushed frames begin. */
  readonly holds: Map<StatusSink, string>;
  /** The saved cursor is behind `pushed` (or a hold). */
  dirty: boolean;
  /** Frames went out since the last save: save with the next batch. */
  urgent: boolean;
}

type Entry = [string, string[]];

/** One page of a catch-up scan, filtered in Redis: lua/catch-up.lua (its header names KEYS and ARGV). */
export const CATCH_UP = loadLuaScript(luaPath(import.meta.url, './lua/catch-up.lua'));
export const CATCH_UP_LUA = CATCH_UP.lua;

/** Entries a catch-up scans per script call. */
const SCAN_PAGE = 500;
/**
 * Entries per live read: LIVE_PAGE normally, small enough that parsing a
 * reply and pushing its frames never holds the ingress thread for long (acks
 * wait behind it). A full reply means the reader is behind: the next read
 * takes twice as many, up to LIVE_PAGE_MAX, and shrinks back once a reply is
 * not full. (At a fixed 200 a busy machine's slower round trips capped the
 * push rate below the event rate: status frames fell seconds behind.)
 */
const LIVE_PAGE = 200;
const LIVE_PAGE_MAX = 3200;

/**
 * Reads fields t (tenant) and f (frame) of an events entry (analytics/status-events.ts);
 * frame is undefined when the client asked for no pushes (p = '0'). The hot path's
 * lean version of parseStatusEvent.
 */
function fieldsOf(fields: string[]): { tenant: string | undefined; frame: string | undefined } {
  let tenant: string | undefined;
  let frame: string | undefined;
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

function maxEid(a: string, b: string): string {
  return compareEid(a, b) >= 0 ? a : b;
}

/** Catch-up counters (for /v1/status and the tests). */
export interface CatchUpStats {
  /** Scan pages read (script calls) since start. */
  pages: number;
  /** Entries those pages scanned. */
  scanned: number;
  /** Connections waiting for their turn now. */
  waiting: number;
  /** Connections being served by the running scan now. */
  running: number;
  /** Most connections served by one scan at once. */
  maxRunning: number;
  /** Resumes clamped to the reach (resumeMaxAgeMs). */
  limited: number;
}

export class StatusDispatcher {
  /** Status frames handed to connections (catch-up and live). */
  pushed = 0;
  framesPushed = 0;
  readonly catchUps: CatchUpStats = { pages: 0, scanned: 0, waiting: 0, running: 0, maxRunning: 0, limited: 0 };
  private readonly tenants = new Map<string, TenantState>();
  private readonly o: StatusDispatcherOptions;
  private readonly now: () => number;
  private running = false;
  private blockedClientId: number | undefined;
  private wake: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;
  private cursorTimer: NodeJS.Timeout | undefined;
  /** Position of the live reader in `ev`; undefined while nobody is connected (it would go stale). */
  private cursor: string | undefined;
  /** Connections waiting for a catch-up, in arrival order. */
  private readonly waiting = new Set<StatusSink>();
  /** Connections the running scan serves. */
  private readonly round = new Set<StatusSink>();
  private scanning: Promise<void> | undefined;
  private scanLoop = false;
  /** Resolves attach() once the connection is live (or closed, or backpressured). */
  private readonly settled = new Map<StatusSink, () => void>();
  private saving = false;

  constructor(
    private readonly redis: Redis,
    private readonly blocking: Redis,
    private readonly keys: Keys,
    options: Partial<StatusDispatcherOptions> = {},
  ) {
    this.o = { ...DEFAULT_OPTIONS, ...options };
    this.now = this.o.now ?? Date.now;
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

  /** The last entry of the stream ('0-0' when empty). */
  private async head(): Promise<string> {
    const last = await this.redis.xrevrange(this.keys.events(), '+', '-', 'COUNT', 1);
    return last[0]?.[0] ?? '0-0';
  }

  /**
   * Registers a connection; it catches up from `since` (an event id, or `$` for
   * new events only; default the tenant's saved cursor), within the resume
   * reach, then goes live. Resolves once it is live (or closed or backpressured).
   */
  async attach(sink: StatusSink, since: string | undefined): Promise<void> {
    let t = this.tenants.get(sink.tenant);
    if (t === undefined) {
      t = { conns: new Set(), pushed: '0-0', holds: new Map(), dirty: false, urgent: false };
      this.tenants.set(sink.tenant, t);
    }
    // Registered before any await: the live reader must not think nobody is connected meanwhile.
    t.conns.add(sink);
    sink.live = false;
    const head = await this.head();
    if (this.cursor === undefined) {
      this.cursor = head;
      this.interrupt();
    }
    const floor = `${Math.max(0, this.now() - this.o.resumeMaxAgeMs)}-0`;
    let given = since;
    // A tenant's first connection ever (no saved cursor) starts at the reach, without a notice.
    if (given === undefined) given = (await this.redis.get(this.keys.statusCursor(sink.tenant))) ?? floor;
    // The ingress checks `since`; a saved cursor that does not parse counts as none.
    let from = given === '$' ? head : (normalizeStreamId(given) ?? floor);
    if (compareEid(from, head) > 0) from = head; // nothing exists after the end: from now
    // Not further back than the reach (nor, in an idle stream, than its end).
    const reach = compareEid(floor, head) < 0 ? floor : head;
    if (compareEid(from, reach) < 0) {
      // Told only when entries are skipped: the first one after `from` is not after the reach.
      const next = (await this.redis.xrange(this.keys.events(), '(' + from, '+', 'COUNT', 1))[0]?.[0];
      const skipped = next !== undefined && compareEid(next, reach) <= 0;
      if (skipped) this.catchUps.limited++;
      if (skipped && !sink.closed) {
        sink.push(
          `{"op":"error","code":"RESUME_LIMITED","from":"${reach}","error":${JSON.stringify(
            `status frames resume after ${reach}, not after ${from}: a resume reaches back at most ${Math.round(this.o.resumeMaxAgeMs / 1000)} s (server.resume.maxAgeSec); statuses before that are not sent again (GET /v1/messages/ID has them)`,
          )}}`,
        );
      }
      from = reach;
    }
    if (sink.closed) return;
    sink.lastEid = from;
    const done = new Promise<void>((ok) => this.settled.set(sink, ok));
    this.request(sink);
    await done;
  }

  detach(sink: StatusSink): void {
    sink.closed = true;
    this.waiting.delete(sink);
    this.round.delete(sink);
    this.settle(sink);
    const t = this.tenants.get(sink.tenant);
    if (t === undefined) return;
    t.conns.delete(sink);
    // A closed connection's unflushed frames are lost to it; the tenant resumes before them
    // only if it has no other connection that got them.
    const hold = t.holds.get(sink);
    t.holds.delete(sink);
    if (t.conns.size === 0) {
      this.tenants.delete(sink.tenant);
      const save = hold !== undefined && compareEid(hold, t.pushed) < 0 ? hold : t.pushed;
      if (t.dirty || hold !== undefined) void this.redis.set(this.keys.statusCursor(sink.tenant), save).catch(() => undefined);
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

  private goLive(sink: StatusSink): void {
    if (this.cursor !== undefined && compareEid(sink.lastEid, this.cursor) < 0) sink.lastEid = this.cursor;
    sink.live = true;
    const t = this.tenants.get(sink.tenant);
    if (t !== undefined && t.holds.delete(sink)) t.dirty = true;
    this.settle(sink);
  }

  /** Frames may sit in a backpressured connection's buffer from `from` on: hold the tenant's saved cursor there. */
  private hold(sink: StatusSink, from: string): void {
    const t = this.tenants.get(sink.tenant);
    if (t === undefined) return;
    const h = t.holds.get(sink);
    if (h === undefined || compareEid(from, h) < 0) t.holds.set(sink, from);
  }

  private reached(tenant: string, eid: string, frames: boolean): void {
    const t = this.tenants.get(tenant);
    if (t === undefined) return;
    if (compareEid(eid, t.pushed) > 0) {
      t.pushed = eid;
      t.dirty = true;
    }
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
   * (pickJoiners): mid-page it would miss that page, whose filter did not ask
   * for its tenant.
   */
  private request(sink: StatusSink): void {
    if (this.waiting.has(sink) || this.round.has(sink) || sink.closed) return;
    if (this.cursor !== undefined && compareEid(sink.lastEid, this.cursor) >= 0) return this.goLive(sink);
    this.waiting.add(sink);
    this.catchUps.waiting = this.waiting.size;
    if (!this.scanLoop) {
      // Set and cleared synchronously around the loop: a request never finds a loop that has just ended.
      this.scanLoop = true;
      this.scanning = this.scanRounds();
    }
  }

  /** Moves waiting connections that are not behind the scan's position into it (at a page boundary). */
  private pickJoiners(at: string): void {
    for (const s of this.waiting) {
      if (s.closed) this.waiting.delete(s);
      else if (compareEid(s.lastEid, at) >= 0 && this.canJoin(s)) {
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
        if (s.closed) this.waiting.delete(s);
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

  /** One pass over the stream from the furthest-behind connection of the round until every one is live. */
  private async scan(): Promise<void> {
    let at: string | undefined;
    for (const s of this.round) if (at === undefined || compareEid(s.lastEid, at) < 0) at = s.lastEid;
    const scripted = this.redis as unknown as { syCatchUp(key: string, ...args: Array<string | number>): Promise<Array<string | number>> };
    while (at !== undefined && this.round.size > 0 && this.running) {
      this.catchUps.running = this.round.size;
      const tenants = new Set<string>();
      for (const s of this.round) tenants.add(s.tenant);
      const r = await scripted.syCatchUp(this.keys.events(), at, SCAN_PAGE, ...tenants);
      const scanned = Number(r[0]);
      const last = String(r[1]);
      this.catchUps.pages++;
      this.catchUps.scanned += scanned;
      // Frames per connection of the round (only those past its own position).
      const out = new Map<StatusSink, string[]>();
      for (let i = 2; i + 2 < r.length; i += 3) {
        const eid = String(r[i]);
        const tenant = String(r[i + 1]);
        let framed: string | undefined;
        for (const s of this.round) {
          if (s.tenant !== tenant || compareEid(eid, s.lastEid) <= 0) continue;
          framed ??= frameWithEid(eid, String(r[i + 2]));
          let list = out.get(s);
          if (list === undefined) out.set(s, (list = []));
          list.push(framed);
        }
      }
      for (const s of [...this.round]) {
        if (s.closed) {
          this.round.delete(s);
          continue;
        }
        const frames = out.get(s);
        const before = s.lastEid;
        if (frames !== undefined) {
          this.framesPushed += frames.length;
          this.pushed += frames.length;
          const ok = s.pushMany(frames);
          if (!ok) {
            // Backpressured: it leaves the scan after the last frame it was given; resume() brings it back.
            s.lastEid = (/^\{"eid":"([^"]+)"/.exec(frames[frames.length - 1] as string) as RegExpExecArray)[1] as string;
            this.hold(s, before);
            this.reached(s.tenant, s.lastEid, true);
            this.round.delete(s);
            this.settle(s);
            continue;
          }
        }
        if (scanned > 0) s.lastEid = maxEid(s.lastEid, last);
        this.reached(s.tenant, s.lastEid, frames !== undefined);
      }
      at = last;
      this.requestSave();
      this.pickJoiners(at);
      // Caught up: the stream has nothing newer, or the live reader has passed this point (it serves the rest).
      if (scanned === 0 || (this.cursor !== undefined && compareEid(at, this.cursor) >= 0)) {
        for (const s of this.round) if (!s.closed) this.goLive(s);
        this.round.clear();
      }
    }
    // Stopped mid-scan: attach() resolves for those it still served.
    for (const s of this.round) this.settle(s);
    this.round.clear();
    this.catchUps.running = 0;
  }

  // ---- live reader ----------------------------------------------------------

  private interrupt(): void {
    if (this.wake) this.wake();
    if (this.blockedClientId !== undefined) void this.redis.client('UNBLOCK', this.blockedClientId).catch(() => undefined);
  }

  private async loop(): Promise<void> {
    this.blockedClientId = Number(await this.blocking.client('ID'));
    let page = LIVE_PAGE;
    while (this.running) {
      if (this.tenants.size === 0 || this.cursor === undefined) {
        // Nobody connected: forget the position, so the next connection starts from the stream's end
        // instead of this reader re-reading (and `$` replaying) everything written meanwhile.
        if (this.tenants.size === 0) this.cursor = undefined;
        await new Promise<void>((ok) => {
          this.wake = ok;
          setTimeout(ok, 1000);
        });
        this.wake = undefined;
        continue;
      }
      let reply: Array<[string, Entry[]]> | null;
      try {
        reply = (await this.blocking.call('XREAD', 'COUNT', page, 'BLOCK', 2000, 'STREAMS', this.keys.events(), this.cursor)) as typeof reply;
      } catch {
        if (!this.running) return;
        await new Promise((ok) => setTimeout(ok, 200));
        continue;
      }
      if (reply === null || reply.length === 0 || this.cursor === undefined) {
        page = LIVE_PAGE;
        continue;
      }
      const entries = (reply[0] as [string, Entry[]])[1];
      page = entries.length >= page ? Math.min(LIVE_PAGE_MAX, page * 2) : LIVE_PAGE;
      // Frames per live connection, sent with one write each (cork) after the batch.
      const outbox = new Map<StatusSink, string[]>();
      for (const [eid, fields] of entries) {
        this.cursor = eid;
        const { tenant, frame } = fieldsOf(fields);
        if (tenant === undefined || frame === undefined) continue;
        const t = this.tenants.get(tenant);
        if (t === undefined) continue;
        let out: string | undefined;
        for (const c of t.conns) {
          if (!c.live || compareEid(eid, c.lastEid) <= 0) continue;
          out ??= frameWithEid(eid, frame);
          let list = outbox.get(c);
          if (list === undefined) outbox.set(c, (list = []));
          list.push(out);
        }
      }
      const before = new Map<StatusSink, string>();
      for (const [c, frames] of outbox) {
        this.framesPushed += frames.length;
        this.pushed += frames.length;
        before.set(c, c.lastEid);
        if (!c.pushMany(frames)) c.live = false;
      }
      // Live connections have been served up to the cursor, whether or not it held frames for them;
      // one that went backpressured resumes after the last frame it was given. Never backwards: a
      // connection that caught up by itself while this read was in flight may be past the cursor
      // already (moving it back re-sent what it had: duplicate status frames under load, a regression).
      const cursor = this.cursor;
      for (const [tenant, t] of this.tenants) {
        let anyLive = false;
        let frames = false;
        for (const c of t.conns) {
          const given = outbox.get(c);
          if (given !== undefined) frames = true;
          if (c.live) {
            if (compareEid(cursor, c.lastEid) > 0) c.lastEid = cursor;
            anyLive = true;
          } else if (given !== undefined) {
            const last = (/^\{"eid":"([^"]+)"/.exec(given[given.length - 1] as string) as RegExpExecArray)[1] as string;
            this.hold(c, before.get(c) as string);
            if (compareEid(last, c.lastEid) > 0) c.lastEid = last;
            this.reached(tenant, last, true);
          }
        }
        if (anyLive) this.reached(tenant, cursor, frames);
      }
      this.requestSave();
    }
  }

  // ---- saved cursors ----------------------------------------------------------

  /** Saves the cursors of tenants that got frames, one pipeline per batch, never two at once. */
  private requestSave(): void {
    if (!this.saving) void this.saveCursors(true);
  }

  /** The position a tenant may resume from without losing what a backpressured connection holds. */
  private savePoint(t: TenantState): string {
    let p = t.pushed;
    for (const h of t.holds.values()) if (compareEid(h, p) < 0) p = h;
    return p;
  }

  private async saveCursors(urgentOnly: boolean): Promise<void> {
    if (this.saving) return;
    const p = this.redis.pipeline();
    const saved: TenantState[] = [];
    for (const [tenant, t] of this.tenants) {
      if (!t.dirty || (urgentOnly && !t.urgent)) continue;
      t.dirty = false;
      t.urgent = false;
      p.set(this.keys.statusCursor(tenant), this.savePoint(t));
      saved.push(t);
    }
    if (saved.length === 0) return;
    this.saving = true;
    try {
      await p.exec();
    } catch {
      // Redis unavailable: saved again with the next batch or tick.
      for (const t of saved) t.dirty = true;
    } finally {
      this.saving = false;
    }
  }
}
