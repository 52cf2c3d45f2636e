/**
 * WebSocket (and HTTP) ingress on uWebSockets.js, main thread.
 *
 *   upgrade ─ API key → tenant (refused with 401 before the upgrade)
 *   message ─ JSON → submit | batch | cancel | ping | feature ops (opt-out lists, …)
 *             → window (per connection) → parseSubmit (template) → sender allowlist
 *             → TPS (per tenant) → acceptMessage (number, encoding, route, moderation)
 *             → daily quota → EnqueueBatcher
 *             → ack / nack   (ack only after Redis confirmed the enqueue script; its status says
 *               where the message went: queued, scheduled, stopped, pending_approval, paused)
 *   cancel  ─ CancelBatcher (one script per tick) → cancel_ack / cancel_nack
 *   status  ─ StatusDispatcher pushes {"op":"status",...} frames
 *
 * Protocol: DESIGN.md §9 and README.md "WebSocket protocol". Limits answer
 * with `nack` THROTTLED, never a silent drop.
 *
 * Bounds on what one client can make the engine hold (issue 11), README "Limits":
 *
 *   upgrade   connections per tenant and per IP (server.maxConnectionsPerTenant / PerIp):
 *             beyond them 429 TOO_MANY_CONNECTIONS before the upgrade
 *   frames    over server.maxFrameBytes: FRAME_TOO_LARGE; over 4× it: closed 1009 (by us: uWS
 *             itself cuts the TCP connection without a close frame, at 16×)
 *   output    unsent bytes per connection (uWS backpressure):
 *               ≥ maxBackpressureBytes  status pushes pause (they resume from Redis, by eid, on drain)
 *                                       and the connection's frames are refused THROTTLED, unprocessed
 *               > maxBufferedBytes      closed 4008 (slow consumer), logged
 *               over maxBackpressureBytes for slowConsumerCloseSec: closed 4008 as well
 *   CPU       main-thread time per tenant (server.ingressCpuMsPerSec shared by the busy tenants,
 *             cpu-budget.ts): each frame's (and HTTP submit's) CPU time on the thread is charged to
 *             its tenant; while the tenant's share is spent its frames are refused THROTTLED before
 *             they are parsed (one pre-rendered answer, with the frame's ref: a batch is refused
 *             whole); a connection that sends 1,000 frames in a row while refused so is closed 4029
 */
import uWS from 'uWebSockets.js';
import { ApiAuth, errorFrame, readJsonBody, sendError, sendJson, type AuthKey } from '../http/http-kit.js';
import { guardedApp, type GuardStats, type RouteRecord } from '../http/guarded-app.js';
import { log as defaultLog, type LogFn } from '../log.js';
import type { Clock } from '../flow/clock.js';
import { LatencyHistogram } from '../flow/latency-histogram.js';
import { TokenBucket } from '../flow/token-bucket.js';
import { LoopShare, type CpuBudget } from './cpu-budget.js';
import { threadCpuClock } from './thread-cpu-clock.js';
import type { StatusDispatcher, StatusSink } from '../push/status-dispatcher.js';
import { acceptMessage, type AcceptContext, type TenantAcceptOptions } from './accept-message.js';
import type { EnqueueBatcher } from './enqueue-batcher.js';
import { isRefusal, parseSubmit, type Refusal, type SubmitFields, type SubmitLimits } from './parse-submit.js';
import { cancelReply, type CancelReply } from '../lifecycle/cancel-batcher.js';
import type { SenderCheck } from '../lifecycle/sender-allowlist.js';
import { maxTextChars } from './parse-submit.js';
import { wsProtocolReply } from './ws-subprotocol.js';
import { SwitchyardError, type ErrorCode } from '../errors.js';

/** uWS.LIBUS_LISTEN_EXCLUSIVE_PORT at run time (its typings declare it only inside an enum). */
const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;

/** The daily-quota port (lifecycle/quota-tracker.ts). */
export interface QuotaPort {
  tryTake(tenant: string): boolean;
  giveBack(tenant: string): void;
  quotaOf(tenant: string): number | undefined;
}

/** The cancel port (lifecycle/cancel-batcher.ts). */
export type CancelPort = (tenant: string, id: string, ref: string, done: (reply: CancelReply) => void) => void;

export interface IngressTenant {
  readonly id: string;
  /** A key of the tenant that never expires (a directory-less ingress; with the tenant directory, keys come by setTenants). */
  readonly apiKey?: string;
  readonly tps: number;
  readonly window: number;
  /** tenants[].senders compiled; undefined: any sender. */
  readonly senders?: SenderCheck;
  readonly accept?: TenantAcceptOptions;
}

export interface IngressOptions {
  readonly host: string;
  readonly port: number;
  readonly maxFrameBytes: number;
  readonly idleTimeoutSec: number;
  /** Unsent bytes of a connection at which status pushes pause and its frames are refused THROTTLED. */
  readonly maxBackpressureBytes: number;
  /** Unsent bytes beyond which a connection is closed (4008); default 4 × maxBackpressureBytes. */
  readonly maxBufferedBytes?: number;
  /** A connection over maxBackpressureBytes this long is closed (4008); default 30 s. */
  readonly slowConsumerCloseSec?: number;
  /** Open /v1/ws connections per tenant and per remote IP; more are refused 429 TOO_MANY_CONNECTIONS (default 100 / 200). */
  readonly maxConnectionsPerTenant?: number;
  readonly maxConnectionsPerIp?: number;
  /** Main-thread milliseconds per second all tenants' frames and HTTP submits may use together while several are busy (default 600; cpu-budget.ts). */
  readonly ingressCpuMsPerSec?: number;
  /** The main thread's CPU time (ms) that frames are charged in; default thread-cpu-clock.ts. */
  readonly cpuClock?: Clock;
  /** Where connection refusals and drops, and the HTTP route guard's failed requests, are logged (rate-limited); default the engine's pino log. */
  readonly log?: LogFn;
  /** Messages waiting for Redis over all connections before submits are refused THROTTLED. */
  readonly maxPendingEnqueue: number;
  readonly maxBatchItems: number;
  readonly maxValiditySec: number;
  /** messages.minValiditySec and .maxScheduleSec (defaults 60 s and 30 days). */
  readonly minValiditySec?: number;
  readonly maxScheduleSec?: number;
  /** messages.callbackPrivateAddresses: a submit's callbackUrl may name loopback or private addresses. */
  readonly callbackPrivateAddresses?: boolean;
  readonly quota?: QuotaPort;
  readonly cancel?: CancelPort;
  readonly tenants: ReadonlyArray<IngressTenant>;
  /** SWITCHYARD_ADMIN_KEY (admin endpoints); undefined: no admin access. */
  readonly adminKey?: string;
  readonly accept: AcceptContext;
  /** Before routing: a promise to wait for (the network lookup hook), or undefined to go on at once. */
  readonly awaitNetwork?: (to: string) => Promise<void> | undefined;
  /** Metrics hooks (accepted/refused by tenant and code, ack latency). */
  readonly observer?: IngressObserver;
  readonly batcher: EnqueueBatcher;
  readonly dispatcher: StatusDispatcher;
  readonly clock: Clock;
  /** A tenant's rate limit (default a local TokenBucket of its tps; with several nodes, fleet grants: engine/fleet/tenant-rate.ts). */
  readonly tenantBucket?: (tenant: string, tps: number) => { tryTake(n?: number): boolean };
  /**
   * Extra HTTP routes (metrics, health, admin) registered by the engine; may
   * return WebSocket ops of the same features (e.g. optout_add).
   */
  readonly extraRoutes?: (app: uWS.TemplatedApp) => ReadonlyMap<string, WsOp> | void;
}

