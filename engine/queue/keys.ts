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
 *
 * Message hash fields (m:{id}): t tenant · r ref · to · fr from · n parts · s status ·
 * ac accepted at · sm smsc · v valid until (ms) · d push statuses (0|1) · rt route record ·
 * p<k> part state (q s u D K E U R, X stopped) · i<k> SMSC message id of part k ·
 * ns parts sent · nf parts final · w/we/wt worst part's rank, error code and text ·
 * sa sent at · ua unreachable at · fa final at · qe "partition|entry id" of part 1 in its queue ·
 * bd 1 when billed on delivery · scheduled only: da due at, qh entry header tail,
 * qp partition, b<k> part bytes (removed once queued) · qa queued at (when moved).
 *
 * The Lua scripts in lua-scripts.ts and lifecycle-scripts.ts build the m:, d:, de:, ev, exp, sch, ix:, ixb: and us: names
 * from the same prefix; keep both in step.
 */
export const GROUP = 'g';

export class Keys {
  constructor(readonly prefix: string) {}
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
}
