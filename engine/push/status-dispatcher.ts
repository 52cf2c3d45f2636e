/**
 * Pushes status frames to tenants' open WebSocket connections, from the
 * per-tenant status streams st:{tenant} that the state scripts write.
 *
 *   st:{t} ──XREAD BLOCK (tenants with a live connection)──▶ live connections
 *          └─XRANGE (from the client's `since`, or the tenant's saved cursor)──▶ a connection catching up
 *
 * Every frame carries `eid` (its stream id). A connection is "live" once it has
 * caught up; until then the dispatcher skips it and it reads the stream itself.
 * A connection that is backpressured drops out of live and catches up later from
 * its last eid, so a slow client costs Redis reads, not engine memory. The last
 * eid pushed per tenant is saved in stc:{t}: a client that reconnects without
 * `since` resumes from there; no status is lost while a tenant is offline
 * (within the stream's retention, messages.statusRetention).
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../queue/keys.js';

export interface StatusSink {
  /**
   * Sends one frame; returns false when the connection is backpressured.
   * (Not named `send`: uWS merges user data into its WebSocket object.)
   */
  push(frame: string): boolean;
  readonly tenant: string;
  lastEid: string;
  live: boolean;
  closed: boolean;
}

interface TenantState {
  readonly key: string;
  /** Last entry id the live reader has read. */
  cursor: string;
  /** Newest entry id pushed to any of the tenant's connections (saved as stc:{t}). */
  pushed: string;
  readonly conns: Set<StatusSink>;
  cursorDirty: boolean;
}

const PAGE = 1000;

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

function frameWithEid(eid: string, frame: string): string {
  // frame is {"op":"status",...}: splice the eid in after the opening brace.
  return `{"eid":"${eid}",${frame.slice(1)}`;
}

export class StatusDispatcher {
  private readonly tenants = new Map<string, TenantState>();
  private running = false;
  private blockedClientId: number | undefined;
  private wake: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;
  private cursorTimer: NodeJS.Timeout | undefined;
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

  /** Registers a connection; it catches up from `since` (or the tenant's saved cursor) and then goes live. */
  async attach(sink: StatusSink, since: string | undefined): Promise<void> {
    let t = this.tenants.get(sink.tenant);
    const key = this.keys.status(sink.tenant);
    if (t === undefined) {
      const last = await this.redis.xrevrange(key, '+', '-', 'COUNT', 1);
      t = { key, cursor: last[0]?.[0] ?? '0-0', pushed: '0-0', conns: new Set(), cursorDirty: false };
      if (!this.tenants.has(sink.tenant)) this.tenants.set(sink.tenant, t);
      else t = this.tenants.get(sink.tenant) as TenantState;
      this.interrupt();
    }
    let from = since;
    if (from === undefined) from = (await this.redis.get(this.keys.statusCursor(sink.tenant))) ?? '0-0';
    else if (from === '$') from = t.cursor;
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
      if (t.cursorDirty) void this.redis.set(this.keys.statusCursor(sink.tenant), t.pushed).catch(() => undefined);
      this.interrupt();
    }
  }

  /** Called when a backpressured connection has drained. */
  resume(sink: StatusSink): void {
    if (!sink.live && !sink.closed) void this.catchUp(sink);
  }

  private catching = new WeakSet<StatusSink>();

  private async catchUp(sink: StatusSink): Promise<void> {
    if (this.catching.has(sink)) return;
    this.catching.add(sink);
    const t = this.tenants.get(sink.tenant);
    try {
      while (!sink.closed && t !== undefined) {
        const page = await this.redis.xrange(t.key, '(' + sink.lastEid, '+', 'COUNT', PAGE);
        let ok = true;
        for (const [eid, fields] of page) {
          if (compareEid(eid, sink.lastEid) <= 0) continue;
          sink.lastEid = eid;
          this.framesPushed++;
          if (!sink.push(frameWithEid(eid, fields[1] as string))) {
            ok = false;
            break;
          }
        }
        if (!ok) return; // backpressured: resume() continues from lastEid
        if (page.length > 0) this.delivered(t, sink.lastEid);
        // Caught up when the stream has nothing newer, or nothing newer than what
        // the live reader has already passed (it serves the rest).
        if (page.length === 0 || (page.length < PAGE && compareEid(sink.lastEid, t.cursor) >= 0)) {
          sink.live = true;
          return;
        }
      }
    } finally {
      this.catching.delete(sink);
    }
  }

  private delivered(t: TenantState, eid: string): void {
    if (compareEid(eid, t.pushed) > 0) {
      t.pushed = eid;
      t.cursorDirty = true;
    }
  }

  private interrupt(): void {
    if (this.wake) this.wake();
    if (this.blockedClientId !== undefined) void this.redis.client('UNBLOCK', this.blockedClientId).catch(() => undefined);
  }

  private async loop(): Promise<void> {
    this.blockedClientId = Number(await this.blocking.client('ID'));
    while (this.running) {
      if (this.tenants.size === 0) {
        await new Promise<void>((ok) => {
          this.wake = ok;
          setTimeout(ok, 1000);
        });
        this.wake = undefined;
        continue;
      }
      const states = [...this.tenants.values()];
      const args: Array<string | number> = ['COUNT', PAGE, 'BLOCK', 2000, 'STREAMS'];
      for (const s of states) args.push(s.key);
      for (const s of states) args.push(s.cursor);
      let reply: Array<[string, Array<[string, string[]]>]> | null;
      try {
        reply = (await this.blocking.call('XREAD', ...args)) as typeof reply;
      } catch (err) {
        if (!this.running) return;
        await new Promise((ok) => setTimeout(ok, 200));
        void err;
        continue;
      }
      if (reply === null) continue;
      for (const [key, entries] of reply) {
        const t = states.find((s) => s.key === key);
        if (t === undefined) continue;
        for (const [eid, fields] of entries) {
          t.cursor = eid;
          let frame: string | undefined;
          for (const c of t.conns) {
            if (!c.live || compareEid(eid, c.lastEid) <= 0) continue;
            frame ??= frameWithEid(eid, fields[1] as string);
            c.lastEid = eid;
            this.framesPushed++;
            if (!c.push(frame)) c.live = false;
          }
          if (frame !== undefined) this.delivered(t, eid);
        }
      }
    }
  }

  private async saveCursors(): Promise<void> {
    const p = this.redis.pipeline();
    let n = 0;
    for (const [tenant, t] of this.tenants) {
      if (!t.cursorDirty) continue;
      t.cursorDirty = false;
      p.set(this.keys.statusCursor(tenant), t.pushed);
      n++;
    }
    if (n > 0) await p.exec().catch(() => undefined);
  }
}