/** A WebSocket op handled by a feature module: the tenant, the frame, and a send for the answer. */
export type WsOp = (tenant: string, frame: Record<string, unknown>, send: (frame: string) => void) => void;

/**
 * A tenant as the ingress runs it. One object per tenant for the life of the
 * process: a change from the tenant directory (setTenants) updates its fields
 * in place, so open connections see new limits at once.
 */
interface TenantRuntime {
  readonly id: string;
  window: number;
  /** Submits per second (Retry-After of a THROTTLED HTTP submit). */
  tps: number;
  bucket: { tryTake(n?: number): boolean };
  /** Main-thread time this tenant's frames may use (its share of server.ingressCpuMsPerSec). */
  readonly cpu: CpuBudget;
  /** Messages handed to the queue (batcher): a frame that moved it was useful (cpu-budget.ts). */
  handed: number;
  senders: SenderCheck | undefined;
  accept: TenantAcceptOptions;
  /** Its submits are refused TENANT_SUSPENDED (its connections are closed 4003 as it is suspended). */
  suspended: boolean;
  /** Gone from the tenant directory: nothing of it is served. */
  removed: boolean;
}

/** What setTenants needs of a tenant: the ingress fields and whether it is suspended. */
export interface IngressTenantUpdate extends IngressTenant {
  readonly suspended: boolean;
}

interface ConnData extends StatusSink {
  readonly t: TenantRuntime;
  /** SHA-256 hex of the API key the connection authenticated with: revoking the key closes it (4001). */
  readonly keyHash: string;
  /** The remote address as text (per-IP connection cap). */
  readonly ip: string;
  unacked: number;
  since: string | undefined;
  /** false (?statuses=0): a submit-only connection that gets no status pushes. */
  readonly wantStatus: boolean;
  ws: uWS.WebSocket<ConnData> | undefined;
  /** When its unsent output went over maxBackpressureBytes (clock ms); 0 while under. */
  overSince: number;
  /** Being closed by the server: nothing more is read from it or sent to it. */
  dropping: boolean;
  /** Frames in a row refused because the tenant's main-thread budget was spent (closed 4029 at FLOOD_FRAMES). */
  overBudgetRun: number;
}

export interface IngressStats {
  connections: number;
  accepted: number;
  refused: number;
  framesIn: number;
  /** Upgrades refused by the connection caps. */
  connectionsRefused: number;
  /** Connections closed 4008 (unread output) and 1009 (frame too large). */
  slowConsumerCloses: number;
  oversizeCloses: number;
  /** Frames (and HTTP submits) refused THROTTLED unparsed: their tenant's main-thread budget was spent. */
  overBudget: number;
  /** Connections closed 4029: they kept sending while their tenant was over its budget. */
  floodCloses: number;
  /** Main-thread CPU ms charged to each tenant's frames and HTTP submits since the start. */
  readonly tenantCpuMs: Readonly<Record<string, number>>;
}

/** Close codes the server ends a /v1/ws connection with (README "WebSocket protocol"). */
export const WS_CLOSE = {
  /** RFC 6455: a frame over 4 × server.maxFrameBytes. */
  TOO_BIG: 1009,
  /** Ours: the client does not read its output (over server.maxBufferedBytes, or backpressured for slowConsumerCloseSec). */
  SLOW_CONSUMER: 4008,
  /** Ours: FLOOD_FRAMES frames in a row sent while the tenant was over its share of server.ingressCpuMsPerSec. */
  FLOODING: 4029,
  /** Ours: the connection's API key was revoked or expired (engine/tenants/). */
  KEY_REVOKED: 4001,
  /** Ours: the connection's tenant was suspended or deleted (engine/tenants/). */
  TENANT_SUSPENDED: 4003,
} as const;

/**
 * Frames in a row a connection may send while its tenant is over its
 * main-thread budget before it is closed 4029: refusing a frame unread is
 * cheap but not free, and a client that ignores a thousand THROTTLED answers
 * is not going to slow down.
 */
export const FLOOD_FRAMES = 1_000;

/** Defaults of the bounds that IngressOptions leaves optional (config/schema.ts DEFAULTS.server has the same). */
const BOUNDS = { maxConnectionsPerTenant: 100, maxConnectionsPerIp: 200, slowConsumerCloseSec: 30, ingressCpuMsPerSec: 600 } as const;

/**
 * What a new status connection is charged to its tenant's main-thread budget
 * (ms, cpu-budget.ts) besides the upgrade's own CPU time: its attach reads
 * every shard's head, the tenant's saved cursor and a catch-up page over the
 * shards (some 50 Redis calls and their replies), work the CPU clock does not
 * see because it runs after the upgrade returns. Charged but not judged
 * (neither useful nor wasted): a tenant opening its connections keeps its
 * share, and one whose frames achieve nothing and that reconnects in a loop
 * (the benchmark's 50 hostile clients did some 25 times a second, each a
 * catch-up scan) is held to what its frames earn, a few connections a second.
 */
export const CONNECT_CHARGE_MS = 2;
const CONNECT_OVER_BUDGET_TEXT = "this tenant's connections and frames used their share of the engine's time (server.ingressCpuMsPerSec); connect again in a second";

/** The answer to a frame of a tenant over its main-thread budget (the frame is not parsed). */
const OVER_BUDGET_TEXT = "this tenant's frames used their share of the engine's time (server.ingressCpuMsPerSec); nothing in this frame was read: slow down and retry";
const OVER_BUDGET = errorFrame('THROTTLED', OVER_BUDGET_TEXT);
/** The same with a ref: pre-rendered up to the ref, which is a plain one (HEAD_REF), so no escaping. */
const OVER_BUDGET_REF = OVER_BUDGET.slice(0, -1) + ',"ref":"';

/** A frame's `ref` when it is among its first bytes (as clients write it: `{"op":"batch","ref":"b1",...}`). */
const HEAD_BYTES = 128;
const HEAD_REF = /"ref":"([A-Za-z0-9 ._:-]{0,64})"/;

/**
 * The THROTTLED answer to a frame that is not parsed: with the frame's ref
 * when it is a plain one among the first 128 bytes (a bounded look, not a
 * parse), so that a client can tell which submit or batch it was.
 */
