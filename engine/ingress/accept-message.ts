/**
 * Turns a checked submit into a message ready to enqueue: E.164 number,
 * GSM-7/UCS-2 encoding (transliterated to GSM-7 when the tenant or the submit
 * asks and every character maps; UCS-2 when the chosen SMSC's alphabet lacks
 * a character of the GSM-7 text) and segments, route, and an id naming the
 * message's shard (ctx.shard: shard-picker.ts; with an idempotency key, the key's shard:
 * a repeat meets the key's record in the same script call). Pure apart from the id counter
 * and the shard picker; the same function serves WebSocket and HTTP ingress.
 *
 * A message with `sendAt` in the future is routed and encoded now (the ack
 * gives its parts and price; NO_ROUTE is a nack, not a later failure) and its
 * validity counts from `sendAt`: "deliver within an hour of 09:00".
 */
import type { Router } from '../../router/index.js';
import { SwitchyardError } from '../errors.js';
import { routeRecord, type NewMessage } from '../queue/redis-store.js';
import { carriesText, encodeMessage, firstNonGsm, transliterateToGsm, type SmscAlphabet } from '../text/index.js';
import { newShardedMessageId } from './message-id.js';
import { normalizeNumber } from './normalize-number.js';
import { submitBodyHash, type Refusal, type SubmitFields } from './parse-submit.js';

export interface AcceptContext {
  /** The current router: hot reload swaps it, so it is read per message. */
  readonly router: () => Router;
  /** The shard of the next message (ShardPicker.next): written into its id. */
  readonly shard: () => number;
  readonly maxParts: number;
  readonly defaultValiditySec: number;
  readonly receiptGraceSec: number;
  /** Bad-number detection: true when this tenant refuses this number (engine/analytics/flagged-numbers.ts); an O(1) lookup. */
  readonly flagged?: (tenant: string, e164: string) => boolean;
  /** Moderation (engine/moderation/): why to hold the message for an admin, or undefined. */
  readonly moderate?: (tenant: string, text: string) => { readonly code: string; readonly text: string } | undefined;
  /** SMSCs whose default alphabet is not GSM 03.38 (smscs[].alphabet latin1, ia5); absent ones carry all of GSM-7. */
  readonly alphabets?: ReadonlyMap<string, SmscAlphabet>;
  /**
   * Idempotency keys (issue 15): the shard of a tenant's key (Keys.idempotencyShard: a repeat must
   * meet its key's record in the same script call) and how long a key is remembered (ms).
   */
  readonly idempotency?: { readonly shardOf: (tenant: string, key: string) => number; readonly windowMs: number };
  /** Per-message callbacks (issue 15): whether the tenant has a webhook, whose secret signs them. */
  readonly hasWebhook?: (tenant: string) => boolean;
}

/** Per-tenant options of the accept path (config tenants[]). */
export interface TenantAcceptOptions {
  readonly transliterate?: boolean;
  readonly billOn?: 'sent' | 'delivered';
}

let concatRef = 0;

export function acceptMessage(ctx: AcceptContext, tenant: string, s: SubmitFields, now: number, opts: TenantAcceptOptions = {}): NewMessage | Refusal {
  const num = normalizeNumber(s.to);
  if (!num.ok) return { code: 'INVALID_NUMBER', error: num.error };
  if (ctx.flagged?.(tenant, num.e164) === true) return { code: 'NUMBER_FLAGGED', error: `+${num.e164} is flagged: its recent messages failed permanently (GET /v1/analytics/bad-numbers has the evidence)` };
  let encoded;
  let text = s.text;
  if ((s.transliterate ?? opts.transliterate) === true && firstNonGsm(text) >= 0) text = transliterateToGsm(text) ?? text;
  try {
    concatRef = (concatRef + 1) & 0xff;
    encoded = encodeMessage(text, { concatRef, maxParts: ctx.maxParts });
  } catch (err) {
    if (err instanceof SwitchyardError) return { code: err.code, error: err.message };
    throw err;
  }
  const route = ctx.router().route({ e164: num.e164, tenant, country: num.country });
  if (!route.ok) return { code: 'NO_ROUTE', error: route.reason };
  // A GSM-7 text with a character the chosen SMSC's alphabet lacks (Latin-1: Greek, €; IA5: accents, £...)
  // goes to it in UCS-2: segments are cut here, so the encoding must be the one that SMSC can send.
  const alphabet = ctx.alphabets?.get(route.smsc);
  if (alphabet !== undefined && encoded.encoding === 'gsm7' && !carriesText(alphabet, text)) {
    try {
      encoded = encodeMessage(text, { concatRef, maxParts: ctx.maxParts, encoding: 'ucs2' });
    } catch (err) {
      if (err instanceof SwitchyardError) return { code: err.code, error: `${err.message} (SMSC ${route.smsc} takes this text in UCS-2: its alphabet, ${alphabet}, lacks some of its characters)` };
      throw err;
    }
  }
  const validitySec = s.validitySec ?? ctx.defaultValiditySec;
  const dueAt = s.sendAt !== undefined && s.sendAt > now ? s.sendAt : 0;
  const start = dueAt > 0 ? dueAt : now;
  const hold = ctx.moderate?.(tenant, s.text);
  const key = s.idempotencyKey;
  const idem = key === undefined ? undefined : ctx.idempotency;
  if (key !== undefined && idem === undefined) return { code: 'INVALID_FIELD', error: 'idempotency keys are not available on this engine' };
  if (s.callbackUrl !== undefined && ctx.hasWebhook?.(tenant) !== true)
    return { code: 'INVALID_FIELD', error: '"callbackUrl" needs the tenant\'s webhook (tenants[].webhook): its secret signs the callbacks' };
  return {
    id: newShardedMessageId(idem === undefined || key === undefined ? ctx.shard() : idem.shardOf(tenant, key), now),
    ...(idem === undefined || key === undefined ? {} : { idempotency: { key, bodyHash: submitBodyHash(s), windowMs: idem.windowMs } }),
    ...(s.callbackUrl === undefined ? {} : { callbackUrl: s.callbackUrl }),
    tenant,
    ref: s.ref,
    to: num.e164,
    from: s.from,
    smsc: route.smsc,
    dataCoding: encoded.dataCoding,
    esmClass: encoded.esmClass,
    parts: encoded.parts,
    acceptedAt: now,
    validUntil: start + validitySec * 1000,
    // The hash outlives the sweep that ends it by an hour, so the final status is readable.
    ttlSec: Math.ceil((start - now) / 1000) + validitySec + ctx.receiptGraceSec + 3600,
    pushStatus: s.dlr,
    route: routeRecord(route),
    hold,
    dueAt,
    billOnDelivery: opts.billOn === 'delivered',
    encoding: encoded.encoding,
    price: Math.round(route.price * encoded.parts.length * 1e6) / 1e6,
    currency: route.currency,
  };
}
