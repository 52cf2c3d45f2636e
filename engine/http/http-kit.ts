/**
 * What every HTTP endpoint on the uWebSockets.js server needs, in one place:
 * JSON replies, bounded JSON bodies, API-key authentication (tenant or admin)
 * and the abort guard uWS requires around asynchronous answers.
 *
 * uWS rules these helpers encode: a response must be written inside `cork`,
 * an async answer must register `onAborted` first and never touch an aborted
 * response, and the request object is only valid synchronously (read headers,
 * parameters and the query before any await).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type uWS from 'uWebSockets.js';
import type { ErrorCode } from '../errors.js';

/** Writes a JSON reply (status like "200 OK"). */
export function sendJson(res: uWS.HttpResponse, status: string, body: unknown): void {
  res.cork(() => res.writeStatus(status).writeHeader('content-type', 'application/json').end(typeof body === 'string' ? body : JSON.stringify(body)));
}

/** The error body of every endpoint: {"op":"error","code":…,"error":…}. */
export function errorBody(code: ErrorCode, error: string, extra = ''): string {
  return `{"op":"error","code":"${code}","error":${JSON.stringify(error)}${extra}}`;
}

const STATUS_OF: Partial<Record<ErrorCode, string>> = {
  UNAUTHORIZED: '401 Unauthorized',
  NOT_FOUND: '404 Not Found',
  FRAME_TOO_LARGE: '413 Payload Too Large',
  THROTTLED: '429 Too Many Requests',
  UNAVAILABLE: '503 Service Unavailable',
  REPLICATION_TIMEOUT: '503 Service Unavailable',
};

/** Replies with an error body and the HTTP status that fits its code (400 by default). */
export function sendError(res: uWS.HttpResponse, code: ErrorCode, error: string, status?: string): void {
  sendJson(res, status ?? STATUS_OF[code] ?? '400 Bad Request', errorBody(code, error));
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
 * the response may still be written.
 */
export function readJsonBody(res: uWS.HttpResponse, maxBytes: number, done: (body: unknown, alive: () => boolean) => void): void {
  const g = guard(res);
  const chunks: Buffer[] = [];
  let size = 0;
  let refused = false;
  res.onData((chunk, isLast) => {
    if (refused) return;
    size += chunk.byteLength;
    if (size > maxBytes) {
      refused = true;
      if (g.alive()) sendError(res, 'FRAME_TOO_LARGE', `body exceeds ${maxBytes} bytes`);
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
      return;
    }
    done(body, g.alive);
  });
}

export interface AuthTenant {
  readonly id: string;
  readonly apiKey: string;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/**
 * API keys → tenants, and the admin key. Keys are compared by their SHA-256
 * (a map lookup on the digest: no early-exit comparison of the secret itself).
 */
export class ApiAuth<T extends AuthTenant> {
  private readonly byKeyHash = new Map<string, T>();
  private readonly adminHash: Buffer | undefined;

  constructor(tenants: ReadonlyArray<T>, adminKey: string | undefined) {
    for (const t of tenants) this.byKeyHash.set(sha256(t.apiKey).toString('hex'), t);
    this.adminHash = adminKey === undefined || adminKey === '' ? undefined : sha256(adminKey);
  }

  /**
   * The key a request carries: `Authorization: Bearer KEY`, else a WebSocket
   * subprotocol `switchyard.key.KEY` (how a browser, which cannot set headers
   * on a WebSocket, sends it without putting it in the URL), else `?key=KEY`.
   * Read synchronously.
   */
  static keyOf(req: uWS.HttpRequest): string {
    const auth = req.getHeader('authorization');
    const key = auth.startsWith('Bearer ') ? auth.slice(7).trim() : '';
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

  /** The tenant of a key, or undefined. */
  tenantOfKey(key: string): T | undefined {
    return key === '' ? undefined : this.byKeyHash.get(sha256(key).toString('hex'));
  }

  /** The request's tenant; answers 401 and returns undefined when the key is missing or unknown. */
  tenant(res: uWS.HttpResponse, req: uWS.HttpRequest): T | undefined {
    const key = ApiAuth.keyOf(req);
    const t = this.tenantOfKey(key);
    if (t === undefined) sendError(res, 'UNAUTHORIZED', key === '' ? 'an API key is required (Authorization: Bearer KEY or ?key=KEY)' : 'unknown API key');
    return t;
  }

  /** True when the request carries the admin key (SWITCHYARD_ADMIN_KEY). */
  isAdmin(req: uWS.HttpRequest): boolean {
    if (this.adminHash === undefined) return false;
    return timingSafeEqual(sha256(ApiAuth.keyOf(req)), this.adminHash);
  }

  /** Answers 401 unless the request carries the admin key; returns whether it does. */
  admin(res: uWS.HttpResponse, req: uWS.HttpRequest): boolean {
    if (this.isAdmin(req)) return true;
    sendError(res, 'UNAUTHORIZED', 'admin key required (SWITCHYARD_ADMIN_KEY)');
    return false;
  }
}
