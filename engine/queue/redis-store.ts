/**
 * The Redis adapter behind the message path: enqueue at ingress (one script
 * call per tick), credit-based reads and reclaim for operator actors, and the
 * batched Lua state changes (submitted, failed, receipts, sweep). Domain code
 * sees plain records.
 *
 * The state is sharded (issue 13; keys.ts, shards.ts): a message lives in the
 * shard its id names, every SMSC has one queue stream per shard, and each
 * script call is organised in sections, one per shard (sections.ts). On a
 * single Redis a batch is one call, as before sharding; on a Redis Cluster
 * it is one call per shard it touches, sent together (ioredis pipelines them
 * per master). That, the two-step records and the opt-out pre-check (cluster
 * only: one call each, and the lists read in the enqueue script, on a single
 * Redis), and how queues are read (`pull`: one XREADGROUP over
 * every stream with BLOCK on a single Redis, one per stream without BLOCK and
 * an adaptive idle poll on a cluster), are the only cluster-specific choices.
 *
 *   ingress ──enqueue──▶ m:{T}:{id}, q:{T}:{smsc}, ev:{T}, exp:{T}, …     (shard T of the id)
 *   actor   ──pull────▶ q:{T}:{smsc} × S
 *           ──submitted: link (d:{J}:{smsc}:{mid}, shard J of the SMSC id) ─▶ submitted (shard T)
 *           ──receipts:  lookup (shard J) ─▶ receipts (shard T)
 *           (single Redis: each pair is one call, link-submitted.lua and lookup-receipts.lua;
 *            the enqueue reads the opt-out lists inside its script, no pre-check)
 *
 * Stream entry layout (binary-safe, compact for big backlogs):
 *   h = "id|part|total|to|from|validUntilSec|dataCoding|esmClass"
 *   b = short_message bytes (UDH + payload)
 *   t = tenant (actors hold back paused tenants' entries without a look-up)
 */
import type { QueuedPart as ActorPart } from '../actors/actor-store.js';
import { RetryableError } from '../errors.js';
import { systemClock, type Clock } from '../flow/clock.js';
import { callWithKey, classifyRedisError, isCluster, type RedisClient } from '../redis/connect-redis.js';
import { defineLuaCommand } from '../redis/lua-loader.js';
import { GROUP, Keys, RECENT_OPT_OUT_MS } from './keys.js';
import { ENQUEUE, FAILED, LINK, LINK_SUBMITTED, LOOKUP, LOOKUP_RECEIPTS, MOVE, RECEIPTS, SUBMITTED, SWEEP } from './lua-scripts.js';
import { messageField } from './message-fields.js';
import { EnqueueCode, ReceiptResult } from './script-codes.js';
import { runSections, runSectionsThen, Section, type Arg } from './sections.js';

/** Early receipts (no mapping yet) kept per SMSC within their lifetime; beyond it they are answered and counted unmatched. */
export const MAX_EARLY_RECEIPTS = 100_000;
export { ReceiptResult } from './script-codes.js';

export interface QueuedPart {
  readonly shortMessage: Buffer;
}

export interface NewMessage {
  readonly id: string;
  readonly tenant: string;
  readonly ref: string;
  readonly to: string;
  readonly from: string;
  readonly smsc: string;
  readonly dataCoding: number;
  readonly esmClass: number;
  readonly parts: ReadonlyArray<QueuedPart>;
  readonly acceptedAt: number; // ms since epoch
  readonly validUntil: number; // ms since epoch
  readonly ttlSec: number; // message hash TTL: validity + receipt grace (+ margin)
  readonly pushStatus: boolean;
  /** The route's record for billing and analytics: country|mcc|mnc|price|currency (routeRecord). */
  readonly route: string;
  /** Set when moderation holds the message for an admin (`pending_approval`): why. */
  readonly hold?: { readonly code: string; readonly text: string } | undefined;
  /** When a scheduled message is due (ms since epoch); 0 or absent: queue it now. */
  readonly dueAt?: number;
  /** Usage counts the message only once delivered (tenant billOn 'delivered'), not when sent. */
  readonly billOnDelivery?: boolean;
  /**
   * An idempotency key (issue 15): the id's shard must be keys.idempotencyShard(tenant, key). A key
   * whose record (window ms) names an earlier message is not written again: see EnqueueOutcome.
   */
  readonly idempotency?: { readonly key: string; readonly bodyHash: string; readonly windowMs: number } | undefined;
  /** Issue 15: where this message's status events are POSTed instead of the tenant's webhook URL (signed with its secret). */
  readonly callbackUrl?: string | undefined;
  // For the ack only (not stored as such):
  readonly encoding?: 'gsm7' | 'ucs2';
  /** Total price of all parts in `currency`. */
  readonly price?: number;
  readonly currency?: string;
}

/** Where the enqueue script put a message (lua/enqueue.lua): its status in the ack. */
export type Disposition = 'queued' | 'stopped' | 'pending_approval' | 'paused' | 'scheduled';
/**
 * A message with an idempotency key its tenant used before within the window: a repeat (same body:
 * nothing written, `id` and `status` are the original's) or a conflict (another body: nothing written).
 */
export type Repeat = { readonly repeatOf: string; readonly status: Disposition } | { readonly conflict: true };
/** What the enqueue did with each message: a Disposition, or a Repeat of an idempotency key. */
export type EnqueueOutcome = Disposition | Repeat;
const DISPOSITION: Readonly<Record<Exclude<EnqueueCode, typeof EnqueueCode.Recheck | typeof EnqueueCode.Repeat | typeof EnqueueCode.Conflict>, Disposition>> = {
  [EnqueueCode.Queued]: 'queued',
  [EnqueueCode.Stopped]: 'stopped',
  [EnqueueCode.Held]: 'pending_approval',
  [EnqueueCode.Paused]: 'paused',
  [EnqueueCode.Scheduled]: 'scheduled',
};

/** The `rt` field of a message: where the router sent it and at what price per segment. */
export function routeRecord(r: { network: { country: string; mcc: string; mnc: string }; price: number; currency: string }): string {
  return `${r.network.country}|${r.network.mcc}|${r.network.mnc}|${r.price}|${r.currency}`;
}

/** A queue stream entry: one part, as the operator actor's port knows it (QueuedPart), and where it is. */
export interface QueueEntry extends ActorPart {
  readonly queueKey: string;
  readonly entryId: string;
  /**
   * The entry's identity across streams: "queueKey entryId". Stream ids are
   * unique per stream only, and one enqueue call writes several shards'
   * streams in the same millisecond: their first entries share an id.
   */
  readonly ref: string;
}

