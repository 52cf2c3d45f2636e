/**
 * Entries of the events stream `{prefix}ev`: one per customer-visible status
 * change, written by the state scripts (lua-scripts.ts), read by the status
 * dispatcher (pushes) and the analytics sink. Fields:
 *   t  tenant
 *   f  the status frame JSON, exactly as pushed to the client:
 *      {"op":"status","id","ref","status","at","error":{"code","text"}}
 *   x  what analytics needs beyond the frame, positional:
 *      smsc|to|parts|acceptedAt|country|mcc|mnc|price|currency
 *   p  '0' when the client asked for no status pushes (absent otherwise)
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
}

/** Reads an entry's field list; undefined when it lacks the tenant or the frame. */
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
  }
  if (tenant === undefined || frame === undefined) return undefined;
  const [smsc = '', to = '', parts = '0', acceptedAt = '0', country = '', mcc = '', mnc = '', price = '0', currency = ''] = x.split('|');
  return { tenant, frame, push, smsc, to, parts: Number(parts), acceptedAt: Number(acceptedAt), country, mcc, mnc, price: Number(price), currency };
}
