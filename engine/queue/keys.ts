/**
 * Redis key names, in one place (DESIGN.md §7). Every key starts with the
 * configured prefix so that tests and several engines can share one Redis.
 *
 *   {P}q:{smsc:p}        stream partition p of an SMSC's queue (group "g")
 *   {P}m:{id}            message hash (tenant, ref, to, parts, status, ...)
 *   {P}d:{smsc}:{mid}    SMSC message id -> "id|part" for receipt matching
 *   {P}de:{smsc}:{mid}   a receipt that arrived before its submit_sm_resp
 *   {P}dex:{smsc}        set while such early receipts may exist (same TTL)
 *   {P}ev                events stream: every status change (analytics/status-events.ts)
 *   {P}stc:{tenant}      last status entry id pushed to the tenant
 *   {P}exp               sorted set: message id by (validity end + receipt grace)
 *   {P}mnp               hash: ported number (E.164 digits) -> "MCC-MNC"
 *   {P}mnp:ver           bumped on every MNP load; engines reload their copy when it changes
 *   {P}sch               sorted set: scheduled message id by due time (ms); the scheduler moves due ones
 *   {P}ix:{tenant}:{min} list: the tenant's message ids due in that minute (since 1970; acceptance unless
 *                        scheduled), in the order accepted, for GET /v1/messages
 *   {P}ixb:{tenant}      sorted set of the minutes that have an ix list; lists older than
 *                        messages.listRetentionSec are deleted (scheduled ones are due later and stay)
 *   {P}us:{tenant}:{day} hash: usage of the UTC day (days since 1970): m messages, s segments,
 *                        c:<currency> cost in millionths; kept 400 days
 *   {P}qt:{tenant}:{day} accepted messages of the UTC day, for tenants[].dailyQuota (kept 2 days)
 *   {P}oo:{T}            sorted set (score 0, by number): tenant T's opted-out E.164 digits; T = '*' is the global list
 *   {P}oom:{T}           hash: opted-out number -> "atMs|source" (api, admin, mo)
 *   {P}ooev              stream of opt-out changes (k a|r, t tenant or '*', n number): actors re-check queued entries
 *   {P}pz                set of paused tenants; {P}pz:ver bumped on every change; {P}pz:ack hash consumer -> "ver|ms"
 *   {P}hold:{T}          stream: parts of T's messages held for moderation (fields h, b, t, q = their SMSC queue)
 *   {P}park:{T}          stream: parts of T's messages parked while T is paused (same fields)
 *   {P}vol               hash: tenant -> "baseline per minute|ms" (volume anomaly detector, engine/moderation/)
 *   {P}mop:{smsc}:{from}:{to}:{ref}:{total}  hash seq -> text: parts of a concatenated MO message (TTL 1 h)
 *   {P}mou               stream of MO messages no tenant could be attributed (capped)
 *   {P}whq:{tenant}:{node}[:{lane}]  list: the tenant's webhook events waiting for its receiver (engine/webhooks/),
 *                        each the event JSON as posted; per engine node (its dispatcher drains its own) and
 *                        lane (webhook.concurrency; lane 0 has no suffix)
 *   {P}whd:{tenant}      list: the tenant's webhook dead letters ({"failedAt","reason","status","event"})
 *
 * Message hash fields added by opt-out and moderation (besides t, r, to, fr, n, s, ac, sm, v, d, rt, p<i>, ...):
 *   he  first entry id of the message's parts in {P}hold:{T}; hr / ht  why it was held (code, text)
 *   Part state S (stopped: opted out, rejected by a moderator) is final, ranked worst.
 *
 * Message hash fields (m:{id}): t tenant · r ref · to · fr from · n parts · s status ·
 * ac accepted at · sm smsc · v valid until (ms) · d push statuses (0|1) · rt route record ·
 * p<k> part state (q s u D K E U R, S stopped) · i<k> SMSC message id of part k ·
 * ns parts sent · nf parts final · w/we/wt worst part's rank, error code and text ·
 * sa sent at · ua unreachable at · fa final at · qe "partition|entry id" of part 1 in its queue ·
 * bd 1 when billed on delivery · scheduled only: da due at, qh entry header tail,
 * qp partition, b<k> part bytes (removed once queued) · qa queued at (when moved).
 *
 * The Lua scripts (engine/queue/lua/, engine/parking/lua/, ...) build the m:, d:, de:, ev, exp, sch, ix:, ixb: and us: names
 * from the same prefix; keep both in step. Since issue 13 the sharded names below are passed in KEYS, except in
 * engine/queue/lua/lookup-receipts.lua (single Redis only), which builds m:{T}:{id}, ev:{T}, exp:{T} and
 * us:{T}:{day} from the prefix and the shard tags. The fields every state change reads are listed once in message-fields.ts.
 */