export interface SubmittedItem {
  readonly entry: QueueEntry;
  readonly normId: string;
  readonly rawId: string;
}

export interface FailedItem {
  readonly entry: QueueEntry;
  readonly state: 'R' | 'E';
  readonly errCode: string;
  readonly errText: string;
}

export interface ReceiptItem {
  readonly state: 'D' | 'U' | 'E' | 'K' | 'u';
  readonly errCode: string;
  readonly errText: string;
  readonly key: string; // normalised SMSC message id (receiptKey)
  /** The receipt's text for analytics (the operator's raw reply); '' for delivered receipts. */
  readonly raw: string;
}

export interface StoreLimits {
  /** MAXLEN ~ of each shard's events stream (status pushes, resume and the analytics sink read it). */
  readonly eventsMaxLen: number;
  /** Seconds a message hash is kept once its status is final (lookups, late duplicates). */
  readonly finalRetentionSec: number;
  /** Early receipts kept per SMSC within their lifetime (default MAX_EARLY_RECEIPTS). */
  readonly maxEarlyReceipts?: number;
}

export interface StoreOptions {
  /**
   * Durability (config redis.waitReplicas, waitTimeoutMs): after each enqueue
   * call, WAIT until this many replicas have it, at most waitTimeoutMs; fewer
   * is REPLICATION_TIMEOUT (the submit is nacked). 0: no WAIT.
   */
  readonly waitReplicas?: number;
  readonly waitTimeoutMs?: number;
  /** The time of the opt-out pre-check (wall clock, ms): enqueue.lua compares it with Redis's TIME. */
  readonly clock?: Clock;
}

/** An opt-out in oor:{T} may predate the pre-check by this much and still stop a message (ms): clock skew between nodes. */
export const OPT_OUT_SKEW_MS = 10_000;
/** A pre-check older than this when the script runs is refused and redone (ms): oor:{T} reaches RECENT_OPT_OUT_MS back. */
export const PRE_CHECK_MAX_AGE_MS = RECENT_OPT_OUT_MS - 3 * OPT_OUT_SKEW_MS;

type Fields = Buffer[];
type StreamReply = Array<[Buffer, Array<[Buffer, Fields]>]> | null;

export interface ReadResult {
  entries: QueueEntry[];
  malformed: Array<{ queueKey: string; entryId: string }>;
}

/** An early receipt as link.lua returns it ("state|err|text|raw"). */
function receiptText(it: ReceiptItem): string {
  return `${it.state}|${it.errCode}|${it.errText}|${it.raw}`;
}

const sleep = (ms: number) => new Promise<void>((ok) => setTimeout(ok, ms));
const DAY_MS = 86_400_000;

/** Orders two stream ids ("ms-seq"). */
export function compareStreamIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am !== bm ? am - bm : as - bs;
}

/** Parses one stream entry; returns undefined for a malformed entry (reported by the caller). */
export function parseEntry(queueKey: string, entryId: string, fields: Fields): QueueEntry | undefined {
  let h: string | undefined;
  let b: Buffer | undefined;
  let tenant = '';
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const k = (fields[i] as Buffer).toString('latin1');
    if (k === 'h') h = (fields[i + 1] as Buffer).toString('utf8');
    else if (k === 'b') b = fields[i + 1] as Buffer;
    else if (k === 't') tenant = (fields[i + 1] as Buffer).toString('latin1');
  }
  if (h === undefined || b === undefined) return undefined;
  const f = h.split('|');
  if (f.length !== 8) return undefined;
  return {
    queueKey,
    entryId,
    ref: `${queueKey} ${entryId}`,
    id: f[0] as string,
    part: Number(f[1]),
    total: Number(f[2]),
    to: f[3] as string,
    from: f[4] as string,
    validUntilSec: Number(f[5]),
    dataCoding: Number(f[6]),
    esmClass: Number(f[7]),
    shortMessage: b,
    tenant,
  };
}

export class RedisStore {
  readonly keys: Keys;
  private readonly limits: StoreLimits;
  /** Per SMSC: [minute, early receipts kept in it] (earlyKept). */
  private readonly early = new Map<string, Array<[number, number]>>();
  private readonly cluster: boolean;
  private readonly waitReplicas: number;
  private readonly waitTimeoutMs: number;
  private readonly clock: Clock;
  /** Cluster reads, per consumer and stream: when to poll it next (performance.now ms) and its current wait after empty reads. */
  private readonly polls = new Map<string, { at: number; wait: number }>();
  /** tagList, built once. */
  private tags: string | undefined;
  /** Reads with less credit than streams: the stream the consumer's next pull starts at (pullInTurn). */
  private readonly turn = new Map<string, number>();

  constructor(
    readonly redis: RedisClient,
    keys: Keys | string,
    limits: StoreLimits,
    o: StoreOptions = {},
  ) {
    this.keys = typeof keys === 'string' ? new Keys(keys) : keys;
    this.limits = limits;
    this.cluster = isCluster(redis);
    this.waitReplicas = o.waitReplicas ?? 0;
    this.waitTimeoutMs = o.waitTimeoutMs ?? 1000;
    this.clock = o.clock ?? systemClock;
    defineLuaCommand(redis, 'syLink', LINK);
    defineLuaCommand(redis, 'sySubmitted', SUBMITTED);
    defineLuaCommand(redis, 'syLinkSubmitted', LINK_SUBMITTED);
    defineLuaCommand(redis, 'syFailed', FAILED);
    defineLuaCommand(redis, 'syLookup', LOOKUP);
    defineLuaCommand(redis, 'syReceipts', RECEIPTS);
    defineLuaCommand(redis, 'syLookupReceipts', LOOKUP_RECEIPTS);
    defineLuaCommand(redis, 'sySweep', SWEEP);
    defineLuaCommand(redis, 'syEnqueue', ENQUEUE);
    defineLuaCommand(redis, 'syMove', MOVE);
  }

  /** Whether the client is a Redis Cluster's (one call per shard, no blocking reads). */
  get isCluster(): boolean {
    return this.cluster;
  }

  /** Creates the consumer group of each of the SMSC's queue streams, one per shard (from the start of the stream). */
  async ensureGroups(smsc: string): Promise<void> {
    await Promise.all(
      this.keys.queuesOf(smsc).map((k) =>
        callWithKey(this.redis, k, ['XGROUP', 'CREATE'], [GROUP, '0', 'MKSTREAM']).catch((err: Error) => {
          if (!String(err.message).includes('BUSYGROUP')) throw err;
        }),
      ),
    );
  }

