/**
 * Encoding choice and segmentation of a message text into SMPP short_message
 * octets. Pure; runs on the ingress hot path for every message.
 *
 *   every character in GSM 03.38 → GSM-7, data_coding 0x00, unpacked septets
 *       one part: ≤ 160 septets   · concatenated: ≤ 153 septets per part
 *   otherwise                     → UCS-2 (UTF-16BE), data_coding 0x08
 *       one part: ≤ 70 code units · concatenated: ≤ 67 code units per part
 *
 * A concatenated part is the 6-octet UDH then the payload, and the message
 * sets esm_class UDHI (0x40):
 *
 *   +------+------+------+-----+-------+-----+------------------------------+
 *   | UDHL | IEI  | IEDL | ref | total | seq | payload                      |
 *   | 0x05 | 0x00 | 0x03 | 1 B | 1 B   | 1-n | ≤153 septets or ≤134 octets  |
 *   +------+------+------+-----+-------+-----+------------------------------+
 *
 * (153 = the 140-octet TPDU minus the 6-octet UDH, as whole septets once the
 * SMSC packs it; SMPP with data_coding 0 carries it unpacked, one septet per
 * octet, so a GSM-7 part is up to 6 + 153 octets here.) An escape pair (GSM)
 * or a surrogate pair (UCS-2) is never split across parts: the part ends one
 * unit early instead, which is where many gateways garble text.
 *
 * Cost, per message: a text of at most 160 characters with no escaped
 * character (the common case) is checked and written in one pass, straight
 * into its part. Any other GSM-7 text is written in one pass into a scratch
 * septet buffer, which is then cut into parts (escape pairs are visible in
 * the septets: 0x1B only ever starts one) and copied out natively. UCS-2
 * computes its part ends arithmetically and checks for lone surrogates while
 * it writes. Scratch lives at module level (safe: the function is synchronous
 * and each worker thread has its own module instance), so the only
 * allocations are the result objects and one Buffer per part. Part Buffers
 * come from Buffer.allocUnsafe and may be slices of Node's shared pool: copy
 * them, do not transfer their `.buffer`.
 */
import { PermanentError } from '../errors.js';
import { decodeGsm, encodeGsmInto, ESC, gsmSeptets, notGsmError, writeGsmUnescaped } from './gsm7.js';
import { decodeDefaultAlphabet, type SmscAlphabet } from './smsc-alphabet.js';

export type TextEncoding = 'gsm7' | 'ucs2';

export interface EncodeOptions {
  /** Concatenation reference for the UDH, 0..255 (only the low 8 bits are used). */
  readonly concatRef: number;
  /** Most parts the message may take; also capped at 255, the UDH's limit. */
  readonly maxParts: number;
  /** Force an encoding; default: GSM-7 when every character allows it, else UCS-2. */
  readonly encoding?: TextEncoding;
}

export interface EncodedPart {
  /** Exactly the short_message octets: UDH (when concatenated) + payload. */
  readonly shortMessage: Buffer;
}

export interface EncodedMessage {
  readonly encoding: TextEncoding;
  /** SMPP data_coding: 0x00 GSM-7 (SMSC default alphabet), 0x08 UCS-2. */
  readonly dataCoding: number;
  /** SMPP esm_class: 0x40 (UDHI) when concatenated, else 0. */
  readonly esmClass: number;
  readonly parts: EncodedPart[];
}

export interface ConcatInfo {
  readonly ref: number;
  readonly total: number;
  readonly seq: number;
}

export interface DecodedShortMessage {
  readonly text: string;
  /** Present when the UDH holds a concatenation IE (8-bit 0x00 or 16-bit 0x08 reference). */
  readonly concat?: ConcatInfo;
}

/** Septets in one unconcatenated GSM-7 message. */
export const GSM_SINGLE = 160;
/** Septets per concatenated GSM-7 part. */
export const GSM_PART = 153;
/** UTF-16 code units in one unconcatenated UCS-2 message (140 octets). */
export const UCS2_SINGLE = 70;
/** UTF-16 code units per concatenated UCS-2 part (134 octets). */
export const UCS2_PART = 67;