import { Shards } from './shards.js';

export const GROUP = 'g';

/** How long an opt-out stays in the shards' oor:{T} sets (ms; older entries are trimmed by the writer). */
export const RECENT_OPT_OUT_MS = 5 * 60_000;

/**
 * The sharded layout (issue 13; DESIGN.md §10, README "Redis Cluster"). `{T}`
 * is the hash tag of a shard (shards.ts), `{c}` the control slot. Every key one
 * script call touches shares one tag:
 *
 *   per message (its shard)     {P}m:{T}:{id}
 *   per shard                   {P}q:{T}:{smsc}     an SMSC's queue stream in that shard (group "g")
 *                               {P}ev:{T}           events stream          {P}exp:{T} expiry index
 *                               {P}sch:{T}          schedule               {P}pz:{T} copy of the paused set
 *                               {P}us:{T}:{day}     usage hash: fields <tenant>|m, <tenant>|s, <tenant>|c:<cur>
 *                               {P}ix:{T}:{tenant}:{min}, {P}ixb:{T}:{tenant}   list index
 *                               {P}hold:{T}:{tenant}, {P}park:{T}:{tenant}      held / parked parts
 *                               {P}oor:{T}          recent opt-outs: "tenant|number" -> ms (closes the acceptance race)
 *                               {P}pzv:{T}          version of the pz:{T} copy
 *                               {P}mop:{T}:{concat key}  parts of a concatenated MO message (the shard of its event)
                               {P}idk:{T}:{tenant length}:{tenant}:{key}  an idempotency key's record
                                                   "hash|id|code" (lua/enqueue.lua; the key's shard: byHash)
 *   receipt mapping (the shard of the SMSC id: Shards.mappingShard)
 *                               {P}d:{T}:{smsc}:{mid}   "id|part" (lua/link.lua)
 *                               {P}de:{T}:{smsc}:{mid}  early receipt "state|err|text|raw" (lua/lookup.lua)
 *                               {P}dex:{T}:{smsc}       set while the shard may hold early receipts of the SMSC
 *   control slot                {P}{c}:<name>       pz, pz:ver, pz:ack, ooev, meta, mou, vol, mnp, mnp:ver, mnp:tmp,
 *                                                   fleet registry and leases
 *   tenant slots                oo:{T}, oom:{T}, qt:{T}:{day}, stc:{T}, whq:{T}:…, whd:{T} as above;
 *                               stc:{T} is a hash shard → last stream id pushed (status-dispatcher.ts)
 *   analytics sink              {P}anb:{consumer}   the batch being inserted (analytics/event-sink.ts)
 */
export class Keys {
  constructor(
    readonly prefix: string,
    readonly shards: Shards = new Shards(1),
  ) {
    if (/[{}]/.test(prefix)) throw new Error(`redis.keyPrefix "${prefix}" must not contain "{" or "}": they would change every key's Redis Cluster slot`);
  }

  // ---- the sharded layout (issue 13) ----------------------------------------