  // ---- enqueue ----------------------------------------------------------------

  /**
   * Enqueues messages atomically per shard (lua/enqueue.lua): resolves once
   * Redis has them all, with where each went (opted-out numbers are stopped,
   * held and paused tenants' messages parked). On a single Redis the script
   * reads the opt-out lists itself; on a cluster they are read first
   * (optOutPreCheck: they live in their tenants' slots), and a section the
   * script refuses because that read is too old is read and sent again. With
   * redis.waitReplicas, each call is followed by WAIT on the same master.
   */
  async enqueue(msgs: ReadonlyArray<NewMessage>): Promise<EnqueueOutcome[]> {
    const out = new Array<EnqueueOutcome>(msgs.length);
    let pending = msgs.map((_, i) => i);
    for (let attempt = 0; ; attempt++) {
      // On a single Redis the script reads the opt-out lists itself, atomically (enqueue.lua): no pre-check
      // round trip, no pre-check time to refuse (0).
      const checkedAt = this.cluster ? Math.floor(this.clock.now()) : 0;
      const listed = this.cluster ? await this.optOutPreCheck(pending.map((i) => msgs[i] as NewMessage)) : undefined;
      const groups = new Map<number, EnqueueSection>();
      pending.forEach((i, j) => {
        const m = msgs[i] as NewMessage;
        const k = this.keys.shardOf(m.id);
        if (k === undefined) throw new RangeError(`enqueue: "${m.id}" is not a message id of this deployment`);
        let g = groups.get(k);
        if (g === undefined) groups.set(k, (g = this.enqueueSection(k)));
        g.add(i, m, listed === undefined ? undefined : listed[j] === true);
      });
      const list = [...groups.values()];
      const codes = await this.runEnqueue(list.map((g) => g.close()), checkedAt);
      const again: number[] = [];
      list.forEach((g, k) => {
        const c = String(codes[k]);
        if (c === EnqueueCode.Recheck) again.push(...g.idx);
        else if (!c.includes(EnqueueCode.Repeat) && !c.includes(EnqueueCode.Conflict)) g.idx.forEach((i, j) => (out[i] = DISPOSITION[c[j] as keyof typeof DISPOSITION] ?? 'queued'));
        else readRepeats(c, g.idx, out);
      });
      if (again.length === 0) return out;
      // Only a call delayed for minutes between its pre-check and Redis (a failover, a stall) gets here.
      if (attempt >= 2) throw new RetryableError('UNAVAILABLE', 'the opt-out check could not be completed in time; retry');
      pending = again;
    }
  }

  /** A section of enqueue.lua for shard k; on a single Redis it names the global opt-out list (the script reads the lists). */
  private enqueueSection(k: number): EnqueueSection {
    const fixed = [this.keys.eventsOf(k), this.keys.expiryOf(k), this.keys.scheduleOf(k), this.keys.pausedCopy(k), this.keys.recentOptOuts(k)];
    if (!this.cluster) fixed.push(this.keys.optOut('*'));
    return new EnqueueSection(this.keys, k, fixed, !this.cluster);
  }

  /**
   * Which numbers are on their tenant's or the global opt-out list, read just
   * before the enqueue call (ZMSCORE per tenant and one for the global list,
   * sent together; a list that does not exist costs Redis a key look-up).
   */
  private async optOutPreCheck(msgs: ReadonlyArray<{ tenant: string; to: string }>): Promise<boolean[]> {
    const byTenant = new Map<string, string[]>();
    const all = new Set<string>();
    for (const m of msgs) {
      all.add(m.to);
      let l = byTenant.get(m.tenant);
      if (l === undefined) byTenant.set(m.tenant, (l = []));
      l.push(m.to);
    }
    const globalNums = [...all];
    const tenants = [...byTenant.keys()];
    const [global, ...per] = await this.retrying(() =>
      Promise.all([this.redis.zmscore(this.keys.optOut('*'), ...globalNums), ...tenants.map((t) => this.redis.zmscore(this.keys.optOut(t), ...(byTenant.get(t) as string[])))]),
    );
    const listedGlobal = new Set(globalNums.filter((_, i) => (global as Array<string | null>)[i] !== null));
    const listedTenant = new Map<string, Set<string>>();
    tenants.forEach((t, i) => {
      const nums = byTenant.get(t) as string[];
      listedTenant.set(t, new Set(nums.filter((_, k) => (per[i] as Array<string | null>)[k] !== null)));
    });
    return msgs.map((m) => listedGlobal.has(m.to) || listedTenant.get(m.tenant)?.has(m.to) === true);
  }

  private async runEnqueue(list: ReadonlyArray<Section>, checkedAt: number): Promise<unknown[]> {
    const head = [this.limits.eventsMaxLen, this.limits.finalRetentionSec, checkedAt, PRE_CHECK_MAX_AGE_MS, OPT_OUT_SKEW_MS];
    if (this.waitReplicas <= 0) return await this.retrying(() => runSections(this.redis, 'syEnqueue', head, list));
    const res = await this.retrying(() => runSectionsThen(this.redis, 'syEnqueue', head, list, (p) => p.wait(this.waitReplicas, this.waitTimeoutMs)));
    const short = res.find((r) => Number(r.after) < this.waitReplicas);
    if (short !== undefined) {
      throw new RetryableError(
        'REPLICATION_TIMEOUT',
        `was written to the Redis primary, but only ${Number(short.after)} of the ${this.waitReplicas} replicas redis.waitReplicas asks for confirmed it within ${this.waitTimeoutMs} ms: it may still be sent, or be lost if that primary fails now; look it up (GET /v1/messages/{id}) before sending it again`,
      );
    }
    return res.map((r) => r.result);
  }

