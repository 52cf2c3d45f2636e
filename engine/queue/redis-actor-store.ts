/**
 * The operator actor's store (engine/actors/actor-store.ts) on Redis: a thin
 * adapter over RedisStore. An SMSC's queue is its S queue streams
 * q:{T}:{smsc}, one per shard (issue 13), read by the consumer group GROUP
 * under this actor's consumer name; "unsettled" is Redis's pending entries
 * list; a settled entry is XACKed and XDELed (by the state scripts, or here).
 *
 * What is Redis's business and stays here (or in RedisStore):
 * - an entry's ref is its stream key and stream id (QueueEntry.ref): ids of
 *   different streams coincide all the time (each stream numbers the entries
 *   of a millisecond from 0, and one enqueue call writes several shards'
 *   streams in the same millisecond), so the id alone does not name an entry;
 * - a pull reads every stream (RedisStore.pull: the credit split over the
 *   streams, then the rest to those that filled their share; one XREADGROUP
 *   blocking up to 100 ms on a single Redis, one per stream and an adaptive
 *   idle poll on a cluster) on a connection of its own, so that it never
 *   holds back the state scripts pipelined on the other one;
 * - pending entries are paged per stream, each from its own cursor;
 * - entries are taken over only from dead nodes' consumers, once idle
 *   fleet.reclaimAfterMs, and from those handed back by an actor without
 *   binds (engine/fleet/fenced-reclaim.ts); without `fenced`, XAUTOCLAIM
 *   once idle for `reclaimIdleMs`, whichever consumer held them;
 * - submits and receipts are recorded in one call each on a single Redis, and
 *   on a cluster in two idempotent steps each (the receipt mapping in its own
 *   shard, then the message's shard: RedisStore submitted and receipts); a
 *   call that fails between them is retried whole;
 * - receipt keys live for validity + receipt grace, early receipts ten
 *   minutes; times written are this machine's wall clock (Date.now()).
 */
import type { ActorStore, FailureRecord, ReceiptOutcome, ReceiptRecord, ReceiptResults, SubmitRecord, TakenEntries } from '../actors/actor-store.js';
import { isCluster, type RedisClient } from '../redis/connect-redis.js';
import type { FencedReclaim } from '../fleet/fenced-reclaim.js';
import { compareStreamIds, ReceiptResult, type QueueEntry, type ReadResult, type RedisStore } from './redis-store.js';

/** A queue entry as RedisStore reads it: its `ref` is "<stream key> <stream id>". */
export type RedisQueuedPart = QueueEntry;

export interface RedisActorStoreOptions {
  readonly smsc: string;
  /** This actor's consumer name in the group ("node:smsc"): a restarted actor takes the same. */
  readonly consumer: string;
  /** Unsettled entries idle this long, whoever holds them, are taken over (engine.reclaimIdleMs). */
  readonly reclaimIdleMs: number;
  /** How long after a part's validity its receipt may still come (messages.receiptGraceSec). */
  readonly receiptGraceSec: number;
  /**
   * Fenced reclaim (engine/fleet/fenced-reclaim.ts): entries are taken only from dead nodes'
   * consumers and from those handed back. Without it (tests of this store alone), XAUTOCLAIM of
   * entries idle reclaimIdleMs, whoever holds them.
   */
  readonly fenced?: FencedReclaim;
}

/**
 * How long a receipt whose submit_sm_resp is not recorded yet is kept (de: keys).
 * A receipt normally overtakes its resp by milliseconds; one that matches nothing
 * for ten minutes belongs to no message of ours (another engine's, or lost state).
 */
const EARLY_RECEIPT_TTL_SEC = 600;
/** How long an empty pull waits for new entries (XREADGROUP BLOCK). */
const PULL_BLOCK_MS = 100;
/** Entries taken over per stream per call. */
const TAKE_OVER_COUNT = 500;