function overBudgetFrame(message: ArrayBuffer): string {
  const head = Buffer.from(message, 0, Math.min(HEAD_BYTES, message.byteLength)).toString('latin1');
  const m = HEAD_REF.exec(head);
  return m === null ? OVER_BUDGET : OVER_BUDGET_REF + (m[1] as string) + '"}';
}

const HELLO_V = 1;

/** Longest `ref` echoed in answers (a submit's ref is at most 64 characters). */
const MAX_REF_CHARS = 64;

/**
 * The ref to echo: the client's if it is a string of at most 64 characters,
 * else ''. Echoing any string made a batch whose `common.ref` was 200 KB
 * answer with 200 KB per item (a 100 MB batch_ack).
 */
function refOf(ref: unknown): string {
  return typeof ref === 'string' && ref.length <= MAX_REF_CHARS ? ref : '';
}

function nackFrame(ref: unknown, r: Refusal): string {
  return `{"op":"nack","ref":${JSON.stringify(refOf(ref))},"code":"${r.code}","error":${JSON.stringify(r.error)}}`;
}

/** A submit's answer: the ack or nack frame, and for a nack its refusal (the HTTP answer is built from it) and details. */
type SubmitDone = (frame: string, refused?: Refusal, details?: Record<string, unknown>) => void;

/** Why the server closed a connection: 4008, 1009, 4029. */
export type DropReason = 'slow_consumer' | 'frame_too_large' | 'flooding';

export interface IngressObserver {
  accepted(tenant: string): void;
  refused(tenant: string, code: string): void;
  ack(ms: number): void;
  /** An upgrade refused by a connection cap (reason: tenant_limit, ip_limit). */
  connectionRefused(tenant: string, reason: 'tenant_limit' | 'ip_limit'): void;
  /** A connection the server closed (reason: slow_consumer, frame_too_large, flooding). */
  connectionDropped(tenant: string, reason: DropReason): void;
}

export class IngressServer {
  private listenSocket: uWS.us_listen_socket | undefined;
  private app: uWS.TemplatedApp | undefined;
  private wsOps: ReadonlyMap<string, WsOp> = new Map();
  /** API keys → tenants and the admin key; the engine's other HTTP routes authenticate with it too. */
  readonly auth: ApiAuth<TenantRuntime>;
  private readonly sockets = new Set<uWS.WebSocket<ConnData>>();
  readonly stats: IngressStats;
  /** Open connections per tenant and per remote IP (entries leave at 0). */
  private readonly perTenant = new Map<string, number>();
  private readonly perIp = new Map<string, number>();
  /** Connections whose unsent output is over maxBackpressureBytes; swept once a second. */
  private readonly overLimit = new Set<ConnData>();
  private sweepTimer: NodeJS.Timeout | undefined;
  /** Rate-limited warnings: last time logged and lines suppressed since, by kind. */
  private readonly warned = new Map<string, { at: number; suppressed: number }>();
  private readonly maxBufferedBytes: number;
  /** The main thread's CPU time (ms): what frames are charged. */
  private readonly cpuClock: Clock;
  /** Frame read → ack/batch_ack written, as the engine sees it (the client adds its own delays). */
  readonly ackLatency = new LatencyHistogram();
  port = 0;
  /** Every HTTP route (method + pattern) registered on the server, through the route guard (http/guarded-app.ts). */
  routes: ReadonlyArray<RouteRecord> = [];
  /** Requests the route guard answered for a failed handler or refused (duplicate Content-Length). */
  guardStats: GuardStats = { failures: 0, duplicateContentLength: 0 };

  /** Connections whose unsent output is over maxBackpressureBytes right now (their frames are refused THROTTLED). */
  get backlogged(): number {
    return this.overLimit.size;
  }

  /** What the accept path runs with (the warm-up uses it). */
  readonly acceptContext: AcceptContext;
  readonly limits: SubmitLimits;
  /** Every tenant served, by id (setTenants adds, changes and removes). */
  private readonly tenants = new Map<string, TenantRuntime>();
  private readonly share: LoopShare;

  constructor(private readonly o: IngressOptions) {
    this.acceptContext = o.accept;
    this.limits = { minValiditySec: o.minValiditySec ?? 60, maxValiditySec: o.maxValiditySec, maxScheduleSec: o.maxScheduleSec ?? 30 * 86_400, maxTextChars: maxTextChars(o.accept.maxParts), callbackPrivateAddresses: o.callbackPrivateAddresses === true };
    this.maxBufferedBytes = o.maxBufferedBytes ?? o.maxBackpressureBytes * 4;
    this.cpuClock = o.cpuClock ?? threadCpuClock();
    // One registry for all tenants: the busy ones share server.ingressCpuMsPerSec, and a budget binds only while another tenant uses the loop too.
    const share = new LoopShare(o.ingressCpuMsPerSec ?? BOUNDS.ingressCpuMsPerSec, o.clock, this.cpuClock);
    this.share = share;
    for (const t of o.tenants) this.tenants.set(t.id, this.runtimeOf(t));
    const tenants = this.tenants;
    this.auth = new ApiAuth<TenantRuntime>([], o.adminKey);
    this.auth.setKeys(new Map(o.tenants.filter((t) => t.apiKey !== undefined).map((t) => [ApiAuth.hashOf(t.apiKey as string), { t: tenants.get(t.id) as TenantRuntime, expiresAt: 0, id: 'config' }])));
    this.stats = {
      connections: 0, accepted: 0, refused: 0, framesIn: 0, connectionsRefused: 0, slowConsumerCloses: 0, oversizeCloses: 0, overBudget: 0, floodCloses: 0,
      // Read when the stats are (e.g. spread into /v1/status), never written per frame.
      get tenantCpuMs() {
        return Object.fromEntries([...tenants.values()].map((t) => [t.id, Math.round(t.cpu.usedTotal)]));
      },
    };
  }

  private runtimeOf(t: IngressTenant): TenantRuntime {
    return { id: t.id, window: t.window, tps: t.tps, bucket: this.o.tenantBucket?.(t.id, t.tps) ?? new TokenBucket(t.tps, this.o.clock, t.tps, 'api'), cpu: this.share.budget(), handed: 0, senders: t.senders, accept: t.accept ?? {}, suspended: false, removed: false };
  }

