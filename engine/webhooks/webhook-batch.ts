/**
 * The bytes of a webhook POST, built by string concatenation from what the
 * events stream already holds (no parse, no re-serialisation per event):
 *
 *   {"v":1,"tenant":"acme","events":[<event>,<event>,…]}
 *
 * where each <event> is the entry's frame (`f`, analytics/status-events.ts)
 * with its stream id spliced in first — exactly the frame a WebSocket client
 * gets: {"eid":"s3-1732290000000-0","op":"status","id":…} or {"eid":…,"op":"mo",…}.
 * The Redis queue and the dead-letter list hold events in this form, so a
 * queued batch is posted as stored.
 */

/**
 * An event as posted: the frame with `eid` first, and for a status event
 * (issue 15) what people look for in a callback, from the entry's `x`
 * (smsc|to|parts|acceptedAt|country|mcc|mnc|price per part|currency|…) and
 * `o` (from|callbackUrl) fields: `to` (E.164 with +), `from`, `parts`,
 * `price` (all parts) and `currency`, and `callbackUrl` when the submit gave
 * one (TenantChannel posts the event there). `ref` is in the frame already.
 */
export function webhookEvent(eid: string, frame: string, x?: string, o?: string): string {
  if (x === undefined || o === undefined) return `{"eid":"${eid}",${frame.slice(1)}`;
  const f = x.split('|', 9);
  const bar = o.indexOf('|');
  const from = bar < 0 ? o : o.slice(0, bar);
  const cb = bar < 0 ? '' : o.slice(bar + 1);
  const parts = Number(f[2]) || 0;
  const price = Math.round((Number(f[7]) || 0) * parts * 1e6) / 1e6;
  const extra = `"to":"+${f[1] ?? ''}","from":${JSON.stringify(from)},"parts":${parts},"price":${price},"currency":${JSON.stringify(f[8] ?? '')}${cb === '' ? '' : `,"callbackUrl":${JSON.stringify(cb)}`}`;
  return `{"eid":"${eid}",${extra},${frame.slice(1)}`;
}

const CALLBACK_AT = '"callbackUrl":"';

/** The per-message callback URL of a posted event, or undefined (the tenant's webhook). */
export function callbackOf(event: string): string | undefined {
  const i = event.indexOf(CALLBACK_AT);
  if (i < 0) return undefined;
  const from = i + CALLBACK_AT.length;
  return event.slice(from, event.indexOf('"', from));
}

/** How many of the first `max` events go to the same URL as the first (one POST goes to one URL). */
export function sameTarget(events: ReadonlyArray<string>, max: number): number {
  const n = Math.min(max, events.length);
  if (n <= 1) return n;
  const t = callbackOf(events[0] as string);
  let k = 1;
  while (k < n && callbackOf(events[k] as string) === t) k++;
  return k;
}

/** The POST body of a batch of events (each from webhookEvent). */
export function webhookBatch(tenant: string, events: ReadonlyArray<string>): string {
  return `{"v":1,"tenant":${JSON.stringify(tenant)},"events":[${events.join(',')}]}`;
}

/**
 * The lane (0..lanes-1) of an events-stream frame: by message id for statuses,
 * by sender for MO messages, so one message's events (and one phone's MO
 * messages) always share a lane and stay in order. The keys are found by
 * text: `"id":"` cannot occur inside a JSON string value (its quotes would be escaped).
 */
export function laneOf(frame: string, lanes: number): number {
  if (lanes <= 1) return 0;
  const key = frame.includes('"op":"mo"') ? '"from":"' : '"id":"';
  const i = frame.indexOf(key);
  if (i < 0) return 0;
  const end = frame.indexOf('"', i + key.length);
  // FNV-1a over the value's UTF-16 units.
  let h = 0x811c9dc5;
  for (let k = i + key.length; k < end; k++) h = Math.imul(h ^ frame.charCodeAt(k), 0x01000193);
  return (h >>> 0) % lanes;
}

const EID_AT = '{"eid":"'.length;

/**
 * When the event happened: the milliseconds of its eid, `s<K>-<ms>-<seq>` or
 * the unsharded `<ms>-<seq>` of events queued before the streams were sharded
 * (NaN when it has none). Read as `<K>-` of the first form, the shard number
 * made every event look 50 years old or none expire.
 */
export function eventTime(event: string): number {
  const at = event.charCodeAt(EID_AT) === 0x73 /* s */ ? event.indexOf('-', EID_AT) + 1 : EID_AT;
  return Number(event.slice(at, event.indexOf('-', at)));
}

export type DeadLetterReason = 'refused' | 'expired' | 'queue_full';

/**
 * A dead letter: why and when it failed, with the event LAST (the replay script
 * takes the text after `,"event":` as the event; nothing before it can contain that).
 */
export function deadLetter(event: string, failedAt: number, reason: DeadLetterReason, status: number | undefined, error: string): string {
  return `{"failedAt":${failedAt},"reason":"${reason}","status":${status ?? 'null'},"error":${JSON.stringify(error)},"event":${event}}`;
}
