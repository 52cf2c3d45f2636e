/**
 * Encoding choice and segmentation of a message text for SMPP short_message.
 *
 *   all characters in GSM 03.38 → GSM-7, data_coding 0x00, unpacked septets
 *       one part: ≤ 160 septets · concatenated: ≤ 153 septets per part
 *   otherwise                   → UCS-2 (UTF-16BE), data_coding 0x08
 *       one part: ≤ 70 units    · concatenated: ≤ 67 units per part
 *
 * Concatenated parts start with the 6-octet UDH 05 00 03 ref total seq and set
 * esm_class UDHI (0x40). An escape pair (GSM) or a surrogate pair (UCS-2) is
 * never split across parts: the part ends one unit early instead, which is
 * where many gateways garble text.
 */
import { PermanentError } from '../errors.js';
import { decodeGsm, gsmSeptets, writeGsm } from './gsm7.js';

export type TextEncoding = 'gsm7' | 'ucs2';

export interface EncodeOptions {
  /** Concatenation reference (0..255) shared by the parts of this message. */
  readonly concatRef: number;
  readonly maxParts: number;
  /** Force an encoding; default: GSM-7 when possible. */
  readonly encoding?: TextEncoding;
}

export interface EncodedPart {
  /** Exactly the short_message bytes: UDH (when concatenated) + payload. */
  readonly shortMessage: Buffer;
}

export interface EncodedMessage {
  readonly encoding: TextEncoding;
  readonly dataCoding: number;
  readonly esmClass: number;
  readonly parts: EncodedPart[];
}

export const GSM_SINGLE = 160;
export const GSM_PART = 153;
export const UCS2_SINGLE = 70;
export const UCS2_PART = 67;
const UDH_LEN = 6;

const hex4 = (c: number) => 'U+' + c.toString(16).toUpperCase().padStart(4, '0');

/** Scans once: septet count (or -1 when not GSM) and the first lone surrogate. */
function scan(text: string): { septets: number; firstNonGsm: number } {
  let septets = 0;
  let firstNonGsm = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      const hi = c <= 0xdbff;
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (!hi || next < 0xdc00 || next > 0xdfff)
        throw new PermanentError('INVALID_TEXT', `text has a lone surrogate ${hex4(c)} at index ${i} (malformed UTF-16)`);
      if (firstNonGsm < 0) firstNonGsm = i;
      i++;
      continue;
    }
    const n = gsmSeptets(c);
    if (n === 0) {
      if (firstNonGsm < 0) firstNonGsm = i;
    } else septets += n;
  }
  return { septets, firstNonGsm };
}

function udh(out: Buffer, ref: number, total: number, seq: number): void {
  out[0] = 0x05;
  out[1] = 0x00;
  out[2] = 0x03;
  out[3] = ref & 0xff;
  out[4] = total;
  out[5] = seq;
}

function tooLong(parts: number, max: number, enc: TextEncoding): PermanentError {
  return new PermanentError('MESSAGE_TOO_LONG', `text needs ${parts} ${enc === 'gsm7' ? 'GSM-7' : 'UCS-2'} segments; at most ${max} are allowed`);
}

function encodeGsmParts(text: string, septets: number, o: EncodeOptions): EncodedMessage {
  if (septets <= GSM_SINGLE) {
    const b = Buffer.allocUnsafe(septets);
    writeGsm(text, 0, text.length, b, 0);
    return { encoding: 'gsm7', dataCoding: 0x00, esmClass: 0, parts: [{ shortMessage: b }] };
  }
  // Part boundaries (character indexes) with their septet counts.
  const bounds: number[] = [0];
  const sizes: number[] = [];
  let used = 0;
  for (let i = 0; i < text.length; i++) {
    const n = gsmSeptets(text.charCodeAt(i));
    if (used + n > GSM_PART) {
      bounds.push(i);
      sizes.push(used);
      used = 0;
    }
    used += n;
  }
  bounds.push(text.length);
  sizes.push(used);
  const total = sizes.length;
  if (total > o.maxParts || total > 255) throw tooLong(total, o.maxParts, 'gsm7');
  const parts: EncodedPart[] = [];
  for (let p = 0; p < total; p++) {
    const b = Buffer.allocUnsafe(UDH_LEN + (sizes[p] as number));
    udh(b, o.concatRef, total, p + 1);
    writeGsm(text, bounds[p] as number, bounds[p + 1] as number, b, UDH_LEN);
    parts.push({ shortMessage: b });
  }
  return { encoding: 'gsm7', dataCoding: 0x00, esmClass: 0x40, parts };
}