  /**
   * Applies the tenant directory (engine/tenants/): tenants added, changed
   * (in place: open connections see the new window, rate, senders at once; a
   * new tps gets a new bucket), suspended or removed, and the API keys
   * (SHA-256 hex -> tenant, expiry, id). Connections whose key is no longer
   * valid are closed 4001, those of a suspended or removed tenant 4003.
   */
  setTenants(list: ReadonlyArray<IngressTenantUpdate>, keys: ReadonlyMap<string, { readonly tenant: string; readonly expiresAt: number; readonly id: string }>): void {
    const seen = new Set<string>();
    for (const u of list) {
      seen.add(u.id);
      const t = this.tenants.get(u.id);
      if (t === undefined || t.removed) {
        const r = this.runtimeOf(u);
        r.suspended = u.suspended;
        this.tenants.set(u.id, r);
        continue;
      }
      if (t.tps !== u.tps) t.bucket = this.o.tenantBucket?.(u.id, u.tps) ?? new TokenBucket(u.tps, this.o.clock, u.tps, 'api');
      t.tps = u.tps;
      t.window = u.window;
      t.senders = u.senders;
      t.accept = u.accept ?? {};
      t.suspended = u.suspended;
    }
    for (const [id, t] of this.tenants) if (!seen.has(id)) {
      t.removed = true;
      t.suspended = true;
      this.tenants.delete(id);
    }
    const byHash = new Map<string, AuthKey<TenantRuntime>>();
    for (const [h, k] of keys) {
      const t = this.tenants.get(k.tenant);
      if (t !== undefined) byHash.set(h, { t, expiresAt: k.expiresAt, id: k.id });
    }
    this.auth.setKeys(byHash);
    this.closeInvalid();
  }

  /**
   * Closes the connections whose key is no longer valid (revoked, expired:
   * 4001) or whose tenant is suspended or deleted (4003). Called on every
   * directory change and once a second (keys expire without a change).
   */
  closeInvalid(now = Date.now()): number {
    let n = 0;
    for (const ws of this.sockets) {
      const d = ws.getUserData();
      if (d.dropping || d.closed) continue;
      const e = this.auth.validHash(d.keyHash, now);
      let code = 0;
      let label = '';
      if (d.t.removed || d.t.suspended) {
        code = WS_CLOSE.TENANT_SUSPENDED;
        label = d.t.removed ? 'TENANT_SUSPENDED: tenant deleted' : 'TENANT_SUSPENDED: tenant suspended';
      } else if (e === undefined || e.t !== d.t) {
        code = WS_CLOSE.KEY_REVOKED;
        label = 'UNAUTHORIZED: API key revoked or expired';
      } else continue;
      d.dropping = true;
      this.overLimit.delete(d);
      n++;
      this.warn('key_closed', `WebSocket of tenant ${d.tenant} from ${d.ip} closed ${code}: ${label}`);
      setImmediate(() => {
        if (!d.closed) d.ws?.end(code, label);
      });
    }
    return n;
  }

  async listen(): Promise<number> {
    const o = this.o;
    // Every route below, the engine's extra routes included, is registered through the one guard.
    const guarded = guardedApp(uWS.App(), { log: o.log ?? defaultLog });
    const app = guarded.app;
    this.app = app;
    this.routes = guarded.routes;
    this.guardStats = guarded.stats;
    const soft = o.maxBackpressureBytes;
    app.ws<ConnData>('/v1/ws', {
      compression: uWS.DISABLED,
      // Frames up to 4× maxFrameBytes are handed to onMessage (FRAME_TOO_LARGE, or closed 1009 with a
      // close frame). uWS refuses a frame over maxPayloadLength at its header by cutting the TCP
      // connection (the client sees 1006), so its limit sits well above ours: 16×, which is also the
      // most one connection can make it buffer for a frame.
      maxPayloadLength: o.maxFrameBytes * 16,
      idleTimeout: o.idleTimeoutSec,
      // Our own bound (maxBufferedBytes, checked after every send) closes a connection long before
      // uWS's, past which it would silently drop frames (acks included).
      maxBackpressure: this.maxBufferedBytes * 2 + 2 ** 20,
      sendPingsAutomatically: true,
      upgrade: (res, req, context) => {
        try {
          this.onUpgrade(res, req, context);
        } catch (err) {
          // Like a frame: a request must never take the process down.
          this.o.log?.('error', `WebSocket upgrade failed: ${(err as Error).stack ?? String(err)}`);
          sendError(res, 'INTERNAL', 'the upgrade could not be processed (an internal error, logged)');
        }
      },
      open: (ws) => {
        const d = ws.getUserData();
        d.ws = ws;
        // Status pushes (engine/push/status-dispatcher.ts): false once the output is over
        // maxBackpressureBytes; the dispatcher then stops pushing and resumes from Redis on drain.
        d.push = (frame: string) => {
          if (d.closed || d.dropping) return false;
          ws.send(frame, false);
          return this.watchOutput(d);
        };
        d.pushMany = (frames: string[]) => {
          if (d.closed || d.dropping) return false;
          ws.cork(() => {
            for (const f of frames) ws.send(f, false);
          });
          return this.watchOutput(d);
        };
        this.sockets.add(ws);
        this.stats.connections++;
        this.perTenant.set(d.tenant, (this.perTenant.get(d.tenant) ?? 0) + 1);
        this.perIp.set(d.ip, (this.perIp.get(d.ip) ?? 0) + 1);
        ws.send(`{"op":"hello","v":${HELLO_V},"tenant":"${d.tenant}","window":${d.t.window},"maxFrameBytes":${o.maxFrameBytes},"maxBatchItems":${o.maxBatchItems}}`);
        if (d.wantStatus) this.o.dispatcher.attach(d, d.since).catch(() => {
          if (!d.closed) this.send(d, errorFrame('UNAVAILABLE', 'status stream unavailable; reconnect to resume'));
        });
      },
      message: (ws, message) => {
        const d = ws.getUserData();
        // What the frame costs the main thread is charged to its tenant (cpu-budget.ts): a frame
        // refused unread its few microseconds of wall time, any other its CPU time on the thread.
        const w0 = performance.now();
        if (this.refusedUnread(d, message)) {
          d.t.cpu.charge(performance.now() - w0, false);
          return;
        }
        const c0 = this.cpuClock.now();
        const h0 = d.t.handed;
        // No frame may take the process down: an exception in a handler is a bug, answered and logged.
        try {
          this.onMessage(ws, message);
        } catch (err) {
          this.o.log?.('error', `WebSocket frame of tenant ${d.tenant} failed: ${(err as Error).stack ?? String(err)}`);
          this.send(d, errorFrame('UNAVAILABLE', 'the frame could not be processed (an internal error, logged); retry or report it'));
        } finally {
          // A submit still waiting for a network lookup (awaitNetwork) is not handed yet: its frame counts as refused (rare).
          d.t.cpu.charge(Math.max(0, this.cpuClock.now() - c0), d.t.handed !== h0);
        }
      },
      drain: (ws) => {
        const d = ws.getUserData();
        if (ws.getBufferedAmount() < soft) {
          this.underLimit(d);
          this.o.dispatcher.resume(d);
        }
      },
      close: (ws) => {
        const d = ws.getUserData();
        d.closed = true;
        d.ws = undefined;
        this.sockets.delete(ws);
        this.overLimit.delete(d);
        this.stats.connections--;
        this.release(this.perTenant, d.tenant);
        this.release(this.perIp, d.ip);
        if (d.wantStatus) this.o.dispatcher.detach(d);
      },
    });
    app.post('/v1/messages', (res, req) => this.onHttpSubmit(res, req));
    this.wsOps = o.extraRoutes?.(app) ?? new Map();
    app.any('/*', (res) => sendError(res, 'NOT_FOUND', 'no such endpoint'));
    return await new Promise<number>((ok, fail) => {
      // An exclusive port (no SO_REUSEPORT): uWS's default shares a port, so a second engine started with
      // the same config listened beside the first and took half its connections.
      (app as unknown as { listen(host: string, port: number, options: number, cb: (t: uWS.us_listen_socket | false) => void): void }).listen(o.host, o.port, LIBUS_LISTEN_EXCLUSIVE_PORT, (token) => {
        if (!token) return fail(new SwitchyardError('PORT_IN_USE', `cannot listen on ${o.host}:${o.port}: the port is in use (another engine or program listens on it); give this engine its own server.port`));
        this.listenSocket = token;
        this.port = uWS.us_socket_local_port(token);
        this.sweepTimer = setInterval(() => {
          this.sweepBacklogged();
          this.closeInvalid();
        }, 1000);
        this.sweepTimer.unref();
        ok(this.port);
      });
    });
  }