  /**
   * On a cluster, retries a call that failed on a failover (the master died
   * with it, or the slot moved) for up to ~5 s: every call made through this
   * is idempotent (enqueue sections are, reads are). On a single Redis ioredis's
   * own per-command retries apply.
   */
  private async retrying<R>(call: () => Promise<R>): Promise<R> {
    if (!this.cluster) return await call();
    for (let attempt = 0; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        const kind = classifyRedisError(err);
        if (kind === 'failed' || attempt >= 20) throw err;
        await sleep(250);
      }
    }
  }

  // ---- reads -----------------------------------------------------------------

  /**
   * Reads up to `count` entries per stream. `fromId` '>' reads new entries;
   * '0' (or one id per stream: after that id) re-reads this consumer's own
   * pending entries (recovery after a restart). On a single Redis this is one
   * XREADGROUP over every stream (BLOCK allowed); on a cluster one per stream
   * (their slots differ: CROSSSLOT), sent together, never blocking.
   * Blocking reads must use their own connection (`conn`), or they would hold
   * back the state scripts pipelined behind them.
   */
  async read(consumer: string, queueKeys: ReadonlyArray<string>, count: number | ReadonlyArray<number>, fromId: '>' | '0' | ReadonlyArray<string>, blockMs = 0, conn: RedisClient = this.redis): Promise<ReadResult> {
    const from = (i: number) => (typeof fromId === 'string' ? fromId : (fromId[i] ?? '0'));
    const countOf = (i: number) => (typeof count === 'number' ? count : (count[i] ?? 1));
    const out: ReadResult = { entries: [], malformed: [] };
    if (this.cluster || typeof count !== 'number') {
      const replies = await Promise.all(
        queueKeys.map((k, i) => conn.callBuffer('xreadgroup', 'GROUP', GROUP, consumer, 'COUNT', countOf(i), ...(!this.cluster && blockMs > 0 && queueKeys.length === 1 ? ['BLOCK', blockMs] : []), 'STREAMS', k, from(i)) as Promise<StreamReply>),
      );
      for (const r of replies) collect(r, out);
      return out;
    }
    const args: Array<string | number> = ['GROUP', GROUP, consumer, 'COUNT', count];
    if (blockMs > 0) args.push('BLOCK', blockMs);
    args.push('STREAMS', ...queueKeys);
    for (let i = 0; i < queueKeys.length; i++) args.push(from(i));
    collect((await conn.callBuffer('xreadgroup', ...args)) as StreamReply, out);
    return out;
  }

  /**
   * New entries for an actor with `credit` free window slots, from an SMSC's
   * S queue streams. Every stream read gets floor(credit / streams read) (at
   * least 1) first; what is left of the credit goes to the streams that filled
   * their share, so a burst in one shard is read in a few pulls, not
   * credit / S-sized ones.
   * With less credit than streams (a slow SMSC's tokens) it reads one entry
   * from each of `credit` streams, in turn from where the consumer's last pull
   * stopped, and moves on to the next ones only for what is left: a read of
   * one per stream took up to S entries, more than the credit, and entries an
   * actor holds cannot fail over when its SMSC goes down.
   * Single Redis: the first read is one XREADGROUP over all streams, blocking
   * up to blockMs (with less credit than streams the turns do not block; when
   * every stream was empty, one blocking read of one entry per stream waits).
   * Cluster: one XREADGROUP per stream (a command's keys share a slot), no
   * blocking, and each stream is polled on its own schedule: again at once
   * after a read that found entries, else after a wait that doubles from 5 to
   * 100 ms while it stays empty; a pull first waits until some stream is due.
   * Polling all S streams whenever one had entries cost Redis S commands per
   * pull: with traffic spread thin over S = 48 shards that was about 20
   * commands per message; per-stream schedules make reads follow the streams
   * that have traffic, at the price of up to 100 ms more latency for the first
   * message in a quiet shard.
   */
  async pull(consumer: string, queueKeys: ReadonlyArray<string>, credit: number, conn: RedisClient = this.redis, blockMs = 100): Promise<ReadResult> {
    let keys = queueKeys;
    if (this.cluster) {
      let now = performance.now();
      let next = Infinity;
      for (const k of queueKeys) next = Math.min(next, this.polls.get(`${consumer}|${k}`)?.at ?? 0);
      if (next > now) {
        await sleep(Math.min(100, Math.ceil(next - now)));
        now = performance.now();
      }
      // Streams due within the shortest wait are read now too: their schedules stay together, in one pipeline.
      keys = queueKeys.filter((k) => (this.polls.get(`${consumer}|${k}`)?.at ?? 0) <= now + 5);
      if (keys.length === 0) return { entries: [], malformed: [] };
    }
    const few = credit < keys.length;
    const share = Math.max(1, Math.floor(credit / keys.length));
    const { out: first, tried } = few
      ? await this.pullInTurn(consumer, keys, credit, conn, `${consumer}|${queueKeys[0] ?? ''}`)
      : { out: await this.read(consumer, keys, share, '>', this.cluster ? 0 : blockMs, conn), tried: keys };
    let got = first.entries.length + first.malformed.length;
    const perKey = (r: ReadResult): Map<string, number> => {
      const m = new Map<string, number>();
      for (const e of r.entries) m.set(e.queueKey, (m.get(e.queueKey) ?? 0) + 1);
      for (const e of r.malformed) m.set(e.queueKey, (m.get(e.queueKey) ?? 0) + 1);
      return m;
    };
    let counts = perKey(first);
    if (this.cluster) {
      const at = performance.now();
      for (const k of tried) {
        const id = `${consumer}|${k}`;
        if ((counts.get(k) ?? 0) > 0) this.polls.set(id, { at: 0, wait: 0 });
        else {
          const wait = Math.min(100, Math.max(5, (this.polls.get(id)?.wait ?? 0) * 2));
          this.polls.set(id, { at: at + wait, wait });
        }
      }
    }
    if (got === 0) {
      // Every stream was empty a moment ago: more than the credit comes only if several fill during the wait.
      if (!this.cluster && few && blockMs > 0) return await this.read(consumer, queueKeys, 1, '>', blockMs, conn);
      return first;
    }
    if (few) return first;
    let asked = share;
    let full = keys.filter((k) => (counts.get(k) ?? 0) >= asked);
    for (let round = 0; round < 3 && full.length > 0 && credit - got > 0; round++) {
      asked = Math.ceil((credit - got) / full.length);
      // Every full stream is asked the same count: one XREADGROUP over them all on a single Redis.
      const more = await this.read(consumer, full, this.cluster ? full.map(() => asked) : asked, '>', 0, conn);
      first.entries.push(...more.entries);
      first.malformed.push(...more.malformed);
      got += more.entries.length + more.malformed.length;
      counts = perKey(more);
      full = full.filter((k) => (counts.get(k) ?? 0) >= asked);
    }
    return first;
  }

  /**
   * pull with less credit than streams: one entry from each of `credit`
   * streams, starting where the consumer's last such pull stopped (every stream
   * gets its turn), then from the next streams for what is left of the credit,
   * until the credit is read or every stream was tried once. Never blocks.
   * Returns the streams it read (their poll schedules on a cluster).
   */
  private async pullInTurn(consumer: string, queueKeys: ReadonlyArray<string>, credit: number, conn: RedisClient, turnKey: string): Promise<{ out: ReadResult; tried: string[] }> {
    const n = queueKeys.length;
    const start = this.turn.get(turnKey) ?? 0;
    const out: ReadResult = { entries: [], malformed: [] };
    let tried = 0;
    const names: string[] = [];
    let got = 0;
    while (tried < n && got < credit) {
      const m = Math.min(credit - got, n - tried);
      const keys = Array.from({ length: m }, (_, j) => queueKeys[(start + tried + j) % n] as string);
      tried += m;
      names.push(...keys);
      const r = await this.read(consumer, keys, 1, '>', 0, conn);
      out.entries.push(...r.entries);
      out.malformed.push(...r.malformed);
      got += r.entries.length + r.malformed.length;
    }
    this.turn.set(turnKey, (start + tried) % n);
    return { out, tried: names };
  }

  /** Up to `count` entries of a queue stream that no consumer has read yet (failover candidates). */
  async unread(queueKey: string, count: number, after?: string): Promise<QueueEntry[]> {
    const groups = (await callWithKey(this.redis, queueKey, ['XINFO', 'GROUPS']).catch(() => [])) as Array<Array<string>>;
    let last = '0-0';
    for (const g of groups) {
      const name = g[g.indexOf('name') + 1];
      if (name === GROUP) last = g[g.indexOf('last-delivered-id') + 1] as string;
    }
    const from = after !== undefined && compareStreamIds(after, last) > 0 ? after : last;
    const reply = (await this.redis.xrangeBuffer(queueKey, '(' + from, '+', 'COUNT', count)) as Array<[Buffer, Fields]>;
    const out: QueueEntry[] = [];
    for (const [idBuf, fields] of reply) {
      const e = parseEntry(queueKey, idBuf.toString('latin1'), fields);
      if (e) out.push(e);
    }
    return out;
  }

  /**
   * Moves unread entries of one queue stream to other SMSCs' streams of the
   * same shard (lua/move.lua); returns how many moved.
   */
  async move(srcKey: string, shard: number, moves: ReadonlyArray<{ entryId: string; dstKey: string; id: string; smsc: string; route: string }>): Promise<number> {
    if (moves.length === 0) return 0;
    const sec = new Section(shard, [srcKey]);
    for (const m of moves) sec.push(m.entryId, sec.key(m.dstKey), sec.key(this.keys.msg(m.id)), m.smsc, m.route);
    const [moved] = await runSections(this.redis, 'syMove', [GROUP], [sec]);
    return Number(moved);
  }

  /** Claims entries idle longer than minIdleMs from any consumer (a dead engine node). */
  async autoclaim(consumer: string, queueKey: string, minIdleMs: number, count: number): Promise<QueueEntry[]> {
    const reply = (await this.redis.callBuffer('xautoclaim', queueKey, GROUP, consumer, minIdleMs, '0-0', 'COUNT', count)) as [Buffer, Array<[Buffer, Fields] | null>, Buffer[]?];
    const out: QueueEntry[] = [];
    for (const item of reply[1]) {
      if (!item) continue;
      const e = parseEntry(queueKey, item[0].toString('latin1'), item[1]);
      if (e) out.push(e);
    }
    return out;
  }

  /**
   * Recovery guard against double sending: of entries re-read after a crash or
   * claimed from a dead node, keeps those whose part is still queued and
   * acknowledges the rest (their submit was already recorded, or the message
   * ended meanwhile).
   */
  async splitUnsent(entries: ReadonlyArray<QueueEntry>): Promise<{ unsent: QueueEntry[]; done: QueueEntry[] }> {
    if (entries.length === 0) return { unsent: [], done: [] };
    // One HGET each, sent together (their keys are in many slots: no MULTI, no single pipeline on a cluster).
    const res = await Promise.all(entries.map((e) => (this.keys.shardOf(e.id) === undefined ? Promise.resolve(null) : this.redis.hget(this.keys.msg(e.id), messageField('partState', e.part)))));
    const unsent: QueueEntry[] = [];
    const done: QueueEntry[] = [];
    entries.forEach((e, i) => (this.keys.shardOf(e.id) !== undefined && (res[i] ?? 'q') === 'q' ? unsent : done).push(e));
    await this.dropEntries(done);
    return { unsent, done };
  }

  /** Acknowledges and deletes entries that cannot be sent (malformed, or done): one XACK and one XDEL per stream. */
  async dropEntries(items: ReadonlyArray<{ queueKey: string; entryId: string }>): Promise<void> {
    if (items.length === 0) return;
    const byKey = new Map<string, string[]>();
    for (const it of items) {
      let l = byKey.get(it.queueKey);
      if (l === undefined) byKey.set(it.queueKey, (l = []));
      l.push(it.entryId);
    }
    await Promise.all([...byKey].map(async ([k, ids]) => {
      await this.redis.xack(k, GROUP, ...ids);
      await this.redis.xdel(k, ...ids);
    }));
  }

  // ---- state changes ---------------------------------------------------------

  /** now, evMax, finalTtl: the fixed ARGV every script including common.lua starts with. */
  private head(now: number): Array<string | number> {
    return [now, this.limits.eventsMaxLen, this.limits.finalRetentionSec];
  }

  /** A section of message shard k: events stream, expiry index, usage of the day of `now`. */
  private shardSection(k: number, now: number, more: ReadonlyArray<string> = []): Section {
    return new Section(k, [this.keys.eventsOf(k), this.keys.expiryOf(k), this.keys.usageOf(k, Math.floor(now / DAY_MS)), ...more]);
  }

  /**
   * Records submit_sm_resps. On a Redis Cluster in two steps: link (the
   * receipt mappings, in the shards of the SMSC's message ids) then
   * recordSubmits (the parts, in their messages' shards), each idempotent. On
   * a single Redis both in one call (lua/link-submitted.lua: one script may
   * span slots there). A part's receipt mapping lives until its validity ends
   * plus `receiptGraceSec` (receipts can come that late), at least a minute.
   * Returns the number of early receipts applied.
   */
  async submitted(smsc: string, receiptGraceSec: number, items: ReadonlyArray<SubmittedItem>, now = Date.now()): Promise<number> {
    if (items.length === 0) return 0;
    if (!this.cluster) return await this.linkAndRecord(smsc, receiptGraceSec, items, now);
    const early = await this.link(smsc, receiptGraceSec, items, now);
    return await this.recordSubmits(smsc, items, early, now);
  }

  /** submitted on a single Redis: both steps in one call (lua/link-submitted.lua: it names the message and mapping keys), sections by message shard. */
  private async linkAndRecord(smsc: string, receiptGraceSec: number, items: ReadonlyArray<SubmittedItem>, now: number): Promise<number> {
    const nowSec = Math.floor(now / 1000);
    const secs = new Map<number, Section>();
    const foreign: QueueEntry[] = [];
    for (const it of items) {
      const e = it.entry;
      const k = this.keys.shardOf(e.id);
      if (k === undefined) {
        foreign.push(e);
        continue;
      }
      let s = secs.get(k);
      if (s === undefined) secs.set(k, (s = this.shardSection(k, now)));
      const ttl = Math.max(60, e.validUntilSec - nowSec + receiptGraceSec);
      s.push(s.key(e.queueKey), e.entryId, e.id, e.part, it.rawId, it.normId, this.keys.shards.mappingShard(smsc, it.normId), ttl);
    }
    // Sent before anything is awaited: a receipts call the actor makes right after this one (the same flush)
    // must reach Redis behind it, or its receipts find no mapping and are kept as early ones (applied with
    // the submit: a latency of 0). Awaiting dropEntries first sent most of a flush's receipts ahead.
    const call = runSections(this.redis, 'syLinkSubmitted', [...this.head(now), GROUP, smsc, this.keys.prefix, this.tagList()], [...secs.values()]);
    if (foreign.length > 0) await Promise.all([this.dropEntries(foreign), call]);
    return (await call).reduce<number>((a, r) => a + Number(r), 0);
  }

  /**
   * Step 1 of submitted (lua/link.lua): writes each part's receipt mapping and
   * returns, per item, an early receipt waiting for it ('' for none).
   */
  async link(smsc: string, receiptGraceSec: number, items: ReadonlyArray<SubmittedItem>, now = Date.now()): Promise<string[]> {
    const nowSec = Math.floor(now / 1000);
    const links = new Map<number, { sec: Section; idx: number[] }>();
    items.forEach((it, i) => {
      const j = this.keys.shards.mappingShard(smsc, it.normId);
      let g = links.get(j);
      if (g === undefined) links.set(j, (g = { sec: new Section(j, [this.keys.earlyFlagOf(smsc, j)]), idx: [] }));
      g.idx.push(i);
      const ttl = Math.max(60, it.entry.validUntilSec - nowSec + receiptGraceSec);
      g.sec.push(g.sec.key(this.keys.dlrOf(smsc, it.normId)), g.sec.key(this.keys.earlyDlrOf(smsc, it.normId)), `${it.entry.id}|${it.entry.part}`, ttl);
    });
    const linkList = [...links.values()];
    const early = new Array<string>(items.length).fill('');
    (await runSections(this.redis, 'syLink', [], linkList.map((g) => g.sec))).forEach((r, k) => {
      const g = linkList[k] as { idx: number[] };
      (r as string[]).forEach((e, j) => (early[g.idx[j] as number] = e ?? ''));
    });
    return early;
  }

  /**
   * Step 2 of submitted (lua/submitted.lua): the parts are sent, their entries
   * acknowledged, and early receipts (`early`, from link, or parked in the
   * hash by receipts) applied. Returns how many early receipts were applied.
   */
  async recordSubmits(smsc: string, items: ReadonlyArray<SubmittedItem>, early: ReadonlyArray<string>, now = Date.now()): Promise<number> {
    const secs = new Map<number, Section>();
    const foreign: QueueEntry[] = [];
    items.forEach((it, i) => {
      const k = this.keys.shardOf(it.entry.id);
      if (k === undefined) return void foreign.push(it.entry);
      let s = secs.get(k);
      if (s === undefined) secs.set(k, (s = this.shardSection(k, now)));
      s.push(s.key(it.entry.queueKey), it.entry.entryId, s.key(this.keys.msg(it.entry.id)), it.entry.id, it.entry.part, it.rawId, early[i] ?? '');
    });
    await this.dropEntries(foreign);
    const res = await runSections(this.redis, 'sySubmitted', [...this.head(now), GROUP, smsc], [...secs.values()]);
    return res.reduce<number>((a, r) => a + Number(r), 0);
  }

  async failed(items: ReadonlyArray<FailedItem>, now = Date.now()): Promise<void> {
    const secs = new Map<number, Section>();
    const foreign: QueueEntry[] = [];
    for (const it of items) {
      const k = this.keys.shardOf(it.entry.id);
      if (k === undefined) {
        foreign.push(it.entry);
        continue;
      }
      let s = secs.get(k);
      if (s === undefined) secs.set(k, (s = this.shardSection(k, now)));
      s.push(s.key(it.entry.queueKey), it.entry.entryId, s.key(this.keys.msg(it.entry.id)), it.entry.id, it.entry.part, it.state, it.errCode, it.errText);
    }
    await this.dropEntries(foreign);
    await runSections(this.redis, 'syFailed', [...this.head(now), GROUP], [...secs.values()]);
  }

  /**
   * Records receipts; returns one result per item. On a Redis Cluster in two
   * steps: lookup (the mappings, in the shards of the SMSC's message ids) then
   * applyReceipts (in the messages' shards). On a single Redis both in one
   * call (lua/lookup-receipts.lua). `latencyMs`, when given, gets per item the
   * time from the message's `sent` to this receipt (-1 if unknown). The
   * deliver_sm is answered only after this resolves (a crash before: the SMSC
   * redelivers).
   */
  async receipts(smsc: string, earlyTtlSec: number, items: ReadonlyArray<ReceiptItem>, now = Date.now(), latencyMs?: number[]): Promise<ReceiptResult[]> {
    if (!this.cluster) return await this.lookupAndApply(smsc, earlyTtlSec, items, now, latencyMs);
    const found = await this.lookup(smsc, earlyTtlSec, items);
    return await this.applyReceipts(items, found, now, latencyMs);
  }

  /** receipts on a single Redis: both steps in one call (lua/lookup-receipts.lua: it names every key from the prefix and tags). */
  private async lookupAndApply(smsc: string, earlyTtlSec: number, items: ReadonlyArray<ReceiptItem>, now: number, latencyMs?: number[]): Promise<ReceiptResult[]> {
    if (items.length === 0) return [];
    const kept = this.earlyKept(smsc, earlyTtlSec);
    const keep = kept.total < (this.limits.maxEarlyReceipts ?? MAX_EARLY_RECEIPTS);
    const args: Array<string | number> = [...this.head(now), keep ? earlyTtlSec : 0, this.keys.prefix, this.tagList(), Math.floor(now / DAY_MS), smsc];
    for (const it of items) args.push(it.key, this.keys.shards.mappingShard(smsc, it.key), receiptText(it));
    const flat = (await (this.redis as unknown as Record<string, (...a: Array<string | number>) => Promise<number[]>>).syLookupReceipts(...args)) as number[];
    const codes = new Array<ReceiptResult>(items.length);
    let early = 0;
    for (let i = 0; i < items.length; i++) {
      const c = flat[2 * i] as ReceiptResult;
      codes[i] = c;
      if (c === ReceiptResult.Early) early++;
      latencyMs?.push(flat[2 * i + 1] as number);
    }
    kept.add(early);
    return codes;
  }

  /** The shard tags, shard 0 first, separated by spaces (lookup-receipts.lua builds the keys of a receipt's shard from them). */
  private tagList(): string {
    return (this.tags ??= this.keys.shards.all().map((k) => this.keys.shards.tag(k)).join(' '));
  }

  /**
   * Step 1 of receipts (lua/lookup.lua): per item the part it is for
   * ("id|part"), or '' when it has no mapping yet (kept as an early receipt).
   */
  async lookup(smsc: string, earlyTtlSec: number, items: ReadonlyArray<ReceiptItem>): Promise<string[]> {
    const kept = this.earlyKept(smsc, earlyTtlSec);
    const keep = kept.total < (this.limits.maxEarlyReceipts ?? MAX_EARLY_RECEIPTS);
    const looks = new Map<number, { sec: Section; idx: number[] }>();
    items.forEach((it, i) => {
      const j = this.keys.shards.mappingShard(smsc, it.key);
      let g = looks.get(j);
      if (g === undefined) looks.set(j, (g = { sec: new Section(j, [this.keys.earlyFlagOf(smsc, j)]), idx: [] }));
      g.idx.push(i);
      g.sec.push(g.sec.key(this.keys.dlrOf(smsc, it.key)), g.sec.key(this.keys.earlyDlrOf(smsc, it.key)), it.state, receiptText(it));
    });
    const lookList = [...looks.values()];
    const found = new Array<string>(items.length).fill('');
    (await runSections(this.redis, 'syLookup', [this.limits.finalRetentionSec, keep ? earlyTtlSec : 0], lookList.map((g) => g.sec))).forEach((r, k) => {
      const g = lookList[k] as { idx: number[] };
      (r as string[]).forEach((f, j) => (found[g.idx[j] as number] = f ?? ''));
    });
    kept.add(found.reduce((n, f) => (f === '' ? n + 1 : n), 0));
    return found;
  }

  /**
   * Early receipts this store kept for an SMSC within their lifetime (minute
   * buckets): a receipt with no mapping is kept (de:) for `earlyTtlSec` in case
   * its submit_sm_resp is late, but an SMSC that sends receipts for ids it never
   * gave (a broken or hostile one) must not fill Redis: past MAX_EARLY_RECEIPTS
   * such receipts (StoreLimits.maxEarlyReceipts) are answered and counted
   * unmatched, not kept. One store per
   * actor thread, so the count is per SMSC and node.
   */
  private earlyKept(smsc: string, earlyTtlSec: number): { total: number; add: (n: number) => void } {
    let w = this.early.get(smsc);
    if (w === undefined) this.early.set(smsc, (w = []));
    const minute = Math.floor(Date.now() / 60_000);
    while (w.length > 0 && (w[0] as [number, number])[0] < minute - Math.ceil(earlyTtlSec / 60)) w.shift();
    const win = w;
    return {
      total: win.reduce((a, [, n]) => a + n, 0),
      add: (n) => {
        if (n === 0) return;
        const last = win[win.length - 1];
        if (last !== undefined && last[0] === minute) last[1] += n;
        else win.push([minute, n]);
      },
    };
  }

  /** Step 2 of receipts (lua/receipts.lua): applies each found receipt to its part (`found` from lookup). */
  async applyReceipts(items: ReadonlyArray<ReceiptItem>, found: ReadonlyArray<string>, now = Date.now(), latencyMs?: number[]): Promise<ReceiptResult[]> {
    const codes = new Array<ReceiptResult>(items.length).fill(ReceiptResult.Early);
    const lat = new Array<number>(items.length).fill(-1);
    const secs = new Map<number, { sec: Section; idx: number[] }>();
    items.forEach((it, i) => {
      const f = found[i] ?? '';
      if (f === '') return;
      if (f === '-') return void (codes[i] = ReceiptResult.Gone);
      const bar = f.indexOf('|');
      const id = f.slice(0, bar);
      const k = this.keys.shardOf(id);
      if (k === undefined) return void (codes[i] = ReceiptResult.Gone);
      let g = secs.get(k);
      if (g === undefined) secs.set(k, (g = { sec: this.shardSection(k, now), idx: [] }));
      g.idx.push(i);
      g.sec.push(g.sec.key(this.keys.msg(id)), id, f.slice(bar + 1), it.state, it.errCode, it.errText, it.raw);
    });
    const list = [...secs.values()];
    (await runSections(this.redis, 'syReceipts', this.head(now), list.map((g) => g.sec))).forEach((r, k) => {
      const g = list[k] as { idx: number[] };
      const flat = r as number[];
      g.idx.forEach((i, j) => {
        codes[i] = flat[2 * j] as ReceiptResult;
        lat[i] = flat[2 * j + 1] as number;
      });
    });
    latencyMs?.push(...lat);
    return codes;
  }

  /**
   * Ends or re-scores messages whose validity (or validity + grace) has passed
   * (lua/sweep.lua), up to `limit` per shard; `graceSec` is
   * messages.receiptGraceSec. Returns the most messages one shard met: `limit`
   * means that shard may have more due.
   */
  async sweepExpired(now: number, limit: number, graceSec: number): Promise<number> {
    const shards = this.keys.shards.all();
    const due = await Promise.all(shards.map((k) => this.redis.zrangebyscore(this.keys.expiryOf(k), '-inf', now, 'LIMIT', 0, limit)));
    // An id that is not one of this deployment's (a stray member) is still met: the script finds no hash.
    const hashOf = (id: string, k: number) => (this.keys.shardOf(id) === k ? this.keys.msg(id) : `${this.keys.prefix}m:${this.keys.shards.tag(k)}:${id}`);
    // Each message's SMSC names the queue its unread entries are in (sweep.lua re-checks it).
    const smscOf = await Promise.all(shards.map((k, i) => Promise.all((due[i] as string[]).map((id) => this.redis.hget(hashOf(id, k), messageField('smsc'))))));
    const secs: Section[] = [];
    shards.forEach((k, i) => {
      const ids = due[i] as string[];
      if (ids.length === 0) return;
      const s = this.shardSection(k, now, [this.keys.scheduleOf(k)]);
      ids.forEach((id, j) => {
        const sm = smscOf[i]?.[j] ?? '';
        s.push(s.key(hashOf(id, k)), id, sm === '' ? 0 : s.key(this.keys.queueOf(sm, k)), sm);
      });
      secs.push(s);
    });
    const met = await runSections(this.redis, 'sySweep', [...this.head(now), graceSec * 1000, GROUP], secs);
    return met.reduce<number>((a, r) => Math.max(a, Number(r)), 0);
  }
}

