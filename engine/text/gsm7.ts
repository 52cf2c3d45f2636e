/**
 * GSM 03.38 (3GPP TS 23.038 §6.2.1) default alphabet and its extension table,
 * as unpacked septets: one septet per octet, which is what SMPP short_message
 * carries with data_coding 0x00. `@` is 0x00, `£` 0x01, `$` 0x02, `¥` 0x03;
 * `€ [ ] { } ~ \ ^ |` and form feed are two septets, ESC (0x1B) then their
 * extension code.
 *
 * The tables are written as code points, not as literal characters, so that
 * a look-alike (Ω OHM SIGN U+2126 for Ω GREEK CAPITAL OMEGA U+03A9, a
 * decomposed É) cannot slip in through an editor. They are compiled once, at
 * module load, into one lookup table indexed by UTF-16 code unit:
 *
 *   SEPTET_OF[unit]  0x00..0x7F   basic septet                 (1 septet)
 *                    0x100 | ext  ESC then ext                  (2 septets)
 *                    NONE         not in GSM 03.38 (nor any surrogate)
 *
 * Every GSM character is below U+20AD (€ is U+20AC), so the table is 16 KiB
 * and a lookup is one bounds check and one typed-array load.
 */
import { PermanentError } from '../errors.js';

/** The escape septet to the extension table. */
export const ESC = 0x1b;

/**
 * The 128 basic septets in septet order. 0x1B is ESC, not a character: its
 * slot holds a space because TS 23.038 tells a receiver to show a space for an
 * escape it cannot resolve (ESC ESC, or ESC as the last septet). The build
 * loop below skips that slot, so ' ' still encodes as 0x20.
 */
const BASIC: readonly number[] = [
  /* 0x00 */ 0x0040, 0x00a3, 0x0024, 0x00a5, 0x00e8, 0x00e9, 0x00f9, 0x00ec, // @ £ $ ¥ è é ù ì
  /* 0x08 */ 0x00f2, 0x00c7, 0x000a, 0x00d8, 0x00f8, 0x000d, 0x00c5, 0x00e5, // ò Ç LF Ø ø CR Å å
  /* 0x10 */ 0x0394, 0x005f, 0x03a6, 0x0393, 0x039b, 0x03a9, 0x03a0, 0x03a8, // Δ _ Φ Γ Λ Ω Π Ψ
  /* 0x18 */ 0x03a3, 0x0398, 0x039e, 0x0020, 0x00c6, 0x00e6, 0x00df, 0x00c9, // Σ Θ Ξ (ESC) Æ æ ß É
  /* 0x20 */ 0x0020, 0x0021, 0x0022, 0x0023, 0x00a4, 0x0025, 0x0026, 0x0027, //   ! " # ¤ % & '
  /* 0x28 */ 0x0028, 0x0029, 0x002a, 0x002b, 0x002c, 0x002d, 0x002e, 0x002f, // ( ) * + , - . /
  /* 0x30 */ 0x0030, 0x0031, 0x0032, 0x0033, 0x0034, 0x0035, 0x0036, 0x0037, // 0 .. 7
  /* 0x38 */ 0x0038, 0x0039, 0x003a, 0x003b, 0x003c, 0x003d, 0x003e, 0x003f, // 8 9 : ; < = > ?
  /* 0x40 */ 0x00a1, 0x0041, 0x0042, 0x0043, 0x0044, 0x0045, 0x0046, 0x0047, // ¡ A .. G
  /* 0x48 */ 0x0048, 0x0049, 0x004a, 0x004b, 0x004c, 0x004d, 0x004e, 0x004f, // H .. O
  /* 0x50 */ 0x0050, 0x0051, 0x0052, 0x0053, 0x0054, 0x0055, 0x0056, 0x0057, // P .. W
  /* 0x58 */ 0x0058, 0x0059, 0x005a, 0x00c4, 0x00d6, 0x00d1, 0x00dc, 0x00a7, // X Y Z Ä Ö Ñ Ü §
  /* 0x60 */ 0x00bf, 0x0061, 0x0062, 0x0063, 0x0064, 0x0065, 0x0066, 0x0067, // ¿ a .. g
  /* 0x68 */ 0x0068, 0x0069, 0x006a, 0x006b, 0x006c, 0x006d, 0x006e, 0x006f, // h .. o
  /* 0x70 */ 0x0070, 0x0071, 0x0072, 0x0073, 0x0074, 0x0075, 0x0076, 0x0077, // p .. w
  /* 0x78 */ 0x0078, 0x0079, 0x007a, 0x00e4, 0x00f6, 0x00f1, 0x00fc, 0x00e0, // x y z ä ö ñ ü à
];

/** Extension table (after ESC): [code point, extension septet]. 0x0D and 0x1B are reserved. */
const EXTENSION: ReadonlyArray<readonly [number, number]> = [
  [0x000c, 0x0a], // form feed
  [0x005e, 0x14], // ^
  [0x007b, 0x28], // {
  [0x007d, 0x29], // }
  [0x005c, 0x2f], // \
  [0x005b, 0x3c], // [
  [0x007e, 0x3d], // ~
  [0x005d, 0x3e], // ]
  [0x007c, 0x40], // |
  [0x20ac, 0x65], // €
];

const TABLE_SIZE = 0x20ad; // one past €, the highest GSM code point
const NONE = 0xffff;
const ESCAPED = 0x100;

