/**
 * What every HTTP endpoint on the uWebSockets.js server needs, in one place:
 * JSON replies, the one HTTP error body (`sendError`: {code, message, details,
 * docs} under the status errors.ts HTTP_STATUS gives the code, Retry-After on
 * every 429 and 503), bounded JSON bodies, API-key authentication (tenant or
 * admin) and the abort guard uWS requires around asynchronous answers.
 *
 * uWS rules these helpers encode: a response must be written inside `cork`,
 * an async answer must register `onAborted` first and never touch an aborted
 * response, and the request object is only valid synchronously (read headers,
 * parameters and the query before any await).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type uWS from 'uWebSockets.js';
import { docsOf, HTTP_STATUS, type ErrorCode } from '../errors.js';

/** Retry-After (seconds) of a 429 or 503 whose cause names no better value. */
export const DEFAULT_RETRY_AFTER_SEC = 1;

/**
 * Writes a JSON reply (status like "200 OK"). `nosniff`: a browser never
 * reads an error body that echoes input (`no tenant "<script>…"`) as
 * anything but JSON. Every 429 and 503 carries Retry-After (seconds):
 * `retryAfterSec` when the caller knows it (a limiter, a quota's reset),
 * else DEFAULT_RETRY_AFTER_SEC, so no such answer can go out without one.
 */
export function sendJson(res: uWS.HttpResponse, status: string, body: unknown, retryAfterSec?: number): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const retry = status.startsWith('429') || status.startsWith('503') ? String(Math.max(1, Math.ceil(retryAfterSec ?? DEFAULT_RETRY_AFTER_SEC))) : undefined;
  res.cork(() => {
    res.writeStatus(status).writeHeader('content-type', 'application/json').writeHeader('x-content-type-options', 'nosniff');
    if (retry !== undefined) res.writeHeader('retry-after', retry);
    res.end(text);
  });
}

/**
 * decodeURIComponent without the throw: undefined for a malformed
 * percent-escape or bad UTF-8 (`%`, `%E0%A4%A`), which the caller answers 400.
 */
