/**
 * The SMSC's default alphabet: how GSM-7 text goes on the wire to one SMSC,
 * and how that SMSC's data_coding 0 is read. SMPP calls data_coding 0 "SMSC
 * default alphabet" and SMSCs disagree on what it is (`smscs[].alphabet`):
 *
 *   alphabet      data_coding  short_message of a GSM-7 part          MO data_coding 0 read as
 *   gsm7          0            GSM 03.38 septets, one per octet       unpacked GSM 03.38
 *   gsm7-packed   0            GSM 03.38 septets packed 8 in 7 octets packed GSM 03.38
 *                              (after a UDH: fill bits to a septet boundary, TS 23.040 §9.2.3.24)
 *   latin1        3 (or 0)     ISO-8859-1, one octet per character    ISO-8859-1
 *   ia5           1 (or 0)     IA5 / ASCII, one octet per character   ASCII
 *
 * Queue entries always carry GSM-7 as unpacked septets (engine/text
 * encodeMessage, at ingress); the operator actor transcodes each part for
 * its SMSC as it builds the submit_sm (transcodeGsmPart), as it already moves
 * a UDH into SAR TLVs. Segmentation does not change: an SMSC that takes
 * Latin-1 or IA5 converts it to GSM-7 for the air, so a part is sized in
 * septets as before (153 per concatenated part; an escaped character such as
 * `{` takes one octet here and two septets there).
 *
 * What does change is the repertoire: Latin-1 has no Greek capitals and no €,
 * ASCII none of GSM's accented letters, £, ¥, § and so on. A text with such a
 * character cannot keep its GSM-7 segments for such an SMSC; it must go in
 * UCS-2, which segments differently. That is decided at ingress, where the
 * SMSC is chosen (carriesText), and failover moves an entry only to an SMSC
 * whose alphabet carries it (carriesPart): an entry is always sent in the
 * encoding of the SMSC that sends it.
 *
 * Tables are built once at load from the GSM tables (gsm7.ts): septet →
 * octet, -1 where the alphabet lacks the character.
 */
import { decodeGsm, ESC, gsmCharOf } from './gsm7.js';

export type SmscAlphabet = 'gsm7' | 'gsm7-packed' | 'latin1' | 'ia5';

export const SMSC_ALPHABETS: ReadonlyArray<SmscAlphabet> = ['gsm7', 'gsm7-packed', 'latin1', 'ia5'];

/** The data_coding each alphabet's GSM-7 text is sent with unless configured otherwise. */
export const ALPHABET_DATA_CODING: Readonly<Record<SmscAlphabet, number>> = { gsm7: 0, 'gsm7-packed': 0, latin1: 3, ia5: 1 };

/** Highest code point each one-octet alphabet has. */
const CEILING = { latin1: 0xff, ia5: 0x7f } as const;

function table(ceiling: number, ext: boolean): Int16Array {
  const t = new Int16Array(128).fill(-1);
  for (let septet = 0; septet < 128; septet++) {
    const ch = gsmCharOf(septet, ext);
    if (ch === undefined) continue;
    const cp = ch.charCodeAt(0);
    if (cp <= ceiling) t[septet] = cp;
  }
  return t;
}

const BASIC = { latin1: table(CEILING.latin1, false), ia5: table(CEILING.ia5, false) };
const EXTENDED = { latin1: table(CEILING.latin1, true), ia5: table(CEILING.ia5, true) };

/** True when the alphabet carries every character of a text that GSM-7 carries (a text at ingress). */
export function carriesText(alphabet: SmscAlphabet, text: string): boolean {
  if (alphabet === 'gsm7' || alphabet === 'gsm7-packed') return true;
  const ceiling = CEILING[alphabet];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > ceiling) return false;
  return true;
}

const UDHI = 0x40;

function udhLength(shortMessage: Buffer, esmClass: number): number {
  if ((esmClass & UDHI) === 0 || shortMessage.length === 0) return 0;
  return Math.min(shortMessage.length, 1 + (shortMessage[0] as number));
}

/**
 * Transcodes unpacked GSM septets to one octet per character; -1 when the
 * alphabet lacks one of them. Writes into out from offset.
 */
function septetsToOctets(alphabet: 'latin1' | 'ia5', septets: Buffer, from: number, out: Buffer, offset: number): number {
  const basic = BASIC[alphabet];
  const ext = EXTENDED[alphabet];
  let o = offset;
  for (let i = from; i < septets.length; i++) {
    const s = (septets[i] as number) & 0x7f;
    let c: number;
    if (s !== ESC) c = basic[s] as number;
    else if (i + 1 < septets.length) c = ext[(septets[++i] as number) & 0x7f] as number;
    else c = 0x20; // a dangling escape reads as a space (TS 23.038)
    if (c < 0) return -1;
    out[o++] = c;
  }
  return o;
}