  /** Stops accepting and closes every connection. */
  close(): void {
    clearInterval(this.sweepTimer);
    if (this.listenSocket) uWS.us_listen_socket_close(this.listenSocket);
    this.listenSocket = undefined;
    for (const ws of [...this.sockets]) ws.end(1001, 'server shutting down');
    // Idle keep-alive HTTP connections (a Prometheus scraper, a dashboard) kept the process alive after
    // a stop: `demo` never exited. Closed on the next turn, after the close frames above are written.
    const app = this.app;
    this.app = undefined;
    if (app !== undefined) setImmediate(() => (app as unknown as { close(): void }).close());
  }

  /** The /v1/ws upgrade: key, `since`, subprotocol and connection caps, in that order. */
  private onUpgrade(res: uWS.HttpResponse, req: uWS.HttpRequest, context: uWS.us_socket_context_t): void {
    const a = this.auth.authenticate(res, req);
    if (a === undefined) return;
    const t = a.t;
    // A connection is charged like a frame (CONNECT_CHARGE_MS): refused while its tenant's share is spent.
    if (!t.cpu.allows()) {
      this.stats.overBudget++;
      this.countRefused(t.id, 'THROTTLED');
      sendError(res, 'THROTTLED', CONNECT_OVER_BUDGET_TEXT, { retryAfterSec: 1 });
      return;
    }
    const c0 = this.cpuClock.now();
    const sinceQ = req.getQuery('since');
    const badSince = sinceQ === undefined || sinceQ === '' ? undefined : this.o.dispatcher.checkSince(sinceQ);
    if (badSince !== undefined) {
      sendError(res, 'BAD_REQUEST', badSince);
      return;
    }
    const proto = wsProtocolReply(req.getHeader('sec-websocket-protocol'));
    if ('error' in proto) {
      sendError(res, 'BAD_REQUEST', proto.error);
      return;
    }
    const ip = Buffer.from(res.getRemoteAddressAsText()).toString();
    const capped = this.connectionCap(t.id, ip);
    if (capped !== undefined) {
      sendError(res, 'TOO_MANY_CONNECTIONS', capped);
      return;
    }
    const wantStatus = req.getQuery('statuses') !== '0';
    const data: ConnData = {
      t,
      keyHash: a.hash,
      ip,
      tenant: t.id,
      unacked: 0,
      since: sinceQ === undefined || sinceQ === '' ? undefined : sinceQ,
      wantStatus,
      ws: undefined,
      overSince: 0,
      dropping: false,
      overBudgetRun: 0,
      live: false,
      closed: false,
      push: () => false,
      pushMany: () => false,
    };
    res.upgrade(data, req.getHeader('sec-websocket-key'), proto.reply, req.getHeader('sec-websocket-extensions'), context);
    t.cpu.charge(Math.max(0, this.cpuClock.now() - c0) + (wantStatus ? CONNECT_CHARGE_MS : 0), 'neutral');
  }

  /** Why a new connection of this tenant from this IP is refused, or undefined when it is within the caps. */
  private connectionCap(tenant: string, ip: string): string | undefined {
    const perTenant = this.o.maxConnectionsPerTenant ?? BOUNDS.maxConnectionsPerTenant;
    const perIp = this.o.maxConnectionsPerIp ?? BOUNDS.maxConnectionsPerIp;
    let reason: 'tenant_limit' | 'ip_limit' | undefined;
    let text = '';
    if ((this.perTenant.get(tenant) ?? 0) >= perTenant) {
      reason = 'tenant_limit';
      text = `tenant ${tenant} has ${perTenant} open WebSocket connections, the most allowed (server.maxConnectionsPerTenant); close one first`;
    } else if ((this.perIp.get(ip) ?? 0) >= perIp) {
      reason = 'ip_limit';
      text = `${ip} has ${perIp} open WebSocket connections, the most allowed (server.maxConnectionsPerIp); close one first`;
    }
    if (reason === undefined) return undefined;
    this.stats.connectionsRefused++;
    this.o.observer?.connectionRefused(tenant, reason);
    this.warn(reason, `WebSocket upgrade refused 429 TOO_MANY_CONNECTIONS (${reason}): ${text}`);
    return text;
  }

  private release(counts: Map<string, number>, key: string): void {
    const n = (counts.get(key) ?? 1) - 1;
    if (n <= 0) counts.delete(key);
    else counts.set(key, n);
  }

  /**
   * Checks a connection's unsent output after a send; returns true while it is
   * under maxBackpressureBytes. Over it the connection is marked backlogged
   * (frames refused, status pushes paused); over maxBufferedBytes it is closed.
   */
  private watchOutput(d: ConnData): boolean {
    const ws = d.ws;
    if (ws === undefined || d.closed) return false;
    const buffered = ws.getBufferedAmount();
    if (buffered < this.o.maxBackpressureBytes) return true;
    if (d.overSince === 0) {
      d.overSince = Math.max(1, this.o.clock.now());
      this.overLimit.add(d);
    }
    if (buffered > this.maxBufferedBytes)
      this.drop(d, WS_CLOSE.SLOW_CONSUMER, 'slow_consumer', `${buffered} bytes of output unread, over server.maxBufferedBytes (${this.maxBufferedBytes})`);
    return false;
  }

  private underLimit(d: ConnData): void {
    d.overSince = 0;
    this.overLimit.delete(d);
  }

