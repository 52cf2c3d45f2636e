/**
 * Pushes status frames to tenants' open WebSocket connections, from the events
 * stream `ev` that the state scripts write (one entry per status change, with
 * the tenant in field `t` and the ready-made frame in field `f`).
 *
 *   ev ──XREAD BLOCK (one reader, while any tenant is connected)──▶ live connections of entry.t
 *      └─XRANGE from the client's `since` (or the tenant's saved cursor),
 *        filtered by tenant ──▶ one connection catching up
 *
 * Every frame carries `eid` (its stream id). A connection is "live" once it
 * has caught up; until then the reader skips it and it reads the stream itself.
 * A connection that is backpressured drops out of live and catches up later
 * from its last eid, so a slow client costs Redis reads, not engine memory. The
 * position reached for each tenant is saved in stc:{t}: a client reconnecting
 * without `since` resumes from there, so no status is lost while a tenant is
 * offline (within the events stream's retention: messages.statusRetentionSec at
 * least, and whatever a consumer group still holds, up to messages.statusRetention entries).
 * Tenants see only their own frames: entries are matched on `t`.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../queue/keys.js';

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

interface TenantState {
  readonly conns: Set<StatusSink>;
  /** Position reached for the tenant (saved as stc:{t}). */
  pushed: string;
  dirty: boolean;
}

type Entry = [string, string[]];

const PAGE = 1000;
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

/** Compares stream ids "ms-seq". */
export function compareEid(a: string, b: string): number {
  const ai = a.indexOf('-');
  const bi = b.indexOf('-');
  const am = Number(a.slice(0, ai));
  const bm = Number(b.slice(0, bi));
  if (am !== bm) return am < bm ? -1 : 1;
  const as = Number(a.slice(ai + 1));
  const bs = Number(b.slice(bi + 1));
  return as === bs ? 0 : as < bs ? -1 : 1;
}

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

export class StatusDispatcher {
  /** Status frames handed to connections (catch-up and live). */
  pushed = 0;
  private readonly tenants = new Map<string, TenantState>();
  private running = false;
  private blockedClientId: number | undefined;
  private wake: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;
  private cursorTimer: NodeJS.Timeout | undefined;
  /** Position of the live reader in `ev`. */
  private cursor: string | undefined;
  private readonly catching = new WeakSet<StatusSink>();
  framesPushed = 0;

  constructor(
    private readonly redis: Redis,
    private readonly blocking: Redis,
    private readonly keys: Keys,
  ) {}

