/**
 * Reassembly of a customer's concatenated submits (UDH or SAR) on this node.
 *
 * Why reassembly rather than passing parts through: the parts are billed,
 * routed and tracked as one message (one id, one status, one receipt), and the
 * accept path cuts segments itself for the SMSC the message goes to (whose
 * alphabet may differ from the customer's). Each part's submit_sm_resp waits
 * until the whole message is in Redis and then carries the message's id
 * (every part gets the same id, and a refusal of the message refuses every
 * part with the same command_status): no resp before Redis has the message.
 * Each part that asked for a receipt gets one (receipt-feed.ts), as from an
 * SMSC: Kannel asks on the first part only, others on every part.
 * The cost: the customer's window must hold all parts of a message (Kannel
 * and most ESMEs send the parts back to back without waiting), and a part
 * whose companions do not come within smppServer.concatTimeoutSec is answered
 * 0x00000045 (submit failed), so that the customer resends.
 *
 * Bounded: every held part is an unanswered submit_sm of some bind, so the
 * parts held are at most the sum of the binds' windows. Parts are kept per
 * node: parts of one message sent over binds on different engine nodes do not
 * meet (README "SMPP server").
 */
import type { Concat } from './read-short-message.js';

export interface HeldPart {
  readonly body: Buffer;
  readonly dataCoding: number;
  /** The part's registered_delivery (ESMEs such as Kannel ask a receipt on the first part only). */
  readonly registeredDelivery: number;
  readonly at: number;
  /** Answers this part's submit_sm. */
  readonly answer: (status: number, messageId: string) => void;
}

interface Assembly {
  readonly total: number;
  readonly parts: Array<HeldPart | undefined>;
  count: number;
  readonly since: number;
}

export type AddResult =
  | { readonly kind: 'held' }
  | { readonly kind: 'complete'; readonly body: Buffer; readonly dataCoding: number; readonly parts: ReadonlyArray<HeldPart> }
  | { readonly kind: 'refused'; readonly error: string };

export class ConcatBuffer {
  private readonly open = new Map<string, Assembly>();

  constructor(private readonly timeoutMs: number) {}

  get size(): number {
    let n = 0;
    for (const a of this.open.values()) n += a.count;
    return n;
  }

  /** `key` names the message: tenant, source, destination, reference and total. */
  add(key: string, c: Concat, part: HeldPart): AddResult {
    let a = this.open.get(key);
    if (a === undefined) this.open.set(key, (a = { total: c.total, parts: new Array<HeldPart | undefined>(c.total).fill(undefined), count: 0, since: part.at }));
    const first = a.parts.find((p) => p !== undefined);
    if (first !== undefined && first.dataCoding !== part.dataCoding) return { kind: 'refused', error: `part ${c.seq} has data_coding ${part.dataCoding}, the message's other parts ${first.dataCoding}` };
    const old = a.parts[c.seq - 1];
    if (old !== undefined) old.answer(0x45, ''); // sent again: the old copy is answered, the new one waits
    else a.count++;
    a.parts[c.seq - 1] = part;
    if (a.count < a.total) return { kind: 'held' };
    this.open.delete(key);
    const parts = a.parts as HeldPart[];
    return { kind: 'complete', body: Buffer.concat(parts.map((p) => p.body)), dataCoding: part.dataCoding, parts };
  }

  /** Parts waiting longer than the timeout: answered 0x45 and forgotten. Returns how many. */
  sweep(now: number): number {
    let n = 0;
    for (const [key, a] of this.open) {
      if (now - a.since < this.timeoutMs) continue;
      this.open.delete(key);
      for (const p of a.parts)
        if (p !== undefined) {
          p.answer(0x45, '');
          n++;
        }
    }
    return n;
  }

  /** Every part answered (stop). */
  clear(status: number): void {
    for (const a of this.open.values()) for (const p of a.parts) p?.answer(status, '');
    this.open.clear();
  }
}
