/**
 * Field validation of one `submit` (WebSocket item or HTTP body) into a checked
 * record. Every refusal has a stable code and a text that names the field.
 * Number validation, text encoding and routing come after (accept-message.ts).
 */
import type { ErrorCode } from '../errors.js';

export interface SubmitFields {
  readonly ref: string;
  readonly to: string;
  readonly from: string;
  readonly text: string;
  readonly validitySec: number | undefined;
  readonly dlr: boolean;
}

export interface Refusal {
  readonly code: ErrorCode;
  readonly error: string;
}

const SENDER_ALNUM = /^[A-Za-z0-9 ._-]{1,11}$/;
const SENDER_DIGITS = /^\+?[0-9]{1,15}$/;
const KNOWN = new Set(['op', 'ref', 'to', 'from', 'text', 'validity', 'dlr', 'sendAt']);

function refuse(error: string, code: ErrorCode = 'INVALID_FIELD'): Refusal {
  return { code, error };
}

/** Returns the checked fields, or a refusal. `maxValiditySec` bounds `validity`. */
export function parseSubmit(item: unknown, maxValiditySec: number): SubmitFields | Refusal {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return refuse('a submit must be a JSON object');
  const o = item as Record<string, unknown>;
  for (const k in o) if (!KNOWN.has(k)) return refuse(`unknown field "${k}"`);
  const { ref = '', to, from, text, validity, dlr = true, sendAt } = o;
  if (typeof ref !== 'string' || ref.length > 64) return refuse('"ref" must be a string of at most 64 characters');
  if (typeof to !== 'string' || to === '') return refuse('"to" is required: the destination number in E.164, e.g. "+4791234567"');
  if (typeof from !== 'string' || from === '') return refuse('"from" is required: a sender id (1-11 letters/digits) or a number');
  if (!SENDER_ALNUM.test(from) && !SENDER_DIGITS.test(from))
    return refuse('"from" must be 1-11 letters, digits, space, ".", "_" or "-", or a number of up to 15 digits');
  if (typeof text !== 'string') return refuse('"text" is required and must be a string');
  if (validity !== undefined && (typeof validity !== 'number' || !Number.isInteger(validity) || validity < 60 || validity > maxValiditySec))
    return refuse(`"validity" must be whole seconds between 60 and ${maxValiditySec}`);
  if (typeof dlr !== 'boolean') return refuse('"dlr" must be true or false');
  if (sendAt !== undefined) return refuse('"sendAt" (scheduled sending) is not supported by this version');
  return { ref, to, from: from.startsWith('+') ? from.slice(1) : from, text, validitySec: validity as number | undefined, dlr };
}

export function isRefusal(x: SubmitFields | Refusal): x is Refusal {
  return (x as Refusal).code !== undefined;
}
