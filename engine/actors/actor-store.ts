/**
 * The operator actor's port to its queue and to the message state: what the
 * actor needs, in its own terms. Redis implements it in
 * engine/queue/redis-actor-store.ts (streams, consumer groups, the state
 * scripts); the unit tests implement it in memory
 * (test/helpers/actor-fakes.ts). Nothing here names a stream, a key, a
 * consumer group or a stream id: how entries are spread over streams or
 * shards, how a pull waits, and whose abandoned entries may be taken over
 * are the store's decisions.
 *
 *        pull(credit) ─────────▶ entries taken by this actor ──▶ submit_sm
 *        pending() after a          (unsettled: a crash loses     │
 *          restart or lost reads     none of them)                 ▼
 *        takeOver() what dead   ◀── submitted / failed settle them, receipts
 *          actors left               are recorded; keepUnsent() settles the
 *                                    recovered ones already sent
 *
 * An entry the actor has taken stays unsettled in the store until its submit
 * outcome (submitted) or a final failure (failed) is recorded, or the store
 * finds it was sent already (keepUnsent) or cannot be read (drop). Every call
 * may fail (the store is unreachable): the actor keeps the items and tries
 * again, and meanwhile the entries stay unsettled.
 */

/** One part of a message, taken from this actor's queue: one submit_sm. */
export interface QueuedPart {
  /**
   * Names the entry in the store: unique among all the entries of this
   * actor's queue (however many streams or shards it has), opaque to the
   * actor, which only compares it.
   */
  readonly ref: string;
  readonly id: string;
  readonly part: number;
  readonly total: number;
  readonly to: string;
  readonly from: string;
  readonly validUntilSec: number;
  readonly dataCoding: number;
  readonly esmClass: number;
  /** UDH and payload; GSM-7 as unpacked septets (the actor transcodes for its SMSC). */
  readonly shortMessage: Buffer;
  /** '' for entries written before the tenant was recorded in them. */
  readonly tenant: string;
}

/** A part the SMSC accepted: its submit_sm_resp. */
export interface SubmitRecord<E extends QueuedPart = QueuedPart> {
  readonly entry: E;
  /** The SMSC's message id, normalised: what its receipts are matched by (receipt.ts). */
  readonly normId: string;
  /** The SMSC's message id as it sent it. */
  readonly rawId: string;
}

/** A part that ends here: refused by the SMSC (R) or expired before it could be sent (E). */
export interface FailureRecord<E extends QueuedPart = QueuedPart> {
  readonly entry: E;
  readonly state: 'R' | 'E';
  readonly errCode: string;
  readonly errText: string;
}

/** A delivery receipt to record. */
export interface ReceiptRecord {
  readonly state: 'D' | 'U' | 'E' | 'K' | 'u';
  readonly errCode: string;
  readonly errText: string;
  /** The SMSC's message id, normalised and converted to its resps' radix (receiptKey). */
  readonly key: string;
  /** The receipt's text for analytics (the operator's raw reply); '' for delivered receipts. */
  readonly raw: string;
}

/**
 * What became of a receipt: applied to its part; early (its submit_sm_resp
 * is not recorded yet: kept and applied when it is); a duplicate of one
 * applied before; gone (no message of ours has that id: expired, or never
 * ours).
 */
export type ReceiptOutcome = 'applied' | 'early' | 'duplicate' | 'gone';

export interface ReceiptResults {
  /** One per receipt, in order. */
  readonly outcomes: ReadonlyArray<ReceiptOutcome>;
  /** One per receipt: ms from the part's `sent` to the receipt, -1 when unknown. */
  readonly latencyMs: ReadonlyArray<number>;
}

/** Entries read from the queue, and the refs of those that could not be read (pass them to `drop`). */
export interface TakenEntries<E extends QueuedPart = QueuedPart> {
  readonly entries: ReadonlyArray<E>;
  readonly unreadable: ReadonlyArray<string>;
}

export interface ActorStore<E extends QueuedPart = QueuedPart> {
  /** Prepares this actor's queue (idempotent); the first call before any other. */
  open(): Promise<void>;
  /**
   * Takes up to about `max` new entries for this actor (a store of several
   * streams may round up to one per stream). Resolves empty only after
   * having waited a while (up to ~100 ms) for some: the actor calls again
   * at once.
   */
  pull(max: number): Promise<TakenEntries<E>>;
  /**
   * This actor's own unsettled entries (taken before a restart, or by a pull
   * whose reply was lost), page by page (about `pageSize` entries a page; a
   * store of several streams may give that many per stream), in the order
   * they were queued; ends when every one was read out.
   */
  pending(pageSize: number): AsyncIterable<TakenEntries<E>>;
  /** Calls `listener` whenever replies to pulls may have been lost: the entries they carried are pending for this actor. */
  onReadsLost(listener: () => void): void;
  /**
   * Takes over entries other actors (for the same SMSC, on dead or stuck
   * nodes) left unsettled, batch by batch; which ones, and when they count
   * as abandoned, is the store's rule. May return entries this actor holds
   * already. A batch yielded is this actor's even if a later one fails.
   */
  takeOver(): AsyncIterable<ReadonlyArray<E>>;
  /**
   * Gives entries this actor took and never sent back to the SMSC's other
   * actors (it lost every bind's lease): they stay unsettled, for whoever
   * holds a bind. Optional: a store without it keeps them with this actor.
   */
  handBack?(entries: ReadonlyArray<E>): Promise<void>;
  /**
   * Of recovered or taken-over entries, those whose part was never sent;
   * the others (sent already, or their message ended meanwhile) are settled.
   */
  keepUnsent(entries: ReadonlyArray<E>): Promise<E[]>;
  /** Settles entries that cannot be read (they can never be sent). */
  drop(refs: ReadonlyArray<string>): Promise<void>;
  /** Records submit_sm_resps and settles their entries; resolves with how many early receipts it applied. */
  submitted(items: ReadonlyArray<SubmitRecord<E>>): Promise<number>;
  /** Records final failures and settles their entries. */
  failed(items: ReadonlyArray<FailureRecord<E>>): Promise<void>;
  /** Records receipts; each one's outcome in order (the SMSC is answered after this resolves). */
  receipts(items: ReadonlyArray<ReceiptRecord>): Promise<ReceiptResults>;
}
