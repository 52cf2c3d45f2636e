/**
 * Field validation of one `submit` (WebSocket item or HTTP body) into a checked
 * record. Every refusal has a stable code and a text that names the field.
 * A `template` with `vars` is rendered here into the text (render-template.ts).
 * Number validation, text encoding and routing come after (accept-message.ts).
 *
 * A text far longer than any message may be (`maxTextChars`: twice the 153
 * GSM-7 characters per segment × messages.maxParts) is refused
 * MESSAGE_TOO_LONG here, by its length alone: encoding 250 KB of text to find
 * out cost 6 ms, and a batch's `common.text` made every item pay it again.
 * Twice, because transliteration may shorten a text (combining marks and
 * zero-width characters are dropped); texts up to the bound are encoded and
 * the encoder counts their segments exactly.
 */
import { createHash } from 'node:crypto';
import type { ErrorCode } from '../errors.js';
import { renderTemplate } from './render-template.js';

export interface SubmitFields {
  readonly ref: string;
  readonly to: string;
  readonly from: string;
  readonly text: string;
  readonly validitySec: number | undefined;
  readonly dlr: boolean;
  /** When to send (ms since epoch); undefined or not in the future: now. */
  readonly sendAt: number | undefined;
  /** Transliterate to GSM-7 when the text would need UCS-2; undefined: the tenant's default. */
  readonly transliterate: boolean | undefined;
  /** Idempotency key (WS `idempotencyKey`, HTTP `Idempotency-Key`): a repeat within the window returns the first ack. */
  readonly idempotencyKey?: string | undefined;
  /** Where this message's status events go instead of the tenant's webhook (checkCallbackUrl). */
  readonly callbackUrl?: string | undefined;
}

export interface Refusal {
  readonly code: ErrorCode;
  readonly error: string;
}

/** Bounds from the config (messages.*). */
export interface SubmitLimits {
  readonly minValiditySec: number;
  readonly maxValiditySec: number;
  readonly maxScheduleSec: number;
  /** Most characters a text may have (maxTextChars(messages.maxParts)); default that of 255 parts. */
  readonly maxTextChars?: number;
  /** `callbackUrl` may name a loopback, private or link-local address (messages.callbackPrivateAddresses). */
  readonly callbackPrivateAddresses?: boolean;
}

/** Longest idempotency key (Stripe's bound) and callback URL. */
export const MAX_IDEMPOTENCY_KEY_CHARS = 255;
export const MAX_CALLBACK_URL_CHARS = 2048;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/**
 * Literal hosts a callback URL may not name unless messages.callbackPrivateAddresses:
 * loopback, RFC 1918, link-local (cloud metadata 169.254.169.254), CGNAT, unspecified,
 * IPv6 loopback / ULA / link-local. A host name is not resolved here (a DNS look-up
 * per submit, and rebinding would defeat it): see README "Per-message callbacks".
 */
function privateHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(h);
  if (v4 !== null) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return a === 0 || a === 10 || a === 127 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127);
  }
  if (!h.includes(':')) return false;
  return h === '::' || h === '::1' || /^f[cd]/.test(h) || /^fe[89ab]/.test(h) || h.startsWith('::ffff:');
}

/** Checks a submit's `callbackUrl`: the refusal text, or undefined when it is fine. */
function checkCallbackUrl(v: unknown, allowPrivate: boolean): string | undefined {
  if (typeof v !== 'string' || v.length > MAX_CALLBACK_URL_CHARS) return `"callbackUrl" must be an http or https URL of at most ${MAX_CALLBACK_URL_CHARS} characters`;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return '"callbackUrl" is not a valid URL';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `"callbackUrl" must use http or https, not ${u.protocol.slice(0, 20)}`;
  if (u.username !== '' || u.password !== '') return '"callbackUrl" must not carry credentials (user:password@): the events are signed with the tenant\'s webhook secret instead';
  if (!allowPrivate && privateHost(u.hostname)) return `"callbackUrl" names a loopback, private or link-local address (${u.hostname.slice(0, 64)}), which this engine refuses (messages.callbackPrivateAddresses)`;
  return undefined;
}

/** GSM-7 characters per segment of a multipart message (a single part holds 160). */
const CHARS_PER_PART = 153;

/**
 * The longest text (or rendered template) worth encoding for `maxParts`
 * segments: twice what GSM-7 without escapes, the densest encoding, fits.
 * Beyond it a text cannot fit even after transliteration shortened it.
 */
export function maxTextChars(maxParts: number): number {
  return 2 * (maxParts <= 1 ? 160 : CHARS_PER_PART * maxParts);
}

const SENDER_ALNUM = /^[A-Za-z0-9 ._-]{1,11}$/;
const SENDER_DIGITS = /^\+?[0-9]{1,15}$/;
/** ISO 8601 date-time with a zone (Z or ±hh:mm): a zoneless time would be read in the server's zone. */
const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;
const KNOWN = new Set(['op', 'ref', 'to', 'from', 'text', 'validity', 'dlr', 'sendAt', 'template', 'vars', 'transliterate', 'idempotencyKey', 'callbackUrl']);

function refuse(error: string, code: ErrorCode = 'INVALID_FIELD'): Refusal {
  return { code, error };
}