  /** Closes connections that have stayed backlogged for slowConsumerCloseSec. */
  private sweepBacklogged(): void {
    const now = this.o.clock.now();
    const limitMs = (this.o.slowConsumerCloseSec ?? BOUNDS.slowConsumerCloseSec) * 1000;
    for (const d of this.overLimit) {
      if (d.closed || d.ws === undefined) {
        this.overLimit.delete(d);
        continue;
      }
      const buffered = d.ws.getBufferedAmount();
      if (buffered < this.o.maxBackpressureBytes) this.underLimit(d);
      else if (now - d.overSince >= limitMs)
        this.drop(d, WS_CLOSE.SLOW_CONSUMER, 'slow_consumer', `${buffered} bytes of output unread for ${Math.round((now - d.overSince) / 1000)} s (server.slowConsumerCloseSec)`);
    }
  }

  /**
   * Closes a connection the server gives up on, with a close code and a log
   * line. The close itself waits for the next turn of the event loop: a
   * caller may be iterating connections (the status dispatcher's push loop).
   */
  private drop(d: ConnData, code: number, reason: DropReason, why: string): void {
    if (d.dropping || d.closed) return;
    d.dropping = true;
    this.overLimit.delete(d);
    if (reason === 'slow_consumer') this.stats.slowConsumerCloses++;
    else if (reason === 'flooding') this.stats.floodCloses++;
    else this.stats.oversizeCloses++;
    this.o.observer?.connectionDropped(d.tenant, reason);
    this.warn(reason, `WebSocket of tenant ${d.tenant} from ${d.ip} closed ${code} (${reason}): ${why}`);
    const label = reason === 'slow_consumer' ? 'SLOW_CONSUMER: output not read' : reason === 'flooding' ? 'THROTTLED: frames sent while over the tenant budget' : 'FRAME_TOO_LARGE: frame over 4 x server.maxFrameBytes';
    setImmediate(() => {
      if (!d.closed) d.ws?.end(code, label);
    });
  }

  /** A warning at most once a second per kind, with the count of those suppressed meanwhile. */
  private warn(kind: string, msg: string): void {
    const log = this.o.log;
    if (log === undefined) return;
    const now = Date.now();
    const w = this.warned.get(kind);
    if (w !== undefined && now - w.at < 1000) {
      w.suppressed++;
      return;
    }
    log('warn', w !== undefined && w.suppressed > 0 ? `${msg} (and ${w.suppressed} more like it in the last ${Math.round((now - w.at) / 1000)} s)` : msg);
    this.warned.set(kind, { at: now, suppressed: 0 });
  }

  /** Sends a frame on a connection and watches its output. */
  private send(d: ConnData, frame: string): void {
    if (d.closed || d.dropping || d.ws === undefined) return;
    d.ws.send(frame, false);
    this.watchOutput(d);
  }

  /**
   * The checks before a frame is read, none of which parses it: a connection
   * being closed, a frame too large, and the tenant's main-thread budget (a
   * tenant whose frames used their share of the loop is answered unread, with
   * one pre-rendered THROTTLED frame for a whole batch). True when the frame
   * was answered (or dropped) here.
   */
  private refusedUnread(d: ConnData, message: ArrayBuffer): boolean {
    this.stats.framesIn++;
    if (d.dropping) return true;
    const size = message.byteLength;
    if (size > this.o.maxFrameBytes * 4) {
      this.drop(d, WS_CLOSE.TOO_BIG, 'frame_too_large', `frame of ${size} bytes is over 4 × server.maxFrameBytes (${this.o.maxFrameBytes})`);
      return true;
    }
    if (size > this.o.maxFrameBytes) {
      this.send(d, errorFrame('FRAME_TOO_LARGE', `frame of ${size} bytes exceeds the limit of ${this.o.maxFrameBytes} bytes; nothing in it was accepted`));
      return true;
    }
    if (!d.t.cpu.allows()) {
      this.stats.overBudget++;
      this.countRefused(d.tenant, 'THROTTLED');
      if (++d.overBudgetRun >= FLOOD_FRAMES)
        this.drop(d, WS_CLOSE.FLOODING, 'flooding', `${d.overBudgetRun} frames in a row sent while tenant ${d.tenant} was over its share of server.ingressCpuMsPerSec`);
      else this.send(d, overBudgetFrame(message));
      return true;
    }
    d.overBudgetRun = 0;
    return false;
  }