const SEPTET_OF = new Uint16Array(TABLE_SIZE).fill(NONE);
/** Septet → character, for decoding. */
const BASIC_CHAR: readonly string[] = BASIC.map((cp) => String.fromCharCode(cp));
/** Extension septet → character; undefined where the table has no entry. */
const EXT_CHAR: Array<string | undefined> = new Array<string | undefined>(128).fill(undefined);

// A mistyped table is a bug in this file: fail at load, not on some message.
if (BASIC.length !== 128) throw new Error(`GSM 03.38 basic table has ${BASIC.length} entries, expected 128`);
for (let septet = 0; septet < 128; septet++) {
  if (septet !== ESC) SEPTET_OF[BASIC[septet]] = septet;
}
for (const [cp, ext] of EXTENSION) {
  SEPTET_OF[cp] = ESCAPED | ext;
  EXT_CHAR[ext] = String.fromCharCode(cp);
}

/** The character of a basic septet (ext false) or of an extension code after ESC (ext true); undefined where there is none. */
export function gsmCharOf(septet: number, ext: boolean): string | undefined {
  if (septet < 0 || septet > 0x7f) return undefined;
  if (ext) return EXT_CHAR[septet];
  return septet === ESC ? undefined : BASIC_CHAR[septet];
}

/** Septets one UTF-16 code unit needs: 1, 2 (escaped), or 0 when GSM-7 cannot carry it. */
export function gsmSeptets(unit: number): 0 | 1 | 2 {
  const v = unit < TABLE_SIZE ? SEPTET_OF[unit] : NONE;
  return v === NONE ? 0 : v < ESCAPED ? 1 : 2;
}

/** Index of the first UTF-16 code unit that GSM-7 cannot carry, or -1 when the whole text is encodable. */
export function firstNonGsm(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= TABLE_SIZE || SEPTET_OF[c] === NONE) return i;
  }
  return -1;
}

/** True when every character of text is in the GSM 03.38 default alphabet or its extension table. */
export function isGsmEncodable(text: string): boolean {
  return firstNonGsm(text) === -1;
}

/** Septet length of text (escaped characters count 2), or -1 when GSM-7 cannot carry it. */
export function gsmLength(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const s = gsmSeptets(text.charCodeAt(i));
    if (s === 0) return -1;
    n += s;
  }
  return n;
}

/**
 * The hot path's one-pass encoder: writes text as unpacked septets into out
 * (room for text.length octets) for as long as each character is a single,
 * unescaped septet, and returns how many it wrote: text.length when the whole
 * text was written, else the index of the first escaped or non-GSM character.
 */
export function writeGsmUnescaped(text: string, out: Uint8Array): number {
  const len = text.length;
  for (let i = 0; i < len; i++) {
    const c = text.charCodeAt(i);
    const v = c < TABLE_SIZE ? SEPTET_OF[c] : NONE;
    if (v >= ESCAPED) return i; // NONE is above ESCAPED too
    out[i] = v;
  }
  return len;
}

/**
 * Writes all of text as unpacked septets into out (room for 2 × text.length
 * octets) and returns the septet count, or -1 - the index of the first
 * character GSM-7 cannot carry (both answers without an object; out is then
 * partly written). In the output 0x1B is always an escape prefix: no basic
 * character encodes to it and no extension code is 0x1B, so a splitter can
 * find escape pairs in the septets alone.
 */
export function encodeGsmInto(text: string, out: Uint8Array): number {
  const len = text.length;
  let o = 0;
  for (let i = 0; i < len; i++) {
    const c = text.charCodeAt(i);
    const v = c < TABLE_SIZE ? SEPTET_OF[c] : NONE;
    if (v < ESCAPED) out[o++] = v;
    else if (v !== NONE) {
      out[o++] = ESC;
      out[o++] = v & 0x7f;
    } else return -1 - i;
  }
  return o;
}

/** The INVALID_TEXT error for text[index], a character GSM-7 cannot carry: names it and its code point. */
export function notGsmError(text: string, index: number): PermanentError {
  const cp = text.codePointAt(index) as number;
  const hex = 'U+' + cp.toString(16).toUpperCase().padStart(4, '0');
  // JSON.stringify shows control characters as escapes rather than raw.
  const shown = JSON.stringify(String.fromCodePoint(cp));
  return new PermanentError('INVALID_TEXT', `character ${shown} (${hex}) at index ${index} is not in the GSM 03.38 alphabet`);
}

/** Encodes text to unpacked septets; throws INVALID_TEXT naming the first character GSM-7 cannot carry. */
export function encodeGsm(text: string): Buffer {
  const out = Buffer.allocUnsafe(2 * text.length);
  const n = encodeGsmInto(text, out);
  if (n < 0) throw notGsmError(text, -1 - n);
  return Buffer.from(out.subarray(0, n));
}

/**
 * Decodes unpacked septets (the top bit of each octet is ignored). An escape
 * to an extension code the table lacks decodes as the basic character of that
 * code, and a dangling ESC (or ESC ESC) as a space, as the notes to the
 * extension table in TS 23.038 tell receivers to.
 */
export function decodeGsm(septets: Uint8Array): string {
  let s = '';
  const n = septets.length;
  for (let i = 0; i < n; i++) {
    const b = septets[i] & 0x7f;
    if (b !== ESC) s += BASIC_CHAR[b];
    else if (i + 1 < n) {
      const e = septets[++i] & 0x7f;
      s += EXT_CHAR[e] ?? BASIC_CHAR[e];
    } else s += ' ';
  }
  return s;
}
