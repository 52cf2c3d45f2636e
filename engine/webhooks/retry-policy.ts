/**
 * What a receiver's answer means, and how long to wait before the next try.
 *
 *   2xx                    delivered
 *   408, 429, 5xx          retried (as are timeouts and connection errors)
 *   413                    the batch is halved and sent again at once (one event alone: refused)
 *   anything else          refused: 1xx, 3xx (redirects are not followed) and
 *   (3xx, other 4xx)       every other 4xx. The receiver looked at the request
 *                          and said no; the same bytes will get the same answer,
 *                          and since a tenant's events go out in order, retrying
 *                          them for a day would hold every later event back. They
 *                          go to the dead-letter list at once, where an admin sees
 *                          them and replays them once the receiver is fixed.
 *
 * Backoff: the n-th consecutive failure waits min(max, min·2^(n-1)), of which
 * the second half is random ("equal jitter": never less than half the step,
 * so a fleet of retries spreads out without hammering); a Retry-After header
 * (seconds) from a 429/503 is honoured up to the cap.
 */

export type AttemptResult = 'ok' | 'refused' | 'too_large' | 'throttled' | 'server_error' | 'timeout' | 'network';

/** The result of an HTTP status. */
export function classifyStatus(status: number): AttemptResult {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 408 || status === 429) return 'throttled';
  if (status === 413) return 'too_large';
  if (status >= 500) return 'server_error';
  return 'refused';
}

/** Delay before attempt `failures + 1` after `failures` consecutive failures (≥ 1). */
export function retryDelayMs(failures: number, backoff: { readonly min: number; readonly max: number }, random: () => number = Math.random, retryAfterMs = 0): number {
  const step = Math.min(backoff.max, backoff.min * 2 ** Math.min(failures - 1, 40));
  const delay = Math.round(step / 2 + (random() * step) / 2);
  return Math.min(backoff.max, Math.max(delay, retryAfterMs));
}

/** A Retry-After header (delay in seconds, or an HTTP date) in ms; 0 when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number): number {
  if (header === null || header === '') return 0;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const t = Date.parse(header);
  return Number.isFinite(t) ? Math.max(0, t - now) : 0;
}
