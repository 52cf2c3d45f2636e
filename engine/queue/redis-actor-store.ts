/**
 * The operator actor's store (engine/actors/actor-store.ts) on Redis: a thin
 * adapter over RedisStore. An SMSC's queue is its stream partitions
 * q:{smsc:p}, read by the consumer group GROUP under this actor's consumer
 * name; "unsettled" is Redis's pending entries list; a settled entry is
 * XACKed and XDELed (by the state scripts, or here).
 *
 * What is Redis's business and stays here:
 * - an entry's ref is its stream id and its stream: ids of different
 *   streams coincide all the time (each stream numbers the entries of a
 *   millisecond from 0, and the ingress spreads a tick's messages over the
 *   partitions), so the id alone does not name an entry;
 * - a pull reads every partition in one XREADGROUP (credit split evenly,
 *   rounded up) and BLOCKs up to 100 ms on a connection of its own, so that
 *   it never holds back the state scripts pipelined on the other one;
 * - pending entries are paged per partition, each from its own cursor;
 * - entries are taken over (XAUTOCLAIM) once idle for `reclaimIdleMs`,
 *   whichever consumer held them;
 * - receipt keys live for validity + receipt grace, early receipts ten
 *   minutes; times written are this machine's wall clock (Date.now()).
 */
import type { Redis } from 'ioredis';
import type { ActorStore, FailureRecord, ReceiptOutcome, ReceiptRecord, ReceiptResults, SubmitRecord, TakenEntries } from '../actors/actor-store.js';
import { compareStreamIds, ReceiptResult, type QueueEntry, type RedisStore } from './redis-store.js';

/** A queue entry as RedisStore reads it, named for the actor by `ref`. */
export type RedisQueuedPart = QueueEntry & { readonly ref: string };

export interface RedisActorStoreOptions {
  readonly smsc: string;
  readonly partitions: number;
  /** This actor's consumer name in the group ("node:smsc"): a restarted actor takes the same. */
  readonly consumer: string;
  /** Unsettled entries idle this long, whoever holds them, are taken over (engine.reclaimIdleMs). */
  readonly reclaimIdleMs: number;
  /** How long after a part's validity its receipt may still come (messages.receiptGraceSec). */
  readonly receiptGraceSec: number;
}

/**
 * How long a receipt whose submit_sm_resp is not recorded yet is kept (de: keys).
 * A receipt normally overtakes its resp by milliseconds; one that matches nothing
 * for ten minutes belongs to no message of ours (another engine's, or lost state).
 */
const EARLY_RECEIPT_TTL_SEC = 600;
/** How long an empty pull waits for new entries (XREADGROUP BLOCK). */
const PULL_BLOCK_MS = 100;
/** Entries taken over per partition per call. */
const TAKE_OVER_COUNT = 500;

/** Every result code named for the actor: a code added to ReceiptResult does not compile until it is mapped here. */
const OUTCOME: Readonly<Record<ReceiptResult, ReceiptOutcome>> = {
  [ReceiptResult.Applied]: 'applied',
  [ReceiptResult.Early]: 'early',
  [ReceiptResult.Duplicate]: 'duplicate',
  [ReceiptResult.Gone]: 'gone',
};

/** "<stream key> <stream id>": a stream id has no space (the key may: it starts with the configured prefix). */
function refOf(queueKey: string, entryId: string): string {
  return queueKey + ' ' + entryId;
}

function entryOfRef(ref: string): { queueKey: string; entryId: string } {
  const sp = ref.lastIndexOf(' ');
  return { queueKey: ref.slice(0, sp), entryId: ref.slice(sp + 1) };
}

/** Names an entry RedisStore just parsed (a fresh object no one else holds yet). */
function named(e: QueueEntry): RedisQueuedPart {
  const n = e as QueueEntry & { ref: string };
  n.ref = refOf(e.queueKey, e.entryId);
  return n;
}

function taken(r: { entries: QueueEntry[]; malformed: ReadonlyArray<{ queueKey: string; entryId: string }> }): TakenEntries<RedisQueuedPart> {
  return { entries: r.entries.map(named), unreadable: r.malformed.map((m) => refOf(m.queueKey, m.entryId)) };
}

export class RedisActorStore implements ActorStore<RedisQueuedPart> {
  private readonly queueKeys: string[] = [];

  constructor(
    private readonly store: RedisStore,
    /** A connection of its own for blocking reads. */
    private readonly reader: Redis,
    private readonly o: RedisActorStoreOptions,
  ) {
    for (let p = 0; p < o.partitions; p++) this.queueKeys.push(store.keys.queue(o.smsc, p));
  }

  async open(): Promise<void> {
    await this.store.ensureGroups(this.o.smsc, this.o.partitions);
  }

  async pull(max: number): Promise<TakenEntries<RedisQueuedPart>> {
    const per = Math.max(1, Math.ceil(max / this.queueKeys.length));
    return taken(await this.store.read(this.o.consumer, this.queueKeys, per, '>', PULL_BLOCK_MS, this.reader));
  }

  async *pending(pageSize: number): AsyncIterable<TakenEntries<RedisQueuedPart>> {
    // Pending entries come back in id order, per partition: page through each
    // partition's list from its own cursor until every partition is read out.
    const cursors = this.queueKeys.map(() => '0');
    for (;;) {
      const r = await this.store.read(this.o.consumer, this.queueKeys, pageSize, cursors);
      const counts = this.queueKeys.map(() => 0);
      for (const e of [...r.entries, ...r.malformed]) {
        const k = this.queueKeys.indexOf(e.queueKey);
        counts[k] = (counts[k] ?? 0) + 1;
        if (compareStreamIds(e.entryId, cursors[k] as string) > 0) cursors[k] = e.entryId;
      }
      yield taken(r);
      if (counts.every((n) => n < pageSize)) return;
    }
  }

  onReadsLost(listener: () => void): void {
    // After a lost connection, a read's reply may have been lost with it: the
    // entries it delivered sit in this consumer's pending list.
    let first = this.reader.status !== 'ready';
    this.reader.on('ready', () => {
      if (first) first = false;
      else listener();
    });
  }

  async *takeOver(): AsyncIterable<ReadonlyArray<RedisQueuedPart>> {
    for (const key of this.queueKeys) {
      const claimed = await this.store.autoclaim(this.o.consumer, key, this.o.reclaimIdleMs, TAKE_OVER_COUNT);
      yield claimed.map(named);
    }
  }

  async keepUnsent(entries: ReadonlyArray<RedisQueuedPart>): Promise<RedisQueuedPart[]> {
    const { done } = await this.store.splitUnsent(entries);
    if (done.length === 0) return [...entries];
    const settled = new Set(done);
    return entries.filter((e) => !settled.has(e));
  }

  async drop(refs: ReadonlyArray<string>): Promise<void> {
    await this.store.dropEntries(refs.map(entryOfRef));
  }

  async submitted(items: ReadonlyArray<SubmitRecord<RedisQueuedPart>>): Promise<number> {
    return await this.store.submitted(this.o.smsc, this.o.receiptGraceSec, items);
  }

  async failed(items: ReadonlyArray<FailureRecord<RedisQueuedPart>>): Promise<void> {
    await this.store.failed(items);
  }

  async receipts(items: ReadonlyArray<ReceiptRecord>): Promise<ReceiptResults> {
    const latencyMs: number[] = [];
    const codes = await this.store.receipts(this.o.smsc, EARLY_RECEIPT_TTL_SEC, items, Date.now(), latencyMs);
    return { outcomes: codes.map((c) => OUTCOME[c]), latencyMs };
  }
}
