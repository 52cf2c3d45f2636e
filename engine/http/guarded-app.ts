/**
 * One guard around every HTTP route of the engine's uWebSockets.js app.
 *
 * uWS runs route handlers straight from its native event loop: an exception
 * thrown in one (a `URIError` from `decodeURIComponent` on `GET
 * /v1/optouts/%`, issue 11) is not caught by anything and ends the process,
 * and a handler that returns without answering or attaching an abort handler
 * makes uWS terminate it. `guardedApp` wraps the app's route-registration
 * methods once, so no route can be registered unguarded:
 *
 *   app.get/post/put/del/patch/options/any/connect/trace(pattern, handler)
 *     ─▶ recorded in `routes` (method + pattern: the fuzz test and API docs enumerate them)
 *     ─▶ uWS gets guard(handler):
 *          · an abort handler is attached first (the handler's own replaces it), so an
 *            async handler can never make uWS terminate the process
 *          · a duplicate Content-Length is refused: 400, connection closed (uWS takes the
 *            first value; the rest of the body would be read as the next request)
 *          · HEAD: the handler runs with a response that sends headers and Content-Length,
 *            never a body (every GET pattern is also registered for HEAD)
 *          · a synchronous throw or a rejected returned promise is answered 400
 *            BAD_REQUEST (URIError: undecodable percent-escapes) or 500 INTERNAL with the
 *            project's error body — unless the response was already answered or aborted
 *            (uWS throws on a finished response; that is caught), or body bytes went out
 *            (then the connection is cut: a half-sent body cannot become an error) —
 *            and logged, at most `logBurst` lines per `logWindowMs` (a flood of bad
 *            requests must not become a flood of log lines)
 *   app.ws(pattern, behavior) ─▶ recorded; its `upgrade` (an HTTP request) gets the same guard.
 *
 * A handler's promise is caught only if the handler returns it: route
 * modules return their promise chains for that reason. A handler that wrote
 * a status but no body before throwing gets the error body under that
 * status (uWS ignores a second status line); none of ours do.
 */
import type uWS from 'uWebSockets.js';
import type { LogFn } from '../log.js';
import { httpErrorBody, sendError, statusOf } from './http-kit.js';

export type RouteMethod = 'get' | 'post' | 'put' | 'del' | 'patch' | 'options' | 'head' | 'any' | 'connect' | 'trace' | 'ws';

export interface RouteRecord {
  readonly method: RouteMethod;
  readonly pattern: string;
}

export interface GuardOptions {
  readonly log: LogFn;
  /** Log lines about failed requests per window; the rest are counted and summarised (default 10). */
  readonly logBurst?: number;
  /** The log window (ms, default 60,000). */
  readonly logWindowMs?: number;
  /** ms clock for the log window (tests). */
  readonly now?: () => number;
}

export interface GuardStats {
  /** Handlers that threw or rejected. */
  failures: number;
  /** Requests refused for a duplicate Content-Length. */
  duplicateContentLength: number;
}

export interface GuardedApp {
  readonly app: uWS.TemplatedApp;
  /** Every method + pattern registered so far, in order (GET patterns appear as get and head). */
  readonly routes: ReadonlyArray<RouteRecord>;
  readonly stats: GuardStats;
}

type Handler = (res: uWS.HttpResponse, req: uWS.HttpRequest) => void | Promise<void>;

/**
 * At most `burst` lines per window; the first line of a later window says how
 * many were left out. Pure (injected clock) so that it is tested without a server.
 */
export class LogLimiter {
  private windowStart = -Infinity;
  private inWindow = 0;
  private suppressed = 0;