  /** The shard of a message id; undefined for an id that cannot be this deployment's. */
  shardOf(id: string): number | undefined {
    return this.shards.ofId(id);
  }
  /** m:{T}:{id}. The id must be one of this deployment's (shardOf defined): callers check client ids first. */
  msg(id: string): string {
    const k = this.shards.ofId(id);
    if (k === undefined) throw new RangeError(`"${id.slice(0, 40)}" is not a message id of this deployment`);
    return `${this.prefix}m:${this.shards.tag(k)}:${id}`;
  }
  /** m:{T}:{id} of an id whose shard the caller has already found (shardOf): no second check. */
  msgIn(shard: number, id: string): string {
    return `${this.prefix}m:${this.shards.tag(shard)}:${id}`;
  }
  queueOf(smsc: string, shard: number): string {
    return `${this.prefix}q:${this.shards.tag(shard)}:${smsc}`;
  }
  /** Every queue stream of an SMSC, in shard order. */
  queuesOf(smsc: string): string[] {
    return this.shards.all().map((k) => this.queueOf(smsc, k));
  }
  eventsOf(shard: number): string {
    return `${this.prefix}ev:${this.shards.tag(shard)}`;
  }
  expiryOf(shard: number): string {
    return `${this.prefix}exp:${this.shards.tag(shard)}`;
  }
  scheduleOf(shard: number): string {
    return `${this.prefix}sch:${this.shards.tag(shard)}`;
  }
  pausedCopy(shard: number): string {
    return `${this.prefix}pz:${this.shards.tag(shard)}`;
  }
  /** The paused-set version the shard's copy holds (engine/parking/lua/copy-paused.lua: copies only move forward). */
  pausedCopyVersion(shard: number): string {
    return `${this.prefix}pzv:${this.shards.tag(shard)}`;
  }
  /**
   * oor:{T}: the opt-outs of every tenant and the global list of the last
   * RECENT_OPT_OUT_MS, a sorted set: member "tenant|number" (E.164 digits;
   * tenant '*' for the global list), score the ms (the writer's clock) just
   * after the number went on its list (a removal takes it out). The
   * opt-out store writes every shard's AFTER the list itself (optout-store.ts
   * says why), so a number found here is on its list already; at most
   * OOR_MAX_ENTRIES per shard. enqueue.lua and the parking moves read it.
   */
  recentOptOuts(shard: number): string {
    return `${this.prefix}oor:${this.shards.tag(shard)}`;
  }
  /** Parts of a concatenated MO message waiting for the rest (engine/mo/), in the shard of its MO event. */
  moParts(shard: number, concatKey: string): string {
    return `${this.prefix}mop:${this.shards.tag(shard)}:${concatKey}`;
  }
  /** `day`: days since 1970-01-01 (UTC); fields <tenant>|m, <tenant>|s, <tenant>|c:<currency>. */
  usageOf(shard: number, day: number): string {
    return `${this.prefix}us:${this.shards.tag(shard)}:${day}`;
  }
  /** `minute`: minutes since 1970 (UTC) of when the messages are due. */
  listIndexOf(shard: number, tenant: string, minute: number): string {
    return `${this.prefix}ix:${this.shards.tag(shard)}:${tenant}:${minute}`;
  }
  listMinutesOf(shard: number, tenant: string): string {
    return `${this.prefix}ixb:${this.shards.tag(shard)}:${tenant}`;
  }
  holdOf(shard: number, tenant: string): string {
    return `${this.prefix}hold:${this.shards.tag(shard)}:${tenant}`;
  }
  parkOf(shard: number, tenant: string): string {
    return `${this.prefix}park:${this.shards.tag(shard)}:${tenant}`;
  }
  /** The receipt mapping of an SMSC's (normalised) message id, in that id's own shard. */
  dlrOf(smsc: string, mid: string): string {
    return `${this.prefix}d:${this.shards.tag(this.shards.mappingShard(smsc, mid))}:${smsc}:${mid}`;
  }
  /** dlrOf when the caller has the mapping shard already (Shards.mappingShard). */
  dlrIn(shard: number, smsc: string, mid: string): string {
    return `${this.prefix}d:${this.shards.tag(shard)}:${smsc}:${mid}`;
  }
  earlyDlrIn(shard: number, smsc: string, mid: string): string {
    return `${this.prefix}de:${this.shards.tag(shard)}:${smsc}:${mid}`;
  }
  earlyDlrOf(smsc: string, mid: string): string {
    return `${this.prefix}de:${this.shards.tag(this.shards.mappingShard(smsc, mid))}:${smsc}:${mid}`;
  }
  /**
   * The description of the batch an analytics sink consumer is inserting (its
   * shards' first|last|count; analytics/event-sink.ts), in the consumer's own slot.
   */
  analyticsBatch(consumer: string): string {
    return `${this.prefix}anb:{${consumer}}`;
  }
  /**
   * An idempotency key's record (issue 15, lua/enqueue.lua), in the shard its
   * tenant and key hash to (idempotencyShard): the message a repeat returns.
   * The tenant's length keeps tenant "a:b" + key "c" apart from "a" + "b:c".
   */
  idempotencyOf(shard: number, tenant: string, key: string): string {
    return `${this.prefix}idk:${this.shards.tag(shard)}:${tenant.length}:${tenant}:${key}`;
  }
  /** The shard of a tenant's idempotency key: a repeated key's message goes to the shard its record is in. */
  idempotencyShard(tenant: string, key: string): number {
    return this.shards.byHash(`${tenant}|${key}`);
  }
  /** dex:{T}:{smsc}: set while early receipts of the SMSC may exist in mapping shard `shard` (lua/lookup.lua). */
  earlyFlagOf(smsc: string, shard: number): string {
    return `${this.prefix}dex:${this.shards.tag(shard)}:${smsc}`;
  }
  /** A key of the control slot {c}: small, rarely written state every node shares. */
  control(name: string): string {
    return `${this.prefix}{c}:${name}`;
  }

