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
 *   {P}whq:{tenant}:{node}[:{lane}]  list: the tenant's webhook events waiting for its receiver (engine/webhooks/),
 *                        each the event JSON as posted; per engine node (its dispatcher drains its own) and
 *                        lane (webhook.concurrency; lane 0 has no suffix)
 *   {P}whd:{tenant}      list: the tenant's webhook dead letters ({"failedAt","reason","status","event"})
 *
 * The Lua scripts in lua-scripts.ts build the m:, d:, de:, ev and exp names
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
  webhookQueue(tenant: string, node: string, lane = 0): string {
    return `${this.prefix}whq:{${tenant}}:${node}${lane === 0 ? '' : `:${lane}`}`;
  }
  webhookDeadLetters(tenant: string): string {
    return `${this.prefix}whd:{${tenant}}`;
  }
}