/** Every result code named for the actor: a code added to ReceiptResult does not compile until it is mapped here. */
const OUTCOME: Readonly<Record<ReceiptResult, ReceiptOutcome>> = {
  [ReceiptResult.Applied]: 'applied',
  [ReceiptResult.Early]: 'early',
  [ReceiptResult.Duplicate]: 'duplicate',
  [ReceiptResult.Gone]: 'gone',
  // Mapped, but its part's submit not recorded yet: kept in the message and applied when it is.
  [ReceiptResult.Parked]: 'early',
};

function taken(r: ReadResult): TakenEntries<RedisQueuedPart> {
  return { entries: r.entries, unreadable: r.malformed.map((m) => `${m.queueKey} ${m.entryId}`) };
}

/** The stream and id of a ref ("<stream key> <stream id>": a stream id has no space, the key may). */
function entryOfRef(ref: string): { queueKey: string; entryId: string } {
  const sp = ref.lastIndexOf(' ');
  return { queueKey: ref.slice(0, sp), entryId: ref.slice(sp + 1) };
}

export class RedisActorStore implements ActorStore<RedisQueuedPart> {
  /** The SMSC's queue streams, one per shard. */
  private readonly queueKeys: ReadonlyArray<string>;

  constructor(
    private readonly store: RedisStore,
    /** A client of its own for blocking reads (duplicateClient). */
    private readonly reader: RedisClient,
    private readonly o: RedisActorStoreOptions,
  ) {
    this.queueKeys = store.keys.queuesOf(o.smsc);
  }

  async open(): Promise<void> {
    await this.store.ensureGroups(this.o.smsc);
  }

  async pull(max: number): Promise<TakenEntries<RedisQueuedPart>> {
    return taken(await this.store.pull(this.o.consumer, this.queueKeys, max, this.reader, PULL_BLOCK_MS));
  }

  async *pending(pageSize: number): AsyncIterable<TakenEntries<RedisQueuedPart>> {
    // Pending entries come back in id order, per stream: page through each
    // stream's list from its own cursor; a stream that gave less than a page
    // is read out and not asked again.
    let open = this.queueKeys.map((key) => ({ key, cursor: '0' }));
    while (open.length > 0) {
      const r = await this.store.read(this.o.consumer, open.map((s) => s.key), pageSize, open.map((s) => s.cursor));
      const counts = new Map<string, number>();
      for (const e of [...r.entries, ...r.malformed]) {
        counts.set(e.queueKey, (counts.get(e.queueKey) ?? 0) + 1);
        const s = open.find((o) => o.key === e.queueKey);
        if (s !== undefined && compareStreamIds(e.entryId, s.cursor) > 0) s.cursor = e.entryId;
      }
      yield taken(r);
      open = open.filter((s) => (counts.get(s.key) ?? 0) >= pageSize);
    }
  }

  onReadsLost(listener: () => void): void {
    // After a lost connection, a read's reply may have been lost with it: the
    // entries it delivered sit in this consumer's pending list. A cluster
    // client ends a node's connection when it drops (and opens a new one when
    // the node is back): each end is a loss. A single client reconnects: each
    // `ready` after the first is one.
    if (isCluster(this.reader)) {
      this.reader.on('-node', () => listener());
      return;
    }
    let first = this.reader.status !== 'ready';
    this.reader.on('ready', () => {
      if (first) first = false;
      else listener();
    });
  }

  async *takeOver(): AsyncIterable<ReadonlyArray<RedisQueuedPart>> {
    const fenced = this.o.fenced;
    if (fenced !== undefined) {
      for (const key of this.queueKeys) yield* fenced.takeOver(key);
      return;
    }
    for (const key of this.queueKeys) {
      yield await this.store.autoclaim(this.o.consumer, key, this.o.reclaimIdleMs, TAKE_OVER_COUNT);
    }
  }

  async handBack(entries: ReadonlyArray<RedisQueuedPart>): Promise<void> {
    const fenced = this.o.fenced;
    if (fenced === undefined) return;
    const byStream = new Map<string, string[]>();
    for (const e of entries) {
      let ids = byStream.get(e.queueKey);
      if (ids === undefined) byStream.set(e.queueKey, (ids = []));
      ids.push(e.entryId);
    }
    for (const [key, ids] of byStream) await fenced.handBack(key, ids);
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