const DATA_CODING_GSM7 = 0x00;
const DATA_CODING_UCS2 = 0x08;
const ESM_CLASS_UDHI = 0x40;
const UDH_LEN = 6;
/** total and seq are one octet each in the 8-bit concatenation IE. */
const MAX_UDH_PARTS = 255;

// Scratch, reused by every call: where each part ends (exclusive; a septet
// index for GSM-7, a code unit index for UCS-2), and the septets of a GSM-7
// text before they are copied into parts. The septet scratch holds any text
// that can fit in 255 parts (at most 2 septets per character); a longer one,
// bound to fail, gets a buffer of its own so that the error can still say
// exactly how many parts it needed.
const PART_END = new Int32Array(MAX_UDH_PARTS);
const MAX_SCRATCH_CHARS = MAX_UDH_PARTS * GSM_PART;
const SCRATCH = Buffer.allocUnsafeSlow(2 * MAX_SCRATCH_CHARS);

const hex = (cp: number): string => 'U+' + cp.toString(16).toUpperCase().padStart(4, '0');

function loneSurrogate(text: string, index: number): PermanentError {
  return new PermanentError('INVALID_TEXT', `text has a lone surrogate ${hex(text.charCodeAt(index))} at index ${index} (malformed UTF-16)`);
}

/** Index of the first lone surrogate at or after `from`, or -1 when the text is well-formed UTF-16. */
function findLoneSurrogate(text: string, from: number): number {
  const len = text.length;
  for (let i = from; i < len; i++) {
    const c = text.charCodeAt(i);
    if ((c & 0xf800) !== 0xd800) continue;
    if (c > 0xdbff || i + 1 >= len || (text.charCodeAt(i + 1) & 0xfc00) !== 0xdc00) return i;
    i++;
  }
  return -1;
}

function partLimit(maxParts: number): number {
  return maxParts < MAX_UDH_PARTS ? maxParts : MAX_UDH_PARTS;
}

function tooLong(needed: number, maxParts: number, encoding: TextEncoding): PermanentError {
  const name = encoding === 'gsm7' ? 'GSM-7' : 'UCS-2';
  const limit = partLimit(maxParts);
  const why = limit < maxParts ? ' (the concatenation header counts at most 255)' : '';
  return new PermanentError('MESSAGE_TOO_LONG', `text needs ${needed} ${name} segments; at most ${limit} are allowed${why}`);
}

function writeUdh(out: Buffer, ref: number, total: number, seq: number): void {
  out[0] = 0x05; // UDHL: 5 octets follow
  out[1] = 0x00; // IEI: concatenated short message, 8-bit reference
  out[2] = 0x03; // IEDL
  out[3] = ref & 0xff;
  out[4] = total;
  out[5] = seq;
}

/**
 * Writes text[from, to) as UTF-16BE into out at offset, checking surrogates
 * on the way (one test per unit in the common case). Returns -1, or the index
 * of a lone surrogate, out then being partly written. A high surrogate that
 * ends the range is lone: part boundaries never fall inside a pair.
 */
function writeUcs2(text: string, from: number, to: number, out: Buffer, offset: number): number {
  let o = offset;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if ((c & 0xf800) === 0xd800) {
      if (c > 0xdbff || i + 1 >= to || (text.charCodeAt(i + 1) & 0xfc00) !== 0xdc00) return i;
      out[o++] = c >>> 8;
      out[o++] = c & 0xff;
      const d = text.charCodeAt(++i);
      out[o++] = d >>> 8;
      out[o++] = d & 0xff;
      continue;
    }
    out[o++] = c >>> 8;
    out[o++] = c & 0xff;
  }
  return -1;
}

function singleGsm(b: Buffer): EncodedMessage {
  return { encoding: 'gsm7', dataCoding: DATA_CODING_GSM7, esmClass: 0, parts: [{ shortMessage: b }] };
}

/**
 * Splits the septets that encodeGsmInto wrote to `septets` into parts and
 * copies each out. Greedy: a part ends after 153 septets, or after 152 when
 * the 153rd is an escape prefix, so the pair moves whole to the next part.
 */