/** The fields of an enqueue.lua profile (what the messages of a tick share), in the script's order after its key indexes. */
interface Profile {
  readonly smsc: string;
  readonly tenant: string;
  readonly minute: number;
  readonly ttlSec: number;
  readonly push: number;
  readonly route: string;
  readonly due: number;
  readonly bd: number;
  readonly holdCode: string;
  readonly holdText: string;
  readonly callbackUrl: string;
  /** Its number in the section (1..P). */
  readonly n: number;
}

/**
 * One section of enqueue.lua (its header has the layout): the messages of
 * one shard, each naming a profile (the fields and keys it shares with the
 * other messages of its tick: tenant, SMSC, route, validity, ...), so that a
 * message costs 12 arguments and its parts, and its shared keys are built
 * once per profile, not once per message.
 */
class EnqueueSection {
  readonly idx: number[] = [];
  private readonly sec: Section;
  private readonly profiles: Profile[] = [];
  private readonly profileArgs: Arg[] = [];
  private readonly items: Arg[] = [];
  private last: Profile | undefined;

  constructor(
    private readonly keys: Keys,
    private readonly shard: number,
    fixed: ReadonlyArray<string>,
    /** The script reads the opt-out lists (single Redis): each profile names its tenant's. */
    private readonly readsLists: boolean,
  ) {
    this.sec = new Section(shard, fixed);
  }