  // ---- the unsharded layout (until every module has moved) -------------------
  queue(smsc: string, partition: number): string {
    return `${this.prefix}q:{${smsc}:${partition}}`;
  }
  message(id: string): string {
    return `${this.prefix}m:${id}`;
  }
  dlr(smsc: string, mid: string): string {
    return `${this.prefix}d:${smsc}:${mid}`;
  }
  events(): string {
    return `${this.prefix}ev`;
  }
  expiry(): string {
    return `${this.prefix}exp`;
  }
  mnp(): string {
    return `${this.prefix}mnp`;
  }
  mnpVersion(): string {
    return `${this.prefix}mnp:ver`;
  }
  /** A tenant's opt-out list ('*': the global one). */
  optOut(tenant: string): string {
    return `${this.prefix}oo:{${tenant}}`;
  }
  optOutMeta(tenant: string): string {
    return `${this.prefix}oom:{${tenant}}`;
  }
  optOutEvents(): string {
    return `${this.prefix}ooev`;
  }
  paused(): string {
    return `${this.prefix}pz`;
  }
  hold(tenant: string): string {
    return `${this.prefix}hold:{${tenant}}`;
  }
  park(tenant: string): string {
    return `${this.prefix}park:{${tenant}}`;
  }
  volume(): string {
    return `${this.prefix}vol`;
  }
  unattributedMo(): string {
    return `${this.prefix}mou`;
  }
  statusCursor(tenant: string): string {
    return `${this.prefix}stc:{${tenant}}`;
  }
  schedule(): string {
    return `${this.prefix}sch`;
  }
  /** `minute`: minutes since 1970 (UTC) of when the messages are due. */
  listIndex(tenant: string, minute: number): string {
    return `${this.prefix}ix:{${tenant}}:${minute}`;
  }
  listMinutes(tenant: string): string {
    return `${this.prefix}ixb:{${tenant}}`;
  }
  /** `day`: days since 1970-01-01 (UTC). */
  usage(tenant: string, day: number): string {
    return `${this.prefix}us:{${tenant}}:${day}`;
  }
  quota(tenant: string, day: number): string {
    return `${this.prefix}qt:{${tenant}}:${day}`;
  }
  webhookQueue(tenant: string, node: string, lane = 0): string {
    return `${this.prefix}whq:{${tenant}}:${node}${lane === 0 ? '' : `:${lane}`}`;
  }
  webhookDeadLetters(tenant: string): string {
    return `${this.prefix}whd:{${tenant}}`;
  }
}
