/**
 * Cancels gathered over one event-loop tick go to Redis in one script call
 * (queue/lua/cancel.lua), like enqueues (enqueue-batcher.ts): a client cancelling a
 * campaign's thousands of scheduled messages costs a few calls, not thousands.
 */
import type { ErrorCode } from '../errors.js';
import type { CancelResult, LifecycleStore } from '../queue/lifecycle-store.js';

export type CancelCallback = (err: Error | null, r?: CancelResult) => void;

const MAX_BATCH = 1_000;

export class CancelBatcher {
  private items: Array<{ tenant: string; id: string }> = [];
  private cbs: CancelCallback[] = [];
  private scheduled = false;
  /** Results so far (metrics). */
  readonly counts: Record<CancelResult['code'], number> = { stopped: 0, not_cancellable: 0, not_found: 0 };

  constructor(
    private readonly store: LifecycleStore,
    private readonly now: () => number,
  ) {}

  cancel(tenant: string, id: string, cb: CancelCallback): void {
    this.items.push({ tenant, id });
    this.cbs.push(cb);
    if (this.items.length >= MAX_BATCH) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.items.length === 0) return;
    const items = this.items;
    const cbs = this.cbs;
    this.items = [];
    this.cbs = [];
    this.store.cancel(items, Math.floor(this.now())).then(
      (res) =>
        cbs.forEach((cb, i) => {
          const r = res[i] ?? { code: 'not_found', status: '' };
          this.counts[r.code]++;
          cb(null, r);
        }),
      (err: Error) => cbs.forEach((cb) => cb(err)),
    );
  };
}

/** The words of a refused cancel, by the message's status. */
export function notCancellableText(id: string, status: string): string {
  if (status === 'queued') return `message ${id} is already with its SMSC's sender (read from the queue); it can no longer be cancelled`;
  if (status === 'sent' || status === 'unreachable') return `message ${id} was sent (handed to the SMSC); it can no longer be cancelled`;
  if (status === 'paused') return `message ${id} was paused while queued and some of its parts may still be in its SMSC's queue; resume the tenant, or cancel it before it was paused`;
  return `message ${id} is ${status}; only scheduled, held (pending_approval), paused-at-acceptance and queued messages not yet being sent can be cancelled`;
}

/**
 * A cancel's answer: the WebSocket frame, and for a nack its code and text
 * (the HTTP answer is the error body of that code: errors.ts HTTP_STATUS).
 */
export interface CancelReply {
  readonly frame: string;
  readonly refused?: { readonly code: ErrorCode; readonly error: string; readonly status?: string };
}

/**
 * cancel_ack {"op","ref","id","status":"stopped"}, or cancel_nack with a code
 * (NOT_CANCELLABLE with the message's status, NOT_FOUND, INVALID_FIELD, UNAVAILABLE) and a text.
 */
export function cancelReply(ref: string, id: string, r: CancelResult | { readonly code: ErrorCode; readonly error: string }): CancelReply {
  const head = `"ref":${JSON.stringify(ref)},"id":${JSON.stringify(id)}`;
  const nack = (code: ErrorCode, error: string, status?: string): CancelReply => ({
    frame: `{"op":"cancel_nack",${head},"code":"${code}"${status === undefined ? '' : `,"status":${JSON.stringify(status)}`},"error":${JSON.stringify(error)}}`,
    refused: status === undefined ? { code, error } : { code, error, status },
  });
  switch (r.code) {
    case 'stopped':
      return { frame: `{"op":"cancel_ack",${head},"status":"stopped"}` };
    case 'not_cancellable':
      return nack('NOT_CANCELLABLE', notCancellableText(id, (r as CancelResult).status), (r as CancelResult).status);
    case 'not_found':
      return nack('NOT_FOUND', `no message ${id}`);
    case 'UNAVAILABLE':
      return nack('UNAVAILABLE', (r as { error: string }).error);
    default:
      return nack((r as { code: ErrorCode }).code, (r as { error: string }).error);
  }
}

/** The ingress's cancel port over a batcher. */
export function cancelPort(b: CancelBatcher): (tenant: string, id: string, ref: string, done: (r: CancelReply) => void) => void {
  return (tenant, id, ref, done) =>
    b.cancel(tenant, id, (err, r) => done(err !== null || r === undefined ? cancelReply(ref, id, { code: 'UNAVAILABLE', error: `the queue is unavailable (${err?.message ?? 'no answer'}); retry` }) : cancelReply(ref, id, r)));
}