  add(i: number, m: NewMessage, listed: boolean | undefined): void {
    this.idx.push(i);
    const due = m.dueAt ?? 0;
    const minute = Math.floor((due > 0 ? due : m.acceptedAt) / 60_000);
    const p = this.profileOf(m, due, minute);
    const idem = m.idempotency;
    this.items.push(
      this.sec.addKey(this.keys.msgIn(this.shard, m.id)), p.n,
      m.id, m.ref, m.to, m.from, m.dataCoding, m.esmClass, m.parts.length, m.acceptedAt, m.validUntil, (listed === true ? 1 : 0) + (idem === undefined ? 0 : 2),
    );
    for (const part of m.parts) this.items.push(part.shortMessage);
    if (idem !== undefined) this.items.push(this.sec.addKey(this.keys.idempotencyOf(this.shard, m.tenant, idem.key)), idem.bodyHash, idem.windowMs);
  }

  /** The section's profile for m: the last one used when it fits (consecutive messages of a tick mostly share one), else found or added. */
  private profileOf(m: NewMessage, due: number, minute: number): Profile {
    const fits = (p: Profile) =>
      p.smsc === m.smsc && p.tenant === m.tenant && p.minute === minute && p.ttlSec === m.ttlSec && p.push === (m.pushStatus ? 1 : 0) && p.route === m.route &&
      p.due === due && p.bd === (m.billOnDelivery === true ? 1 : 0) && p.holdCode === (m.hold?.code ?? '') && p.holdText === (m.hold?.text ?? '') &&
      p.callbackUrl === (m.callbackUrl ?? '');
    if (this.last !== undefined && fits(this.last)) return this.last;
    let p = this.profiles.find(fits);
    if (p === undefined) {
      const s = this.sec;
      const k = this.shard;
      p = {
        smsc: m.smsc, tenant: m.tenant, minute, ttlSec: m.ttlSec, push: m.pushStatus ? 1 : 0, route: m.route, due, bd: m.billOnDelivery === true ? 1 : 0,
        holdCode: m.hold?.code ?? '', holdText: m.hold?.text ?? '', callbackUrl: m.callbackUrl ?? '', n: this.profiles.length + 1,
      };
      this.profiles.push(p);
      this.profileArgs.push(
        s.key(this.keys.queueOf(m.smsc, k)), s.key(this.keys.parkOf(k, m.tenant)), m.hold === undefined ? 0 : s.key(this.keys.holdOf(k, m.tenant)),
        s.key(this.keys.listIndexOf(k, m.tenant, minute)), s.key(this.keys.listMinutesOf(k, m.tenant)), this.readsLists ? s.key(this.keys.optOut(m.tenant)) : 0,
        m.tenant, m.smsc, m.ttlSec, p.push, m.route, due, p.bd, p.holdCode, p.holdText, minute, p.callbackUrl,
      );
    }
    this.last = p;
    return p;
  }