function writeUcs2(text: string, from: number, to: number, out: Buffer, offset: number): void {
  let off = offset;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    out[off++] = c >>> 8;
    out[off++] = c & 0xff;
  }
}

function encodeUcs2Parts(text: string, o: EncodeOptions): EncodedMessage {
  const n = text.length;
  if (n <= UCS2_SINGLE) {
    const b = Buffer.allocUnsafe(n * 2);
    writeUcs2(text, 0, n, b, 0);
    return { encoding: 'ucs2', dataCoding: 0x08, esmClass: 0, parts: [{ shortMessage: b }] };
  }
  const bounds: number[] = [0];
  let start = 0;
  while (start < n) {
    let end = Math.min(n, start + UCS2_PART);
    // Do not end a part between a high and a low surrogate.
    if (end < n) {
      const last = text.charCodeAt(end - 1);
      if (last >= 0xd800 && last <= 0xdbff) end--;
    }
    bounds.push(end);
    start = end;
  }
  const total = bounds.length - 1;
  if (total > o.maxParts || total > 255) throw tooLong(total, o.maxParts, 'ucs2');
  const parts: EncodedPart[] = [];
  for (let p = 0; p < total; p++) {
    const from = bounds[p] as number;
    const to = bounds[p + 1] as number;
    const b = Buffer.allocUnsafe(UDH_LEN + (to - from) * 2);
    udh(b, o.concatRef, total, p + 1);
    writeUcs2(text, from, to, b, UDH_LEN);
    parts.push({ shortMessage: b });
  }
  return { encoding: 'ucs2', dataCoding: 0x08, esmClass: 0x40, parts };
}

export function encodeMessage(text: string, o: EncodeOptions): EncodedMessage {
  const { septets, firstNonGsm } = scan(text);
  if (o.encoding === 'gsm7' && firstNonGsm >= 0) {
    const c = text.codePointAt(firstNonGsm) as number;
    throw new PermanentError('INVALID_TEXT', `character ${hex4(c)} at index ${firstNonGsm} is not in the GSM 03.38 alphabet`);
  }
  if (o.encoding === 'ucs2' || firstNonGsm >= 0) return encodeUcs2Parts(text, o);
  return encodeGsmParts(text, septets, o);
}

/** Decodes a short_message (used by the simulator and tests). */
export function decodeShortMessage(sm: Buffer, dataCoding: number, hasUdh: boolean): { text: string; concat?: { ref: number; total: number; seq: number } } {
  let body = sm;
  let concat: { ref: number; total: number; seq: number } | undefined;
  if (hasUdh && sm.length > 0) {
    const udhl = sm[0] as number;
    let i = 1;
    while (i + 1 < 1 + udhl && i + 1 < sm.length) {
      const iei = sm[i] as number;
      const len = sm[i + 1] as number;
      if (iei === 0x00 && len === 3) concat = { ref: sm[i + 2] as number, total: sm[i + 3] as number, seq: sm[i + 4] as number };
      else if (iei === 0x08 && len === 4) concat = { ref: sm.readUInt16BE(i + 2), total: sm[i + 4] as number, seq: sm[i + 5] as number };
      i += 2 + len;
    }
    body = sm.subarray(1 + udhl);
  }
  let text: string;
  if (dataCoding === 0x08) {
    let s = '';
    for (let i = 0; i + 1 < body.length; i += 2) s += String.fromCharCode(body.readUInt16BE(i));
    text = s;
  } else if (dataCoding === 0x03 || dataCoding === 0x01) text = body.toString('latin1');
  else text = decodeGsm(body);
  return concat === undefined ? { text } : { text, concat };
}