/** `sendAt` as ms since epoch, or a refusal text. */
function readSendAt(v: unknown, now: number, maxScheduleSec: number): number | string {
  let ms: number;
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 1e12) return '"sendAt" as a number must be whole milliseconds since 1970 (e.g. 1767225600000)';
    ms = v;
  } else if (typeof v === 'string') {
    if (!ISO_WITH_ZONE.test(v)) return '"sendAt" must be an ISO 8601 time with a zone (e.g. "2026-12-01T09:00:00Z" or "2026-12-01T10:00:00+01:00") or milliseconds since 1970';
    ms = Date.parse(v);
    if (Number.isNaN(ms)) return `"sendAt" ${JSON.stringify(v)} is not a valid time`;
  } else return '"sendAt" must be an ISO 8601 time or milliseconds since 1970';
  if (ms > now + maxScheduleSec * 1000) return `"sendAt" is more than ${maxScheduleSec} seconds ahead`;
  return ms;
}

/** Returns the checked fields, or a refusal. */
export function parseSubmit(item: unknown, limits: SubmitLimits, now = Date.now()): SubmitFields | Refusal {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return refuse('a submit must be a JSON object');
  const o = item as Record<string, unknown>;
  for (const k in o) if (!KNOWN.has(k)) return refuse(`unknown field "${k}"`);
  const { ref = '', to, from, validity, dlr = true, sendAt, template, vars, transliterate, idempotencyKey, callbackUrl } = o;
  const maxChars = limits.maxTextChars ?? maxTextChars(255);
  let { text } = o;
  if (typeof ref !== 'string' || ref.length > 64) return refuse('"ref" must be a string of at most 64 characters');
  if (typeof to !== 'string' || to === '') return refuse('"to" is required: the destination number in E.164, e.g. "+4791234567"');
  if (typeof from !== 'string' || from === '') return refuse('"from" is required: a sender id (1-11 letters/digits) or a number');
  if (!SENDER_ALNUM.test(from) && !SENDER_DIGITS.test(from))
    return refuse('"from" must be 1-11 letters, digits, space, ".", "_" or "-", or a number of up to 15 digits');
  if (template !== undefined) {
    if (text !== undefined) return refuse('give either "text" or "template", not both');
    const r = renderTemplate(template, vars, maxChars);
    if (typeof r !== 'string') return r;
    text = r;
  } else if (vars !== undefined) return refuse('"vars" needs a "template"');
  if (typeof text !== 'string') return refuse('"text" is required and must be a string (or give "template" and "vars")');
  if (text.length > maxChars)
    return refuse(`text of ${text.length} characters needs at least ${Math.ceil(text.length / CHARS_PER_PART)} segments, more than messages.maxParts allows (texts over ${maxChars} characters are refused unread)`, 'MESSAGE_TOO_LONG');
  const { minValiditySec: lo, maxValiditySec: hi } = limits;
  if (validity !== undefined && (typeof validity !== 'number' || !Number.isInteger(validity) || validity < lo || validity > hi))
    return refuse(`"validity" must be whole seconds between ${lo} and ${hi}`);
  if (typeof dlr !== 'boolean') return refuse('"dlr" must be true or false');
  if (transliterate !== undefined && typeof transliterate !== 'boolean') return refuse('"transliterate" must be true or false');
  if (idempotencyKey !== undefined && (typeof idempotencyKey !== 'string' || !IDEMPOTENCY_KEY.test(idempotencyKey)))
    return refuse(`"idempotencyKey" (or the Idempotency-Key header) must be 1-${MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters without spaces`);
  if (callbackUrl !== undefined) {
    const why = checkCallbackUrl(callbackUrl, limits.callbackPrivateAddresses === true);
    if (why !== undefined) return refuse(why);
  }
  let at: number | undefined;
  if (sendAt !== undefined) {
    const r = readSendAt(sendAt, now, limits.maxScheduleSec);
    if (typeof r === 'string') return refuse(r);
    at = r;
  }
  return {
    ref,
    to,
    from: from.startsWith('+') ? from.slice(1) : from,
    text,
    validitySec: validity as number | undefined,
    dlr,
    sendAt: at,
    transliterate: transliterate as boolean | undefined,
    ...(idempotencyKey === undefined ? {} : { idempotencyKey: idempotencyKey as string }),
    // As the URL parser writes it: no quote or backslash survives (the webhook channel finds it in the event's text).
    ...(callbackUrl === undefined ? {} : { callbackUrl: new URL(callbackUrl as string).href }),
  };
}

/**
 * What a repeated idempotency key's submit must match: every field that
 * decides the message (the key itself and `ref` aside, so a resend with a new
 * ref is still the same message). sha256, 22 base64url characters.
 */
export function submitBodyHash(s: SubmitFields): string {
  const body = JSON.stringify([s.to, s.from, s.text, s.validitySec ?? null, s.dlr, s.sendAt ?? null, s.transliterate ?? null, s.callbackUrl ?? null]);
  return createHash('sha256').update(body).digest('base64url').slice(0, 22);
}

export function isRefusal(x: SubmitFields | Refusal): x is Refusal {
  return (x as Refusal).code !== undefined;
}
