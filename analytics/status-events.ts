/**
 * Entries of the events stream `{prefix}ev`: one per customer-visible status
 * change, written by the state scripts (engine/queue/lua/), read by the status
 * dispatcher (pushes) and the analytics sink. Fields:
 *   t  tenant
 *   f  the status frame JSON, exactly as pushed to the client:
 *      {"op":"status","id","ref","status","at","error":{"code","text"}}
 *   x  what analytics needs beyond the frame, positional:
 *      smsc|to|parts|acceptedAt|country|mcc|mnc|price|currency|latencyMs|raw
 *      latencyMs: ms from `sent` to the receipt that caused this event ('' when
 *      no receipt caused it); raw: that receipt's text as the operator sent it,
 *      kept for failures ('' for delivered receipts and for other events). raw
 *      is last and may itself contain '|'. Entries written before these two
 *      fields existed simply lack them.
 *   p  '0' when the client asked for no status pushes (absent otherwise)
 *   k  'mo' on a mobile-originated message entry (engine/mo/mo-store.ts): f is
 *      then the MO frame {"op":"mo","id","from","to","text","at","smsc","optOut"},
 *      there is no x and no p; not a status change: the analytics sink skips it,
 *      the status dispatcher and the webhook dispatcher pass it on like a status.
 * Any status string is accepted (issue 6 adds scheduled, queued, paused, ...).
 */
export interface StatusEvent {
  readonly tenant: string;
  readonly frame: string;
  readonly push: boolean;
  readonly smsc: string;
  readonly to: string;
  readonly parts: number;
  readonly acceptedAt: number;
  readonly country: string;
  readonly mcc: string;
  readonly mnc: string;
  /** Price per segment in `currency`, as routed. */
  readonly price: number;
  readonly currency: string;
  /** sent → the receipt that caused this event (ms); undefined when no receipt caused it. */
  readonly latencyMs: number | undefined;
  /** The operator's receipt text for failures ('' otherwise). */
  readonly raw: string;
}

/** True for an entry that is not a status change (an MO message, `k`='mo'). */
export function isMoEntry(fields: ReadonlyArray<string>): boolean {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 'k') return fields[i + 1] === 'mo';
  return false;
}

/** Reads an entry's field list; undefined when it lacks the tenant or the frame, or is an MO entry. */
export function parseStatusEvent(fields: ReadonlyArray<string>): StatusEvent | undefined {
  let tenant: string | undefined;
  let frame: string | undefined;
  let x = '';
  let push = true;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const k = fields[i];
    const v = fields[i + 1] as string;
    if (k === 't') tenant = v;
    else if (k === 'f') frame = v;
    else if (k === 'x') x = v;
    else if (k === 'p') push = v !== '0';
    else if (k === 'k' && v === 'mo') return undefined;
  }
  if (tenant === undefined || frame === undefined) return undefined;
  const parts = x.split('|');
  const [smsc = '', to = '', n = '0', acceptedAt = '0', country = '', mcc = '', mnc = '', price = '0', currency = '', lat = ''] = parts;
  const raw = parts.length > 11 ? parts.slice(10).join('|') : (parts[10] ?? '');
  return {
    tenant, frame, push, smsc, to, parts: Number(n), acceptedAt: Number(acceptedAt), country, mcc, mnc, price: Number(price), currency,
    latencyMs: lat === '' || !Number.isFinite(Number(lat)) ? undefined : Math.max(0, Number(lat)),
    raw,
  };
}
