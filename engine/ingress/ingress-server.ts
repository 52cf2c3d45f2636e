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
 */
import uWS from 'uWebSockets.js';
import { ApiAuth, errorBody as errorFrame, readJsonBody, sendJson } from '../http/http-kit.js';
import type { Clock } from '../flow/clock.js';
import { LatencyHistogram } from '../flow/latency-histogram.js';
import { TokenBucket } from '../flow/token-bucket.js';
import type { StatusDispatcher, StatusSink } from '../push/status-dispatcher.js';
import { acceptMessage, type AcceptContext, type TenantAcceptOptions } from './accept-message.js';
import type { EnqueueBatcher } from './enqueue-batcher.js';
import { isRefusal, parseSubmit, type Refusal, type SubmitFields, type SubmitLimits } from './parse-submit.js';
import { cancelReply, type CancelReply } from '../lifecycle/cancel-batcher.js';
import type { SenderCheck } from '../lifecycle/sender-allowlist.js';

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
  readonly apiKey: string;
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
  readonly maxBackpressureBytes: number;
  /** Messages waiting for Redis over all connections before submits are refused THROTTLED. */
  readonly maxPendingEnqueue: number;
  readonly maxBatchItems: number;
  readonly maxValiditySec: number;
  /** messages.minValiditySec and .maxScheduleSec (defaults 60 s and 30 days). */
  readonly minValiditySec?: number;
  readonly maxScheduleSec?: number;
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
  /**
   * Extra HTTP routes (metrics, health, admin) registered by the engine; may
   * return WebSocket ops of the same features (e.g. optout_add).
   */
  readonly extraRoutes?: (app: uWS.TemplatedApp) => ReadonlyMap<string, WsOp> | void;
}

/** A WebSocket op handled by a feature module: the tenant, the frame, and a send for the answer. */
export type WsOp = (tenant: string, frame: Record<string, unknown>, send: (frame: string) => void) => void;

interface TenantRuntime {
  readonly id: string;
  readonly apiKey: string;
  readonly window: number;
  readonly bucket: TokenBucket;
  readonly senders: SenderCheck | undefined;
  readonly accept: TenantAcceptOptions;
}

interface ConnData extends StatusSink {
  readonly t: TenantRuntime;
  unacked: number;
  since: string | undefined;
  /** false (?statuses=0): a submit-only connection that gets no status pushes. */
  readonly wantStatus: boolean;
  ws: uWS.WebSocket<ConnData> | undefined;
}

export interface IngressStats {
  connections: number;
  accepted: number;
  refused: number;
  framesIn: number;
}

const HELLO_V = 1;

function nackFrame(ref: unknown, r: Refusal): string {
  return `{"op":"nack","ref":${JSON.stringify(typeof ref === 'string' ? ref : '')},"code":"${r.code}","error":${JSON.stringify(r.error)}}`;
}

export interface IngressObserver {
  accepted(tenant: string): void;
  refused(tenant: string, code: string): void;
  ack(ms: number): void;
}

export class IngressServer {
  private listenSocket: uWS.us_listen_socket | undefined;
  private wsOps: ReadonlyMap<string, WsOp> = new Map();
  /** API keys → tenants and the admin key; the engine's other HTTP routes authenticate with it too. */
  readonly auth: ApiAuth<TenantRuntime>;
  private readonly sockets = new Set<uWS.WebSocket<ConnData>>();
  readonly stats: IngressStats = { connections: 0, accepted: 0, refused: 0, framesIn: 0 };
  /** Frame read → ack/batch_ack written, as the engine sees it (the client adds its own delays). */
  readonly ackLatency = new LatencyHistogram();
  port = 0;

  /** What the accept path runs with (the warm-up uses it). */
  readonly acceptContext: AcceptContext;
  readonly limits: SubmitLimits;

