/**
 * One signed webhook POST with Node's built-in fetch (undici), which keeps
 * connections alive and pools them per origin (a tenant has at most one POST
 * in flight, so one connection per tenant in steady state). Redirects are not
 * followed (a 3xx is an answer: refused, see retry-policy.ts); the response
 * body is discarded unread so the connection goes back to the pool. Never
 * throws: every failure is an AttemptResult.
 */
import { classifyStatus, retryAfterMs, type AttemptResult } from './retry-policy.js';
import { SIGNATURE_HEADER, signWebhook, TIMESTAMP_HEADER } from './webhook-signature.js';

export interface PostOutcome {
  readonly result: AttemptResult;
  /** HTTP status when the receiver answered. */
  readonly status?: number;
  /** From a Retry-After header (ms). */
  readonly retryAfterMs?: number;
  /** What went wrong, for logs and the admin view (no secrets, no body). */
  readonly error?: string;
}

export interface PostRequest {
  readonly url: string;
  readonly tenant: string;
  readonly secret: string;
  readonly body: string;
  readonly attempt: number;
  readonly timeoutMs: number;
  /** Aborts the POST when the dispatcher stops. */
  readonly stop: AbortSignal;
  readonly now: number;
}

export type Poster = (r: PostRequest) => Promise<PostOutcome>;

const USER_AGENT = 'switchyard-webhooks/1';
/** Most response bytes read (and thrown away); past it the connection is dropped instead of reused. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/** Reads the response body to its end so undici can reuse the connection (cancelling it closes the socket). */
async function discard(res: Response): Promise<void> {
  if (res.body === null) return;
  const reader = res.body.getReader();
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      n += value.byteLength;
      if (n > MAX_RESPONSE_BYTES) {
        await reader.cancel();
        return;
      }
    }
  } catch {
    // The receiver closed mid-body: its answer (the status) stands.
  }
}

export const postWebhook: Poster = async (r) => {
  const body = Buffer.from(r.body, 'utf8');
  const ts = Math.floor(r.now / 1000);
  const timeout = AbortSignal.timeout(r.timeoutMs);
  try {
    const res = await fetch(r.url, {
      method: 'POST',
      body,
      redirect: 'manual',
      signal: AbortSignal.any([timeout, r.stop]),
      headers: {
        'content-type': 'application/json',
        'user-agent': USER_AGENT,
        [TIMESTAMP_HEADER]: String(ts),
        [SIGNATURE_HEADER]: signWebhook(r.secret, ts, body),
        'x-switchyard-tenant': r.tenant,
        'x-switchyard-attempt': String(r.attempt),
      },
    });
    await discard(res);
    const result = classifyStatus(res.status);
    return result === 'ok' ? { result, status: res.status } : { result, status: res.status, retryAfterMs: retryAfterMs(res.headers.get('retry-after'), r.now), error: `HTTP ${res.status}` };
  } catch (err) {
    if (timeout.aborted) return { result: 'timeout', error: `no answer within ${r.timeoutMs} ms` };
    const e = err as Error & { cause?: { code?: string; message?: string } };
    return { result: 'network', error: e.cause?.code ?? e.cause?.message ?? e.message };
  }
};