/** True when the alphabet carries every character of a queue entry's GSM-7 part (data_coding 0). */
export function carriesPart(alphabet: SmscAlphabet, shortMessage: Buffer, esmClass: number): boolean {
  if (alphabet === 'gsm7' || alphabet === 'gsm7-packed') return true;
  const scratch = Buffer.allocUnsafe(shortMessage.length);
  return septetsToOctets(alphabet, shortMessage, udhLength(shortMessage, esmClass), scratch, 0) >= 0;
}

/**
 * Packs septets 8 into 7 octets, least significant bit first (TS 23.038
 * §6.1.2.1.1), after `fillBits` zero bits (the fill that aligns text after a
 * UDH to a septet boundary). When the last octet would have 7 spare bits they
 * hold CR, not zeros, so that a receiver does not read an extra '@'
 * (TS 23.038 §6.1.2.3.1).
 */
export function packSeptets(septets: Uint8Array, fillBits = 0): Buffer {
  const bits = fillBits + septets.length * 7;
  const out = Buffer.alloc(Math.ceil(bits / 8));
  let pos = fillBits;
  const put = (s: number) => {
    const byte = pos >> 3;
    const shift = pos & 7;
    out[byte] = ((out[byte] as number) | (s << shift)) & 0xff;
    if (shift > 1) out[byte + 1] = ((out[byte + 1] as number) | (s >> (8 - shift))) & 0xff;
    pos += 7;
  };
  for (let i = 0; i < septets.length; i++) put((septets[i] as number) & 0x7f);
  if (out.length * 8 - bits === 7) put(0x0d);
  return out;
}

/**
 * Unpacks septets packed after `fillBits` bits. A final CR that only fills
 * 7 spare bits is padding (see packSeptets) and is dropped.
 */
export function unpackSeptets(packed: Uint8Array, fillBits = 0): Buffer {
  const total = packed.length * 8 - fillBits;
  const count = total > 0 ? Math.floor(total / 7) : 0;
  const out = Buffer.allocUnsafe(count);
  let pos = fillBits;
  for (let i = 0; i < count; i++) {
    const byte = pos >> 3;
    const shift = pos & 7;
    let v = (packed[byte] as number) >> shift;
    if (shift > 1) v |= (packed[byte + 1] as number) << (8 - shift);
    out[i] = v & 0x7f;
    pos += 7;
  }
  const n = count > 0 && total % 7 === 0 && out[count - 1] === 0x0d ? count - 1 : count;
  return n === count ? out : out.subarray(0, n);
}

/** Fill bits between a UDH of `udhOctets` (its length octet included) and the septets that follow. */
export function fillBitsAfter(udhOctets: number): number {
  return (7 - ((udhOctets * 8) % 7)) % 7;
}

/**
 * A queue entry's GSM-7 part (unpacked septets, UDH first when esm_class has
 * UDHI) as this alphabet sends it; the same Buffer for `gsm7`. Undefined when
 * the alphabet lacks one of its characters (failover and ingress keep such
 * entries away from such SMSCs; see the module comment).
 */
export function transcodeGsmPart(alphabet: SmscAlphabet, shortMessage: Buffer, esmClass: number): Buffer | undefined {
  if (alphabet === 'gsm7') return shortMessage;
  const udh = udhLength(shortMessage, esmClass);
  if (alphabet === 'gsm7-packed') {
    const packed = packSeptets(shortMessage.subarray(udh), fillBitsAfter(udh));
    return udh === 0 ? packed : Buffer.concat([shortMessage.subarray(0, udh), packed]);
  }
  const out = Buffer.allocUnsafe(shortMessage.length);
  shortMessage.copy(out, 0, 0, udh);
  const end = septetsToOctets(alphabet, shortMessage, udh, out, udh);
  return end < 0 ? undefined : out.subarray(0, end);
}

/** Decodes the text of a data_coding 0 body (UDH already removed) from an SMSC with this alphabet. */
export function decodeDefaultAlphabet(alphabet: SmscAlphabet, body: Buffer, udhOctets: number): string {
  switch (alphabet) {
    case 'gsm7':
      return decodeGsm(body);
    case 'gsm7-packed':
      return decodeGsm(unpackSeptets(body, fillBitsAfter(udhOctets)));
    case 'latin1':
    case 'ia5':
      return body.toString('latin1');
  }
}