  constructor(private readonly o: IngressOptions) {
    this.acceptContext = o.accept;
    this.limits = { minValiditySec: o.minValiditySec ?? 60, maxValiditySec: o.maxValiditySec, maxScheduleSec: o.maxScheduleSec ?? 30 * 86_400 };
    this.auth = new ApiAuth(
      o.tenants.map((t) => ({ id: t.id, apiKey: t.apiKey, window: t.window, bucket: new TokenBucket(t.tps, o.clock, t.tps, 'api'), senders: t.senders, accept: t.accept ?? {} })),
      o.adminKey,
    );
  }

  async listen(): Promise<number> {
    const o = this.o;
    const app = uWS.App();
    app.ws<ConnData>('/v1/ws', {
      compression: uWS.DISABLED,
      // uWS closes (1009) past this; frames between maxFrameBytes and it get FRAME_TOO_LARGE.
      maxPayloadLength: o.maxFrameBytes * 4,
      idleTimeout: o.idleTimeoutSec,
      maxBackpressure: o.maxBackpressureBytes * 2,
      sendPingsAutomatically: true,
      upgrade: (res, req, context) => {
        const t = this.auth.tenant(res, req);
        if (t === undefined) return;
        const sinceQ = req.getQuery('since');
        if (sinceQ !== undefined && sinceQ !== '' && sinceQ !== '$' && !/^[0-9]{1,15}-[0-9]{1,10}$/.test(sinceQ)) {
          sendJson(res, '400 Bad Request', errorFrame('BAD_REQUEST', `"since" must be an event id such as "1732290000000-0" (the eid of a status frame) or "$" for new events only, got ${JSON.stringify(sinceQ.slice(0, 40))}`));
          return;
        }
        const wantStatus = req.getQuery('statuses') !== '0';
        const data: ConnData = {
          t,
          tenant: t.id,
          unacked: 0,
          since: sinceQ === undefined || sinceQ === '' ? undefined : sinceQ,
          wantStatus,
          ws: undefined,
          lastEid: '0-0',
          live: false,
          closed: false,
          push: () => false,
          pushMany: () => false,
        };
        res.upgrade(data, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
      },
      open: (ws) => {
        const d = ws.getUserData();
        d.ws = ws;
        d.push = (frame: string) => {
          if (d.closed) return false;
          ws.send(frame, false);
          return ws.getBufferedAmount() < o.maxBackpressureBytes;
        };
        d.pushMany = (frames: string[]) => {
          if (d.closed) return false;
          ws.cork(() => {
            for (const f of frames) ws.send(f, false);
          });
          return ws.getBufferedAmount() < o.maxBackpressureBytes;
        };
        this.sockets.add(ws);
        this.stats.connections++;
        ws.send(`{"op":"hello","v":${HELLO_V},"tenant":"${d.tenant}","window":${d.t.window},"maxFrameBytes":${o.maxFrameBytes},"maxBatchItems":${o.maxBatchItems}}`);
        if (d.wantStatus) this.o.dispatcher.attach(d, d.since).catch(() => {
          if (!d.closed) ws.send(errorFrame('UNAVAILABLE', 'status stream unavailable; reconnect to resume'));
        });
      },
      message: (ws, message) => this.onMessage(ws, message),
      drain: (ws) => {
        const d = ws.getUserData();
        if (ws.getBufferedAmount() < o.maxBackpressureBytes) this.o.dispatcher.resume(d);
      },
      close: (ws) => {
        const d = ws.getUserData();
        d.closed = true;
        d.ws = undefined;
        this.sockets.delete(ws);
        this.stats.connections--;
        if (d.wantStatus) this.o.dispatcher.detach(d);
      },
    });
    app.post('/v1/messages', (res, req) => this.onHttpSubmit(res, req));
    this.wsOps = o.extraRoutes?.(app) ?? new Map();
    app.any('/*', (res) => sendJson(res, '404 Not Found', errorFrame('NOT_FOUND', 'no such endpoint')));
    return await new Promise<number>((ok, fail) => {
      app.listen(o.host, o.port, (token) => {
        if (!token) return fail(new Error(`cannot listen on ${o.host}:${o.port}`));
        this.listenSocket = token;
        this.port = uWS.us_socket_local_port(token);
        ok(this.port);
      });
    });
  }

  /** Stops accepting and closes every connection. */
  close(): void {
    if (this.listenSocket) uWS.us_listen_socket_close(this.listenSocket);
    this.listenSocket = undefined;
    for (const ws of [...this.sockets]) ws.end(1001, 'server shutting down');
  }

  private onMessage(ws: uWS.WebSocket<ConnData>, message: ArrayBuffer): void {
    const d = ws.getUserData();
    this.stats.framesIn++;
    if (message.byteLength > this.o.maxFrameBytes) {
      ws.send(errorFrame('FRAME_TOO_LARGE', `frame of ${message.byteLength} bytes exceeds the limit of ${this.o.maxFrameBytes} bytes; nothing in it was accepted`));
      return;
    }
    let frame: unknown;
    try {
      frame = JSON.parse(Buffer.from(message).toString('utf8'));
    } catch (err) {
      ws.send(errorFrame('BAD_FRAME', `frame is not valid JSON: ${(err as Error).message}`));
      return;
    }
    if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) {
      ws.send(errorFrame('BAD_FRAME', 'frame must be a JSON object with an "op" field'));
      return;
    }
    const f = frame as Record<string, unknown>;
    switch (f.op) {
      case 'submit': {
        const t0 = performance.now();
        this.submitOne(d, f, (out) => {
          this.recordAck(performance.now() - t0);
          if (!d.closed) ws.send(out);
        });
        return;
      }
      case 'batch':
        this.runBatch(d, d.t, f, (frame) => !d.closed && ws.send(frame));
        return;
      case 'cancel':
        this.onCancel(d.t.id, f, (r) => !d.closed && ws.send(r.frame));
        return;
      case 'ping':
        ws.send(`{"op":"pong"${typeof f.ref === 'string' ? `,"ref":${JSON.stringify(f.ref)}` : ''}}`);
        return;
      default: {
        const op = typeof f.op === 'string' ? this.wsOps.get(f.op) : undefined;
        if (op !== undefined) {
          // A feature op counts against the tenant's rate like a submit.
          if (!d.t.bucket.tryTake(1)) ws.send(errorFrame('THROTTLED', 'tenant rate limit reached; retry later', `,"ref":${JSON.stringify(typeof f.ref === 'string' ? f.ref : '')}`));
          else op(d.t.id, f, (out) => !d.closed && ws.send(out));
          return;
        }
        ws.send(errorFrame('UNKNOWN_OP', `unknown op ${JSON.stringify(f.op ?? null)}; expected submit, batch, cancel, ping${[...this.wsOps.keys()].map((k) => ', ' + k).join('')}`));
      }
    }
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
  private submitOne(d: { t: TenantRuntime; unacked: number } | undefined, f: Record<string, unknown>, done: (frame: string) => void, tenant?: TenantRuntime): void {
    const t = (d?.t ?? tenant) as TenantRuntime;
    const refusal = (r: Refusal) => {
      this.countRefused(t.id, r.code);
      done(nackFrame(f.ref, r));
    };
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

  private acceptAndEnqueue(d: { unacked: number } | undefined, t: TenantRuntime, f: Record<string, unknown>, fields: SubmitFields, done: (frame: string) => void): void {
    const now = this.o.clock.now();
    const m = acceptMessage(this.o.accept, t.id, fields, Math.floor(now), t.accept);
    if (isRefusal(m as Refusal)) {
      if (d !== undefined) d.unacked--;
      this.countRefused(t.id, (m as Refusal).code);
      return done(nackFrame(f.ref, m as Refusal));
    }
    const quota = this.o.quota;
    if (quota !== undefined && !quota.tryTake(t.id)) {
      if (d !== undefined) d.unacked--;
      this.countRefused(t.id, 'QUOTA_EXCEEDED');
      return done(nackFrame(f.ref, { code: 'QUOTA_EXCEEDED', error: `daily quota of ${quota.quotaOf(t.id)} messages reached; it resets at 00:00 UTC` }));
    }
    const msg = m as Exclude<typeof m, Refusal>;
    this.o.batcher.add(msg, (err, disposition) => {
      if (d !== undefined) d.unacked--;
      if (err) {
        quota?.giveBack(t.id);
        // redis.waitReplicas: the primary has it, too few replicas confirmed it in time (queue/redis-store.ts).
        if ((err as { code?: string }).code === 'REPLICATION_TIMEOUT') {
          this.countRefused(t.id, 'REPLICATION_TIMEOUT');
          done(nackFrame(f.ref, { code: 'REPLICATION_TIMEOUT', error: `message ${msg.id} ${err.message}` }));
          return;
        }
        this.countRefused(t.id, 'UNAVAILABLE');
        done(nackFrame(f.ref, { code: 'UNAVAILABLE', error: 'the queue is unavailable; the message was not accepted, retry' }));
        return;
      }
      // A message stopped at once (its number opted out) is never sent: it does not use the daily quota.
      if (disposition === 'stopped') quota?.giveBack(t.id);
      this.stats.accepted++;
      this.o.observer?.accepted(t.id);
      done(`{"op":"ack","ref":${JSON.stringify(fields.ref)},"id":"${msg.id}","status":"${disposition ?? 'queued'}","parts":${msg.parts.length},"encoding":"${msg.encoding ?? ''}","price":${msg.price ?? 0},"currency":"${msg.currency ?? ''}"}`);
    });
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
    const bref = typeof f.ref === 'string' ? f.ref : '';
    const refOf = `,"ref":${JSON.stringify(bref)}`;
    if (!Array.isArray(items) || items.length === 0) return send(errorFrame('BAD_FRAME', '"items" must be a non-empty array of submits', refOf));
    if (items.length > this.o.maxBatchItems)
      return send(errorFrame('BAD_FRAME', `a batch may hold at most ${this.o.maxBatchItems} items, got ${items.length}; nothing in it was accepted`, refOf));
    if (common !== undefined && (common === null || typeof common !== 'object' || Array.isArray(common)))
      return send(errorFrame('BAD_FRAME', '"common" must be an object of submit fields shared by every item', refOf));
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
    const ref = typeof f.ref === 'string' ? f.ref : '';
    const id = f.id;
    if (typeof id !== 'string' || !/^[0-9a-z]{1,40}$/.test(id))
      return done(cancelReply(ref, typeof id === 'string' ? id : '', { code: 'INVALID_FIELD', error: '"id" must be the id of a message (from its ack)' }));
    if (this.o.cancel === undefined) return done(cancelReply(ref, id, { code: 'UNAVAILABLE', error: 'cancelling is not available on this engine' }));
    this.o.cancel(tenant, id, ref, done);
  }

  private onHttpSubmit(res: uWS.HttpResponse, req: uWS.HttpRequest): void {
    const t = this.auth.tenant(res, req);
    if (t === undefined) return;
    readJsonBody(res, this.o.maxFrameBytes, (body, alive) => {
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        if (alive()) sendJson(res, '400 Bad Request', errorFrame('BAD_FRAME', 'body must be a JSON object (a submit, or a batch: {"items": [...], "common": {...}})'));
        return;
      }
      const b = body as Record<string, unknown>;
      if ('items' in b) {
        // A batch: 200 with a result per item (each an ack or a nack), or 400 when the batch itself is malformed.
        this.runBatch(undefined, t, b, (frame) => alive() && sendJson(res, frame.startsWith('{"op":"batch_ack"') ? '200 OK' : '400 Bad Request', frame));
        return;
      }
      this.submitOne(undefined, b, (frame) => {
        if (!alive()) return;
        const ok = frame.startsWith('{"op":"ack"');
        const code = ok
          ? '202 Accepted'
          : frame.includes('"THROTTLED"') ? '429 Too Many Requests'
            : frame.includes('"QUOTA_EXCEEDED"') ? '429 Too Many Requests'
              : frame.includes('"SENDER_NOT_ALLOWED"') ? '403 Forbidden'
                : frame.includes('"UNAVAILABLE"') || frame.includes('"REPLICATION_TIMEOUT"') ? '503 Service Unavailable' : '400 Bad Request';
        sendJson(res, code, frame);
      }, t);
    });
  }
}