function encodeGsmParts(septets: Buffer, count: number, options: EncodeOptions): EncodedMessage {
  const limit = partLimit(options.maxParts);
  if (count <= GSM_SINGLE) {
    if (limit < 1) throw tooLong(1, options.maxParts, 'gsm7');
    const b = Buffer.allocUnsafe(count);
    septets.copy(b, 0, 0, count);
    return singleGsm(b);
  }
  let total = 0;
  for (let from = 0; from < count; ) {
    let end = from + GSM_PART;
    if (end >= count) end = count;
    else if (septets[end - 1] === ESC) end--;
    if (total < MAX_UDH_PARTS) PART_END[total] = end;
    total++; // counts on past 255 so that the error can say how many
    from = end;
  }
  if (total > limit) throw tooLong(total, options.maxParts, 'gsm7');
  const parts: EncodedPart[] = new Array<EncodedPart>(total);
  let from = 0;
  for (let p = 0; p < total; p++) {
    const to = PART_END[p];
    const b = Buffer.allocUnsafe(UDH_LEN + to - from);
    writeUdh(b, options.concatRef, total, p + 1);
    septets.copy(b, UDH_LEN, from, to);
    parts[p] = { shortMessage: b };
    from = to;
  }
  return { encoding: 'gsm7', dataCoding: DATA_CODING_GSM7, esmClass: ESM_CLASS_UDHI, parts };
}

function encodeUcs2Parts(text: string, options: EncodeOptions): EncodedMessage {
  const limit = partLimit(options.maxParts);
  const len = text.length;
  if (len <= UCS2_SINGLE) {
    if (limit < 1) throw tooLong(1, options.maxParts, 'ucs2');
    const b = Buffer.allocUnsafe(len * 2);
    const bad = writeUcs2(text, 0, len, b, 0);
    if (bad >= 0) throw loneSurrogate(text, bad);
    return { encoding: 'ucs2', dataCoding: DATA_CODING_UCS2, esmClass: 0, parts: [{ shortMessage: b }] };
  }
  // Boundaries are arithmetic, with one look at each: n / 67 steps.
  let total = 0;
  for (let from = 0; from < len; ) {
    let end = from + UCS2_PART;
    if (end >= len) end = len;
    else if ((text.charCodeAt(end - 1) & 0xfc00) === 0xd800) end--; // a high surrogate last: move the pair on
    if (total < MAX_UDH_PARTS) PART_END[total] = end;
    total++;
    from = end;
  }
  if (total > limit) {
    // Malformed text is the more basic fault: report it first, as a short text would.
    const bad = findLoneSurrogate(text, 0);
    throw bad >= 0 ? loneSurrogate(text, bad) : tooLong(total, options.maxParts, 'ucs2');
  }
  const parts: EncodedPart[] = new Array<EncodedPart>(total);
  let from = 0;
  for (let p = 0; p < total; p++) {
    const to = PART_END[p];
    const b = Buffer.allocUnsafe(UDH_LEN + (to - from) * 2);
    writeUdh(b, options.concatRef, total, p + 1);
    const bad = writeUcs2(text, from, to, b, UDH_LEN);
    if (bad >= 0) throw loneSurrogate(text, bad);
    parts[p] = { shortMessage: b };
    from = to;
  }
  return { encoding: 'ucs2', dataCoding: DATA_CODING_UCS2, esmClass: ESM_CLASS_UDHI, parts };
}

/**
 * Encodes and segments a message text. Throws PermanentError INVALID_TEXT for
 * malformed UTF-16 (a lone surrogate) or for a non-GSM character when GSM-7
 * is forced, and MESSAGE_TOO_LONG when it needs more than maxParts parts.
 */