  /** A frame that passed refusedUnread: parsed and handled. */
  private onMessage(ws: uWS.WebSocket<ConnData>, message: ArrayBuffer): void {
    const d = ws.getUserData();
    let frame: unknown;
    try {
      frame = JSON.parse(Buffer.from(message).toString('utf8'));
    } catch (err) {
      this.send(d, errorFrame('BAD_FRAME', `frame is not valid JSON: ${(err as Error).message}`));
      return;
    }
    if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) {
      this.send(d, errorFrame('BAD_FRAME', 'frame must be a JSON object with an "op" field'));
      return;
    }
    const f = frame as Record<string, unknown>;
    const ref = refOf(f.ref);
    if (ws.getBufferedAmount() >= this.o.maxBackpressureBytes) return this.refuseBacklogged(d, f, ref);
    const reply = (out: string) => this.send(d, out);
    switch (f.op) {
      case 'submit': {
        const t0 = performance.now();
        this.submitOne(d, f, (out) => {
          this.recordAck(performance.now() - t0);
          this.send(d, out);
        });
        return;
      }
      case 'batch':
        this.runBatch(d, d.t, f, reply);
        return;
      case 'cancel':
        // A cancel costs a Redis script call like a submit: it counts against the tenant's rate.
        if (!d.t.bucket.tryTake(1)) this.send(d, cancelReply(ref, typeof f.id === 'string' && f.id.length <= MAX_REF_CHARS ? f.id : '', { code: 'THROTTLED', error: 'tenant rate limit reached; retry later' }).frame);
        else this.onCancel(d.t.id, f, (r) => this.send(d, r.frame));
        return;
      case 'ping':
        this.send(d, `{"op":"pong"${typeof f.ref === 'string' ? `,"ref":${JSON.stringify(ref)}` : ''}}`);
        return;
      default: {
        const op = typeof f.op === 'string' ? this.wsOps.get(f.op) : undefined;
        if (op !== undefined) {
          // A feature op counts against the tenant's rate like a submit.
          if (!d.t.bucket.tryTake(1)) this.send(d, errorFrame('THROTTLED', 'tenant rate limit reached; retry later', `,"ref":${JSON.stringify(ref)}`));
          else op(d.t.id, f, reply);
          return;
        }
        // Never JSON.stringify the client's op itself: a deeply nested one overflowed the stack (a crash).
        const what = typeof f.op === 'string' ? `unknown op ${JSON.stringify(f.op.slice(0, 40))}` : f.op === undefined ? 'no "op"' : `"op" must be a string, got ${f.op === null ? 'null' : Array.isArray(f.op) ? 'an array' : typeof f.op === 'object' ? 'an object' : `a ${typeof f.op}`}`;
        this.send(d, errorFrame('UNKNOWN_OP', `${what}; expected submit, batch, cancel, ping${[...this.wsOps.keys()].map((k) => ', ' + k).join('')}`));
      }
    }
  }

  /**
   * A frame that arrived while the connection's output is over
   * maxBackpressureBytes: refused THROTTLED without being processed (a submit
   * gets its nack, anything else an error frame; nothing is enqueued).
   */
  private refuseBacklogged(d: ConnData, f: Record<string, unknown>, ref: string): void {
    const why = `this connection has over ${this.o.maxBackpressureBytes} bytes of unread output: read your acks and status frames; nothing in this frame was processed`;
    if (d.overSince === 0) {
      d.overSince = Math.max(1, this.o.clock.now());
      this.overLimit.add(d);
    }
    if (f.op === 'submit') {
      this.countRefused(d.tenant, 'THROTTLED');
      this.send(d, nackFrame(ref, { code: 'THROTTLED', error: why }));
      return;
    }
    if (f.op === 'batch' && Array.isArray(f.items)) for (let i = 0; i < Math.min(f.items.length, this.o.maxBatchItems); i++) this.countRefused(d.tenant, 'THROTTLED');
    this.send(d, errorFrame('THROTTLED', why, `,"ref":${JSON.stringify(ref)}`));
  }

  private countRefused(tenant: string, code: string): void {
    this.stats.refused++;
    this.o.observer?.refused(tenant, code);
  }

  private recordAck(ms: number): void {
    this.ackLatency.record(ms);
    this.o.observer?.ack(ms);
  }

  /** Runs one submit through every check; `done` gets the ack or nack frame. */
  private submitOne(d: { t: TenantRuntime; unacked: number } | undefined, f: Record<string, unknown>, done: SubmitDone, tenant?: TenantRuntime): void {
    const t = (d?.t ?? tenant) as TenantRuntime;
    const refusal = (r: Refusal) => {
      this.countRefused(t.id, r.code);
      done(nackFrame(f.ref, r), r);
    };
    if (t.suspended) return refusal({ code: 'TENANT_SUSPENDED', error: `tenant ${t.id} is suspended; nothing is accepted from it` });
    if (d !== undefined && d.unacked >= t.window)
      return refusal({ code: 'THROTTLED', error: `more than ${t.window} submits awaiting their ack on this connection; wait for acks` });
    if (this.o.batcher.pending >= this.o.maxPendingEnqueue)
      return refusal({ code: 'THROTTLED', error: 'the engine is waiting for its queue (Redis) to catch up; retry shortly' });
    const fields = parseSubmit(f, this.limits, this.o.clock.now());
    if (isRefusal(fields)) return refusal(fields);
    if (t.senders !== undefined && !t.senders(fields.from))
      return refusal({ code: 'SENDER_NOT_ALLOWED', error: `sender "${fields.from}" is not on this tenant's sender list (tenants[].senders)` });
    if (!t.bucket.tryTake(1)) return refusal({ code: 'THROTTLED', error: 'tenant submit rate limit reached; retry later' });
    // The submit counts against the window from here, also while it waits for a network lookup.
    if (d !== undefined) d.unacked++;
    const wait = this.o.awaitNetwork?.(fields.to);
    if (wait === undefined) this.acceptAndEnqueue(d, t, f, fields, done);
    else void wait.then(() => this.acceptAndEnqueue(d, t, f, fields, done));
  }

  private acceptAndEnqueue(d: { unacked: number } | undefined, t: TenantRuntime, f: Record<string, unknown>, fields: SubmitFields, done: SubmitDone): void {
    const now = this.o.clock.now();
    const m = acceptMessage(this.o.accept, t.id, fields, Math.floor(now), t.accept);
    if (isRefusal(m as Refusal)) {
      if (d !== undefined) d.unacked--;
      this.countRefused(t.id, (m as Refusal).code);
      return done(nackFrame(f.ref, m as Refusal), m as Refusal);
    }
    const quota = this.o.quota;
    if (quota !== undefined && !quota.tryTake(t.id)) {
      if (d !== undefined) d.unacked--;
      this.countRefused(t.id, 'QUOTA_EXCEEDED');
      const r: Refusal = { code: 'QUOTA_EXCEEDED', error: `daily quota of ${quota.quotaOf(t.id)} messages reached; it resets at 00:00 UTC` };
      return done(nackFrame(f.ref, r), r);
    }
    const msg = m as Exclude<typeof m, Refusal>;
    t.handed++;
    this.o.batcher.add(msg, (err, outcome) => {
      if (d !== undefined) d.unacked--;
      if (err) {
        quota?.giveBack(t.id);
        // redis.waitReplicas: the primary has it, too few replicas confirmed it in time (queue/redis-store.ts).
        if ((err as { code?: string }).code === 'REPLICATION_TIMEOUT') {
          this.countRefused(t.id, 'REPLICATION_TIMEOUT');
          const r: Refusal = { code: 'REPLICATION_TIMEOUT', error: `message ${msg.id} ${err.message}` };
          done(nackFrame(f.ref, r), r, { id: msg.id });
          return;
        }
        this.countRefused(t.id, 'UNAVAILABLE');
        const r: Refusal = { code: 'UNAVAILABLE', error: 'the queue is unavailable; the message was not accepted, retry' };
        done(nackFrame(f.ref, r), r);
        return;
      }
      // An idempotency key used before (issue 15): nothing was written; the first ack's id and status, or a conflict.
      if (typeof outcome === 'object') {
        quota?.giveBack(t.id);
        if ('conflict' in outcome) {
          this.countRefused(t.id, 'IDEMPOTENCY_CONFLICT');
          const r: Refusal = { code: 'IDEMPOTENCY_CONFLICT', error: 'this idempotency key was used within the window for a submit with other fields; use a new key for a new message' };
          done(nackFrame(f.ref, r), r);
          return;
        }
        done(`{"op":"ack","ref":${JSON.stringify(fields.ref)},"id":"${outcome.repeatOf}","status":"${outcome.status}","parts":${msg.parts.length},"encoding":"${msg.encoding ?? ''}","price":${msg.price ?? 0},"currency":"${msg.currency ?? ''}","repeat":true}`);
        return;
      }
      const disposition = outcome;
      // A message stopped at once (its number opted out) is never sent: it does not use the daily quota.
      if (disposition === 'stopped') quota?.giveBack(t.id);
      this.stats.accepted++;
      this.o.observer?.accepted(t.id);
      done(`{"op":"ack","ref":${JSON.stringify(fields.ref)},"id":"${msg.id}","status":"${disposition ?? 'queued'}","parts":${msg.parts.length},"encoding":"${msg.encoding ?? ''}","price":${msg.price ?? 0},"currency":"${msg.currency ?? ''}"}`);
    });
  }

  /**
   * A submit from another ingress (the SMPP server, engine/smpp-server/): the
   * same checks and path as a WebSocket submit (fields, sender list, the
   * tenant's rate shared with its WebSocket and HTTP traffic, accept, quota,
   * enqueue), the connection window aside (that ingress keeps its own);
   * `done` gets the ack or nack frame, the ack once Redis has the message.
   * False (and no call) when the tenant is unknown.
   */
  submitAs(tenant: string, f: Record<string, unknown>, done: (frame: string) => void): boolean {
    const t = this.tenants.get(tenant);
    if (t === undefined || t.removed) return false;
    this.submitOne(undefined, f, done, t);
    return true;
  }

  /** Accepted messages waiting for Redis, all ingresses (over server.maxPendingEnqueue: THROTTLED). */
  get pendingEnqueue(): number {
    return this.o.batcher.pending;
  }

  /**
   * A batch frame (WebSocket) or body (HTTP): every item is a submit, `common`
   * (optional) holds fields shared by all items (e.g. `from` and a `template`,
   * each item then giving `to` and `vars`); an item's own fields win. One
   * batch_ack with a result per item, in item order.
   */
  private runBatch(d: ConnData | undefined, t: TenantRuntime, f: Record<string, unknown>, send: (frame: string) => void): void {
    const items = f.items;
    const common = f.common;
    const bref = refOf(f.ref);
    const refField = `,"ref":${JSON.stringify(bref)}`;
    if (!Array.isArray(items) || items.length === 0) return send(errorFrame('BAD_FRAME', '"items" must be a non-empty array of submits', refField));
    if (items.length > this.o.maxBatchItems)
      return send(errorFrame('BAD_FRAME', `a batch may hold at most ${this.o.maxBatchItems} items, got ${items.length}; nothing in it was accepted`, refField));
    if (common !== undefined && (common === null || typeof common !== 'object' || Array.isArray(common)))
      return send(errorFrame('BAD_FRAME', '"common" must be an object of submit fields shared by every item', refField));
    const shared = common as Record<string, unknown> | undefined;
    const results: string[] = new Array(items.length);
    let left = items.length;
    const t0 = performance.now();
    items.forEach((item, i) => {
      const ok = item !== null && typeof item === 'object' && !Array.isArray(item);
      const cb = (frame: string) => {
        results[i] = frame;
        if (--left !== 0) return;
        this.recordAck(performance.now() - t0);
        send(`{"op":"batch_ack","ref":${JSON.stringify(bref)},"results":[${results.join(',')}]}`);
      };
      if (!ok) {
        this.countRefused(t.id, 'INVALID_FIELD');
        cb(nackFrame(undefined, { code: 'INVALID_FIELD', error: 'a batch item must be a JSON object' }));
      } else this.submitOne(d, shared === undefined ? (item as Record<string, unknown>) : { ...shared, ...(item as Record<string, unknown>) }, cb, t);
    });
  }

  /** `{"op":"cancel","ref","id"}` (WebSocket) and POST /v1/messages/:id/cancel share this. */
  onCancel(tenant: string, f: Record<string, unknown>, done: (r: CancelReply) => void): void {
    const ref = refOf(f.ref);
    const id = f.id;
    if (typeof id !== 'string' || !/^[0-9a-z]{1,40}$/.test(id))
      return done(cancelReply(ref, typeof id === 'string' && id.length <= MAX_REF_CHARS ? id : '', { code: 'INVALID_FIELD', error: '"id" must be the id of a message (from its ack)' }));
    if (this.o.cancel === undefined) return done(cancelReply(ref, id, { code: 'UNAVAILABLE', error: 'cancelling is not available on this engine' }));
    this.o.cancel(tenant, id, ref, done);
  }

  private onHttpSubmit(res: uWS.HttpResponse, req: uWS.HttpRequest): Promise<void> | undefined {
    const t = this.auth.tenant(res, req);
    if (t === undefined) return;
    if (!t.cpu.allows()) {
      this.stats.overBudget++;
      this.countRefused(t.id, 'THROTTLED');
      sendError(res, 'THROTTLED', OVER_BUDGET_TEXT);
      return;
    }
    // Read now: uWS's request is gone once the handler returns.
    const idempotencyKey = req.getHeader('idempotency-key');
    return readJsonBody(res, this.o.maxFrameBytes, (body, alive) => {
      const c0 = this.cpuClock.now();
      const h0 = t.handed;
      try {
        this.onHttpBody(res, t, body, alive, idempotencyKey);
      } finally {
        t.cpu.charge(Math.max(0, this.cpuClock.now() - c0), t.handed !== h0);
      }
    });
  }

  private onHttpBody(res: uWS.HttpResponse, t: TenantRuntime, body: unknown, alive: () => boolean, idempotencyKey = ''): void {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      if (alive()) sendError(res, 'BAD_FRAME', 'body must be a JSON object (a submit, or a batch: {"items": [...], "common": {...}})');
      return;
    }
    let b = body as Record<string, unknown>;
    // The Idempotency-Key header is the submit's idempotencyKey (issue 15); a batch's items carry their own.
    if (idempotencyKey !== '') {
      const refusal = 'items' in b ? 'the Idempotency-Key header applies to one submit: give each batch item its own "idempotencyKey"'
        : b.idempotencyKey !== undefined && b.idempotencyKey !== idempotencyKey ? 'the Idempotency-Key header and the body\'s "idempotencyKey" differ' : undefined;
      if (refusal !== undefined) {
        if (alive()) sendJson(res, '400 Bad Request', errorFrame('INVALID_FIELD', refusal));
        return;
      }
      b = { ...b, idempotencyKey };
    }
    if ('items' in b) {
      // A batch: 200 with a result per item (each an ack or a nack), or the error body when the batch itself is malformed.
      this.runBatch(undefined, t, b, (frame) => {
        if (!alive()) return;
        if (frame.startsWith('{"op":"batch_ack"')) return sendJson(res, '200 OK', frame);
        const e = JSON.parse(frame) as { code: ErrorCode; error: string; ref: string };
        sendError(res, e.code, e.error, { details: { ref: e.ref } });
      });
      return;
    }
    this.submitOne(undefined, b, (frame, refused, details) => {
      if (!alive()) return;
      if (refused === undefined) return sendJson(res, '202 Accepted', frame);
      // The status comes from the code (errors.ts HTTP_STATUS), Retry-After from what refused it.
      sendError(res, refused.code, refused.error, { details: { ref: refOf(b.ref), ...details }, retryAfterSec: this.retryAfterSec(t, refused.code) });
    }, t);
  }

  /**
   * Retry-After (s) of a refused HTTP submit: the tenant's rate refills a token
   * in 1/tps s (at least 1 s, the header's unit); a daily quota resets at 00:00 UTC.
   */
  private retryAfterSec(t: TenantRuntime, code: ErrorCode): number | undefined {
    if (code === 'THROTTLED') return Math.max(1, Math.ceil(1 / Math.max(t.tps, 1e-3)));
    if (code === 'QUOTA_EXCEEDED') {
      const now = this.o.clock.now();
      return Math.max(1, Math.ceil((86_400_000 - (now % 86_400_000)) / 1000));
    }
    return undefined;
  }
}