export function decodeParam(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/**
 * The WebSocket error frame: {"op":"error","code":…,"error":…} plus `extra`
 * (e.g. `,"ref":"…"`), README "WebSocket protocol". HTTP answers use
 * httpErrorBody instead.
 */
export function errorFrame(code: ErrorCode, error: string, extra = ''): string {
  return `{"op":"error","code":"${code}","error":${JSON.stringify(error)}${extra}}`;
}

/** What an HTTP error may say beyond its code and message (README "HTTP API", "Errors"). */
export type ErrorDetails = Readonly<Record<string, unknown>>;

/**
 * The one error body of every HTTP answer: {"code","message","details","docs"}.
 * `details` is an object (empty when there is nothing to add: a nack's
 * `ref`, a cancel's `id` and `status`, `retryAfterSec`, ...); `docs` is
 * the code's row in README.md "Error codes" (errors.ts docsOf).
 */
export function httpErrorBody(code: ErrorCode, message: string, details: ErrorDetails = {}): string {
  return `{"code":"${code}","message":${JSON.stringify(message)},"details":${JSON.stringify(details)},"docs":"${docsOf(code)}"}`;
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: 'OK', 202: 'Accepted', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict',
  413: 'Payload Too Large', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable',
};

/** "404 Not Found" for 404: the status line uWS wants. */
export function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? ''}`.trimEnd();
}

/** The status line of a code's HTTP answer (errors.ts HTTP_STATUS; a code that never answers HTTP is a bug there: 500). */
export function statusOf(code: ErrorCode): string {
  return statusLine(HTTP_STATUS[code] || 500);
}

export interface ErrorOptions {
  readonly details?: ErrorDetails;
  /** Retry-After in seconds (429 and 503 only); default DEFAULT_RETRY_AFTER_SEC. Also given as details.retryAfterSec. */
  readonly retryAfterSec?: number;
}

/**
 * Replies with the HTTP error body, under the status errors.ts HTTP_STATUS
 * gives the code (no caller picks a status), with Retry-After on 429 and 503.
 */
export function sendError(res: uWS.HttpResponse, code: ErrorCode, message: string, o: ErrorOptions = {}): void {
  const status = statusOf(code);
  const retry = status.startsWith('429') || status.startsWith('503') ? Math.max(1, Math.ceil(o.retryAfterSec ?? DEFAULT_RETRY_AFTER_SEC)) : undefined;
  const details = retry === undefined ? o.details : { ...o.details, retryAfterSec: retry };
  sendJson(res, status, httpErrorBody(code, message, details), retry);
}

/**
 * Marks a response as answered asynchronously; `alive()` is false once the
 * client went away (then nothing may be written).
 */
export function guard(res: uWS.HttpResponse): { alive: () => boolean } {
  let aborted = false;
  res.onAborted(() => (aborted = true));
  return { alive: () => !aborted };
}

/**
 * Reads a JSON body of at most `maxBytes` and calls `done` with the parsed
 * value. Oversize, unreadable or non-JSON bodies are answered here (413 / 400)
 * and `done` is not called. Registers onAborted itself: `alive()` tells whether
 * the response may still be written. The promise settles when `done` has (it
 * rejects with what `done` threw or rejected with): route handlers return it,
 * so that the route guard (guarded-app.ts) answers and logs such a failure
 * instead of it escaping from uWS's data callback and ending the process.
 */
export function readJsonBody(res: uWS.HttpResponse, maxBytes: number, done: (body: unknown, alive: () => boolean) => void | Promise<unknown>): Promise<void> {
  const g = guard(res);
  const chunks: Buffer[] = [];
  let size = 0;
  let refused = false;
  return new Promise<void>((ok, fail) => {
    res.onData((chunk, isLast) => {
      if (refused) return;
      size += chunk.byteLength;
      if (size > maxBytes) {
        refused = true;
        if (g.alive()) sendError(res, 'FRAME_TOO_LARGE', `body exceeds ${maxBytes} bytes`);
        ok();
        return;
      }
      // uWS reuses the chunk's memory after this callback: copy it.
      chunks.push(Buffer.from(chunk.slice(0)));
      if (!isLast) return;
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (err) {
        if (g.alive()) sendError(res, 'BAD_FRAME', `body is not valid JSON: ${(err as Error).message}`);
        ok();
        return;
      }
      try {
        const out = done(body, g.alive);
        if (out !== undefined && typeof (out as Promise<unknown>).then === 'function') (out as Promise<unknown>).then(() => ok(), fail);
        else ok();
      } catch (err) {
        fail(err);
      }
    });
  });
}

export interface AuthTenant {
  readonly id: string;
  /** A suspended tenant's requests are refused 403 TENANT_SUSPENDED (engine/tenants/). */
  readonly suspended?: boolean;
}

/** What a key hash leads to: its tenant, when it stops (epoch ms, 0 never) and its public id. */
export interface AuthKey<T> {
  readonly t: T;
  readonly expiresAt: number;
  readonly id: string;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/**
 * A check of a presented secret against `secret` in constant time: both are
 * hashed (SHA-256) and the digests compared with timingSafeEqual, so neither
 * the length nor a common prefix shows in the time taken. `undefined` or ''
 * as the secret: nothing matches.
 */
export function secretCheck(secret: string | undefined): (presented: string) => boolean {
  if (secret === undefined || secret === '') return () => false;
  const digest = sha256(secret);
  return (presented) => timingSafeEqual(sha256(presented), digest);
}

/** The token of `Authorization: Bearer TOKEN` ('' without one). Read synchronously. */
export function bearerOf(req: uWS.HttpRequest): string {
  const auth = req.getHeader('authorization');
  return auth.startsWith('Bearer ') ? auth.slice(7).trim() : '';
}

/**
 * API keys → tenants, and the admin key. Keys are compared by their SHA-256
 * (a map lookup on the digest: no early-exit comparison of the secret itself).
 * The map is replaced whole when the tenant directory changes (setKeys): a
 * lookup is one SHA-256 of the presented key (~1 µs) and one Map hit, plus an
 * expiry comparison; it runs per HTTP request and per WebSocket upgrade, not
 * per frame.
 */
export class ApiAuth<T extends AuthTenant> {
  private byKeyHash = new Map<string, AuthKey<T>>();
  private readonly adminCheck: (presented: string) => boolean;

  /** `tenants` with a plain `apiKey` are added as keys that never expire (tests, a directory-less ingress). */
  constructor(tenants: ReadonlyArray<T & { readonly apiKey?: string }>, adminKey: string | undefined) {
    for (const t of tenants) if (t.apiKey !== undefined) this.byKeyHash.set(sha256(t.apiKey).toString('hex'), { t, expiresAt: 0, id: 'config' });
    this.adminCheck = secretCheck(adminKey);
  }

  /** Replaces every key: SHA-256 hex -> its tenant, expiry and id. */
  setKeys(keys: Map<string, AuthKey<T>>): void {
    this.byKeyHash = keys;
  }

  /** The entry of a key hash while it is valid (known and not expired at `now`). */
  validHash(hash: string, now = Date.now()): AuthKey<T> | undefined {
    const e = this.byKeyHash.get(hash);
    return e === undefined || (e.expiresAt > 0 && now >= e.expiresAt) ? undefined : e;
  }

  /** SHA-256 hex of a presented key. */
  static hashOf(key: string): string {
    return sha256(key).toString('hex');
  }

  /**
   * The key a request carries: `Authorization: Bearer KEY`, else a WebSocket
   * subprotocol `switchyard.key.KEY` (how a browser, which cannot set headers
   * on a WebSocket, sends it without putting it in the URL), else `?key=KEY`.
   * Read synchronously.
   */
  static keyOf(req: uWS.HttpRequest): string {
    const key = bearerOf(req);
    if (key !== '') return key;
    const proto = req.getHeader('sec-websocket-protocol');
    if (proto !== '') {
      for (const p of proto.split(',')) {
        const t = p.trim();
        if (t.startsWith('switchyard.key.')) return t.slice(15);
      }
    }
    return req.getQuery('key') ?? '';
  }

  /** The tenant of a key (valid, not expired), or undefined. */
  tenantOfKey(key: string): T | undefined {
    return key === '' ? undefined : this.validHash(sha256(key).toString('hex'))?.t;
  }

  /**
   * The request's tenant and key hash; answers 401 (key missing, unknown,
   * revoked or expired) or 403 TENANT_SUSPENDED and returns undefined otherwise.
   */
  authenticate(res: uWS.HttpResponse, req: uWS.HttpRequest): { t: T; hash: string } | undefined {
    const key = ApiAuth.keyOf(req);
    if (key === '') {
      sendError(res, 'UNAUTHORIZED', 'an API key is required (Authorization: Bearer KEY or ?key=KEY)');
      return undefined;
    }
    const hash = sha256(key).toString('hex');
    const now = Date.now();
    const e = this.byKeyHash.get(hash);
    if (e === undefined || (e.expiresAt > 0 && now >= e.expiresAt)) {
      sendError(res, 'UNAUTHORIZED', e === undefined ? 'unknown API key' : 'this API key expired');
      return undefined;
    }
    if (e.t.suspended === true) {
      sendError(res, 'TENANT_SUSPENDED', `tenant ${e.t.id} is suspended; ask the operator`);
      return undefined;
    }
    return { t: e.t, hash };
  }

  /** The request's tenant; answers 401 / 403 and returns undefined when the key is missing, unknown, expired or its tenant suspended. */
  tenant(res: uWS.HttpResponse, req: uWS.HttpRequest): T | undefined {
    return this.authenticate(res, req)?.t;
  }

  /** True when the request carries the admin key (SWITCHYARD_ADMIN_KEY). */
  isAdmin(req: uWS.HttpRequest): boolean {
    return this.adminCheck(ApiAuth.keyOf(req));
  }

  /** Answers 401 unless the request carries the admin key; returns whether it does. */
  admin(res: uWS.HttpResponse, req: uWS.HttpRequest): boolean {
    if (this.isAdmin(req)) return true;
    sendError(res, 'UNAUTHORIZED', 'admin key required (SWITCHYARD_ADMIN_KEY)');
    return false;
  }
}