  /** The section to send: its profiles, then its messages. */
  close(): Section {
    this.sec.push(this.profiles.length);
    this.sec.pushAll(this.profileArgs);
    this.sec.pushAll(this.items);
    return this.sec;
  }
}

/**
 * A section's codes when some were Repeat or Conflict (lua/enqueue.lua): one
 * character per message, then a line "id|code" per Repeat, in order.
 */
function readRepeats(reply: string, idx: ReadonlyArray<number>, out: EnqueueOutcome[]): void {
  const lines = reply.split('\n');
  const codes = lines[0] as string;
  let r = 1;
  idx.forEach((i, j) => {
    const c = codes[j];
    if (c === EnqueueCode.Conflict) out[i] = { conflict: true };
    else if (c === EnqueueCode.Repeat) {
      const [id = '', code = ''] = (lines[r++] ?? '').split('|');
      out[i] = { repeatOf: id, status: DISPOSITION[code as keyof typeof DISPOSITION] ?? 'queued' };
    } else out[i] = DISPOSITION[c as keyof typeof DISPOSITION] ?? 'queued';
  });
}

/** Adds an XREADGROUP reply's entries to `out` (a pending entry deleted meanwhile comes back with nil fields). */
function collect(reply: StreamReply, out: ReadResult): void {
  if (reply === null) return;
  for (const [keyBuf, items] of reply) {
    const queueKey = keyBuf.toString('latin1');
    for (const [idBuf, fields] of items) {
      const entryId = idBuf.toString('latin1');
      const e = fields ? parseEntry(queueKey, entryId, fields) : undefined;
      if (e) out.entries.push(e);
      else out.malformed.push({ queueKey, entryId });
    }
  }
}