  start(): void {
    this.running = true;
    this.loopDone = this.loop();
    this.cursorTimer = setInterval(() => void this.saveCursors(), 200);
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.cursorTimer);
    this.interrupt();
    await this.loopDone;
    await this.saveCursors();
  }

  private async head(): Promise<string> {
    const last = await this.redis.xrevrange(this.keys.events(), '+', '-', 'COUNT', 1);
    return last[0]?.[0] ?? '0-0';
  }

  /** Registers a connection; it catches up from `since` (or the tenant's saved cursor) and then goes live. */
  async attach(sink: StatusSink, since: string | undefined): Promise<void> {
    if (this.cursor === undefined) {
      this.cursor = await this.head();
      this.interrupt();
    }
    let t = this.tenants.get(sink.tenant);
    if (t === undefined) {
      t = { conns: new Set(), pushed: '0-0', dirty: false };
      this.tenants.set(sink.tenant, t);
    }
    let from = since;
    if (from === undefined) from = (await this.redis.get(this.keys.statusCursor(sink.tenant))) ?? '0-0';
    else if (from === '$') from = this.cursor;
    sink.lastEid = from;
    sink.live = false;
    t.conns.add(sink);
    await this.catchUp(sink);
  }

  detach(sink: StatusSink): void {
    sink.closed = true;
    const t = this.tenants.get(sink.tenant);
    if (t === undefined) return;
    t.conns.delete(sink);
    if (t.conns.size === 0) {
      this.tenants.delete(sink.tenant);
      if (t.dirty) void this.redis.set(this.keys.statusCursor(sink.tenant), t.pushed).catch(() => undefined);
    }
  }

  /** Called when a backpressured connection has drained. */
  resume(sink: StatusSink): void {
    if (!sink.live && !sink.closed) void this.catchUp(sink);
  }

  private reached(tenant: string, eid: string): void {
    const t = this.tenants.get(tenant);
    if (t !== undefined && compareEid(eid, t.pushed) > 0) {
      t.pushed = eid;
      t.dirty = true;
    }
  }

  private async catchUp(sink: StatusSink): Promise<void> {
    if (this.catching.has(sink)) return;
    this.catching.add(sink);
    try {
      while (!sink.closed) {
        const page = (await this.redis.xrange(this.keys.events(), '(' + sink.lastEid, '+', 'COUNT', PAGE)) as Entry[];
        if (sink.closed) return;
        const frames: string[] = [];
        for (const [eid, fields] of page) {
          if (compareEid(eid, sink.lastEid) <= 0) continue;
          const { tenant, frame } = fieldsOf(fields);
          sink.lastEid = eid;
          if (tenant === sink.tenant && frame !== undefined) frames.push(frameWithEid(eid, frame));
        }
        this.framesPushed += frames.length;
        if (page.length > 0) this.reached(sink.tenant, sink.lastEid);
        this.pushed += frames.length;
        if (frames.length > 0 && !sink.pushMany(frames)) return; // backpressured: resume() continues from lastEid
        // Caught up when the stream has nothing newer, or nothing newer than what
        // the live reader has already passed (it serves the rest).
        const cursor = this.cursor ?? '0-0';
        if (page.length === 0 || (page.length < PAGE && compareEid(sink.lastEid, cursor) >= 0)) {
          if (compareEid(sink.lastEid, cursor) < 0) sink.lastEid = cursor;
          sink.live = true;
          return;
        }
      }
    } finally {
      this.catching.delete(sink);
    }
  }

  private interrupt(): void {
    if (this.wake) this.wake();
    if (this.blockedClientId !== undefined) void this.redis.client('UNBLOCK', this.blockedClientId).catch(() => undefined);
  }

  private async loop(): Promise<void> {
    this.blockedClientId = Number(await this.blocking.client('ID'));
    let page = LIVE_PAGE;
    while (this.running) {
      if (this.tenants.size === 0 || this.cursor === undefined) {
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
      if (reply === null || reply.length === 0) {
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
      for (const [c, frames] of outbox) {
        this.framesPushed += frames.length;
        this.pushed += frames.length;
        if (!c.pushMany(frames)) c.live = false;
      }
      // Live connections have been served up to the cursor, whether or not it held frames for them;
      // one that went backpressured resumes after the last frame it was given. Never backwards: a
      // connection that caught up by itself while this read was in flight may be past the cursor
      // already (moving it back re-sent what it had: duplicate status frames under load, a regression).
      const cursor = this.cursor;
      for (const [tenant, t] of this.tenants) {
        let anyLive = false;
        for (const c of t.conns) {
          if (c.live) {
            if (compareEid(cursor, c.lastEid) > 0) c.lastEid = cursor;
            anyLive = true;
          } else {
            const given = outbox.get(c);
            if (given !== undefined) {
              const last = (/^\{"eid":"([^"]+)"/.exec(given[given.length - 1] as string) as RegExpExecArray)[1] as string;
              if (compareEid(last, c.lastEid) > 0) c.lastEid = last;
            }
          }
        }
        if (anyLive) this.reached(tenant, cursor);
      }
    }
  }

  private async saveCursors(): Promise<void> {
    const p = this.redis.pipeline();
    let n = 0;
    for (const [tenant, t] of this.tenants) {
      if (!t.dirty) continue;
      t.dirty = false;
      p.set(this.keys.statusCursor(tenant), t.pushed);
      n++;
    }
    if (n > 0) await p.exec().catch(() => undefined);
  }
}