export function encodeMessage(text: string, options: EncodeOptions): EncodedMessage {
  if (options.encoding === 'ucs2') return encodeUcs2Parts(text, options);
  const len = text.length;
  // Fast path, the common case: at most 160 characters, none escaped, so one
  // pass both checks and writes the only part. Skipped when the first
  // character is not GSM (most UCS-2 texts), so that those do not pay for a
  // Buffer they would throw away; a text that fails later does.
  if (len > 0 && len <= GSM_SINGLE && options.maxParts >= 1 && gsmSeptets(text.charCodeAt(0)) === 1) {
    const b = Buffer.allocUnsafe(len);
    if (writeGsmUnescaped(text, b) === len) return singleGsm(b);
  }
  const septets = len <= MAX_SCRATCH_CHARS ? SCRATCH : Buffer.allocUnsafe(2 * len);
  const count = encodeGsmInto(text, septets);
  if (count >= 0) return encodeGsmParts(septets, count, options);
  if (options.encoding === 'gsm7') {
    // Surrogates are never GSM, so a lone one is at or after the first non-GSM unit.
    const firstBad = -1 - count;
    const lone = findLoneSurrogate(text, firstBad);
    throw lone >= 0 ? loneSurrogate(text, lone) : notGsmError(text, firstBad);
  }
  return encodeUcs2Parts(text, options);
}

type Alphabet = 'gsm7' | 'ucs2' | 'latin1';

/**
 * SMPP 3.4 data_coding → alphabet, best effort: 0x00 GSM-7, 0x08 UCS-2, GSM
 * message-class group 0xF0..0xFF by its bit 2 (0 GSM-7, 1 8-bit data);
 * everything else (0x01 IA5/ASCII, 0x03 Latin-1, binary, ...) one char per octet.
 */
function alphabetOf(dataCoding: number): Alphabet {
  if (dataCoding === DATA_CODING_GSM7) return 'gsm7';
  if (dataCoding === DATA_CODING_UCS2) return 'ucs2';
  if ((dataCoding & 0xf0) === 0xf0) return (dataCoding & 0x04) === 0 ? 'gsm7' : 'latin1';
  return 'latin1';
}

/**
 * Decodes a short_message: the simulator's and the tests' view of what
 * encodeMessage produced. With hasUdh (esm_class UDHI) the first octet is the
 * UDH length; the IEs are walked and a concatenation IE (0x00 8-bit or 0x08
 * 16-bit reference) is returned as found, without checking seq ≤ total. A
 * truncated UDH or IE is skipped rather than thrown on. An odd trailing octet
 * of UCS-2 is ignored. data_coding 0 is read in `defaultAlphabet`, the
 * sending SMSC's (smsc-alphabet.ts; default unpacked GSM 03.38).
 */
export function decodeShortMessage(shortMessage: Buffer, dataCoding: number, hasUdh: boolean, defaultAlphabet: SmscAlphabet = 'gsm7'): DecodedShortMessage {
  let body = shortMessage;
  let udhOctets = 0;
  let concat: ConcatInfo | undefined;
  if (hasUdh && shortMessage.length > 0) {
    const end = Math.min(1 + shortMessage[0], shortMessage.length);
    let i = 1;
    while (i + 2 <= end) {
      const iei = shortMessage[i];
      const data = i + 2;
      const len = shortMessage[i + 1];
      if (data + len > end) break;
      if (iei === 0x00 && len === 3) {
        concat = { ref: shortMessage[data], total: shortMessage[data + 1], seq: shortMessage[data + 2] };
      } else if (iei === 0x08 && len === 4) {
        concat = { ref: shortMessage.readUInt16BE(data), total: shortMessage[data + 2], seq: shortMessage[data + 3] };
      }
      i = data + len;
    }
    body = shortMessage.subarray(end);
    udhOctets = end;
  }
  let text: string;
  switch (alphabetOf(dataCoding)) {
    case 'gsm7':
      // data_coding 0 is the SMSC's default alphabet: what smscs[].alphabet says it is.
      text = dataCoding === DATA_CODING_GSM7 && defaultAlphabet !== 'gsm7' ? decodeDefaultAlphabet(defaultAlphabet, body, udhOctets) : decodeGsm(body);
      break;
    case 'ucs2':
      // Copy before swap16 so the caller's buffer is left as it was.
      text = Buffer.from(body.subarray(0, body.length & ~1)).swap16().toString('utf16le');
      break;
    case 'latin1':
      text = body.toString('latin1');
      break;
  }
  return concat === undefined ? { text } : { text, concat };
}