  constructor(
    private readonly log: LogFn,
    private readonly burst = 10,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  warn(msg: string): void {
    const t = this.now();
    if (t - this.windowStart >= this.windowMs) {
      if (this.suppressed > 0) this.log('warn', `${this.suppressed} more such line(s) left out in the last ${Math.round((t - this.windowStart) / 1000)} s`);
      this.windowStart = t;
      this.inWindow = 0;
      this.suppressed = 0;
    }
    if (this.inWindow < this.burst) {
      this.inWindow++;
      this.log('warn', msg);
    } else this.suppressed++;
  }
}

function byteLength(x: uWS.RecognizedString): number {
  return typeof x === 'string' ? Buffer.byteLength(x) : x.byteLength;
}

/**
 * The response a HEAD request's handler writes to: everything passes through
 * except the body, whose length becomes the Content-Length header. Streamed
 * writes are counted and dropped (they report success: nothing waits for a
 * drain). uWS's `endWithoutBody(length)` is broken in this build (it does not
 * finish the response); a Content-Length header plus `endWithoutBody()` is not.
 */
function headOnly(res: uWS.HttpResponse): uWS.HttpResponse {
  let length = 0;
  const finish = (total: number) => res.writeHeader('content-length', String(total)).endWithoutBody();
  const proxy: uWS.HttpResponse = new Proxy(res, {
    get(target, prop) {
      if (prop === 'write')
        return (chunk: uWS.RecognizedString) => {
          length += byteLength(chunk);
          return true;
        };
      if (prop === 'end')
        return (body?: uWS.RecognizedString) => {
          finish(length + (body === undefined ? 0 : byteLength(body)));
          return proxy;
        };
      if (prop === 'tryEnd')
        return (_chunk: uWS.RecognizedString, total: number) => {
          finish(total);
          return [true, true];
        };
      const v: unknown = Reflect.get(target, prop, target);
      if (typeof v !== 'function') return v;
      // uWS's methods return the native response for chaining; chain on the proxy instead.
      return (...args: unknown[]) => {
        const out: unknown = (v as (...a: unknown[]) => unknown).apply(target, args);
        return out === target ? proxy : out;
      };
    },
  });
  return proxy;
}

function duplicateContentLength(req: uWS.HttpRequest): boolean {
  let n = 0;
  req.forEach((k) => {
    if (k === 'content-length') n++;
  });
  return n > 1;
}

const noop = (): void => undefined;

/** Wraps `app`'s route registration (once); returns the app with the list of its routes. */
export function guardedApp(app: uWS.TemplatedApp, o: GuardOptions): GuardedApp {
  const routes: RouteRecord[] = [];
  const stats: GuardStats = { failures: 0, duplicateContentLength: 0 };
  const limiter = new LogLimiter(o.log, o.logBurst ?? 10, o.logWindowMs ?? 60_000, o.now ?? Date.now);

  const fail = (res: uWS.HttpResponse, where: string, err: unknown) => {
    stats.failures++;
    const e = err instanceof Error ? err : new Error(String(err));
    const bad = e instanceof URIError;
    const frame = /\n\s+at (.{0,160})/.exec(e.stack ?? '')?.[1] ?? '';
    limiter.warn(`http ${where}: handler ${bad ? 'refused undecodable input' : 'failed'}: ${e.name}: ${e.message.slice(0, 200)}${frame === '' ? '' : ` (at ${frame})`}`);
    try {
      // Body bytes already went out: an error body would corrupt them; cut the connection instead.
      if (res.getWriteOffset() > 0) {
        res.close();
        return;
      }
      if (bad) sendError(res, 'BAD_REQUEST', 'the request could not be decoded: a malformed percent-escape or bad UTF-8 in its path or query');
      else sendError(res, 'INTERNAL', 'the engine failed while answering this request; it was logged');
    } catch {
      // Already answered, or the client went away (uWS throws on a finished or aborted response).
    }
  };

  /**
   * "GET /path" for the log: the path only (the query may hold ?key=), bounded, control characters
   * escaped, and long digit runs cut (a path may hold a phone number: /v1/optouts/+4791234567).
   */
  const describe = (req: uWS.HttpRequest) => `${req.getMethod().toUpperCase()} ${JSON.stringify(req.getUrl().slice(0, 200).replace(/(\d{4})\d{2,}/g, '$1…'))}`;

  const guard = (handler: Handler): Handler => (res, req) => {
    res.onAborted(noop);
    if (req.getHeader('content-length') !== '' && duplicateContentLength(req)) {
      stats.duplicateContentLength++;
      res.cork(() =>
        res
          .writeStatus(statusOf('BAD_REQUEST'))
          .writeHeader('content-type', 'application/json')
          .end(httpErrorBody('BAD_REQUEST', 'more than one Content-Length header: the body cannot be delimited; the connection is closed'), true),
      );
      return;
    }
    const r = req.getMethod() === 'head' ? headOnly(res) : res;
    try {
      const out = handler(r, req);
      if (out !== undefined && typeof (out as Promise<void>).then === 'function') {
        const where = describe(req);
        (out as Promise<void>).then(undefined, (err: unknown) => fail(r, where, err));
      }
    } catch (err) {
      fail(r, describe(req), err);
    }
  };

  type Register = (pattern: uWS.RecognizedString, handler: Handler) => uWS.TemplatedApp;
  const methods = ['get', 'post', 'put', 'del', 'patch', 'options', 'head', 'any', 'connect', 'trace'] as const;
  const target = app as unknown as Record<string, Register>;
  const original = new Map<string, Register>(methods.map((m) => [m, (target[m] as Register).bind(app)]));
  for (const m of methods) {
    const register = original.get(m) as Register;
    target[m] = (pattern, handler) => {
      const p = String(pattern);
      const g = guard(handler);
      routes.push({ method: m, pattern: p });
      register(p, g);
      if (m === 'get') {
        routes.push({ method: 'head', pattern: p });
        (original.get('head') as Register)(p, g);
      }
      return app;
    };
  }
  const ws = app.ws.bind(app);
  (app as { ws: uWS.TemplatedApp['ws'] }).ws = <T>(pattern: uWS.RecognizedString, behavior: uWS.WebSocketBehavior<T>) => {
    routes.push({ method: 'ws', pattern: String(pattern) });
    const upgrade = behavior.upgrade;
    if (upgrade === undefined) return ws(pattern, behavior);
    // The upgrade's socket context is an argument of its own: one guarded closure per upgrade (rare next to frames).
    return ws(pattern, { ...behavior, upgrade: (res, req, context) => void guard((r, q) => upgrade(r, q, context))(res, req) });
  };
  return { app, routes, stats };
}
