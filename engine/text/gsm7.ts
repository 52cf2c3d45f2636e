/**
 * GSM 03.38 (3GPP TS 23.038) default alphabet and its extension table, as
 * unpacked septets (one per octet), which is what SMPP carries with
 * data_coding 0. `@` is 0x00; `€ [ ] { } ~ \ ^ |` and form feed are two
 * septets: ESC (0x1B) then their extension code.
 *
 * Lookup tables are built once at module load: a UTF-16 code unit indexes a
 * Int16Array giving its septet (or -1), and a second table its extension code.
 */
const BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';

/** Extension table: character → code after ESC. */
const EXTENSION: ReadonlyArray<readonly [string, number]> = [
  ['\f', 0x0a], ['^', 0x14], ['{', 0x28], ['}', 0x29], ['\\', 0x2f], ['[', 0x3c], ['~', 0x3d], [']', 0x3e], ['|', 0x40], ['€', 0x65],
];

export const ESC = 0x1b;

const TABLE_SIZE = 0x2200; // covers € (U+20AC) and every GSM character
const basicOf = new Int16Array(TABLE_SIZE).fill(-1);
const extOf = new Int16Array(TABLE_SIZE).fill(-1);
const charOfBasic: string[] = [];
const charOfExt: Array<string | undefined> = new Array(128).fill(undefined);

if (BASIC.length !== 128) throw new Error(`GSM basic table has ${BASIC.length} entries, expected 128`);
for (let i = 0; i < 128; i++) {
  const ch = BASIC[i] as string;
  charOfBasic.push(ch);
  if (i !== ESC) basicOf[ch.charCodeAt(0)] = i;
}
for (const [ch, code] of EXTENSION) {
  extOf[ch.charCodeAt(0)] = code;
  charOfExt[code] = ch;
}

/** Septets a UTF-16 code unit needs: 1, 2 (escaped), or 0 when not encodable. */
export function gsmSeptets(code: number): 0 | 1 | 2 {
  if (code >= TABLE_SIZE) return 0;
  if (basicOf[code] !== -1) return 1;
  return extOf[code] !== -1 ? 2 : 0;
}

/** Index of the first character that GSM-7 cannot carry, or -1. */
export function firstNonGsm(text: string): number {
  for (let i = 0; i < text.length; i++) if (gsmSeptets(text.charCodeAt(i)) === 0) return i;
  return -1;
}

/** Septet length of a GSM-encodable string (escaped characters count 2). */
export function gsmLength(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) n += gsmSeptets(text.charCodeAt(i));
  return n;
}

/** Writes text[from, to) as unpacked septets into out at offset; returns the new offset. */
export function writeGsm(text: string, from: number, to: number, out: Buffer, offset: number): number {
  let o = offset;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    const b = basicOf[c] as number;
    if (b !== -1) out[o++] = b;
    else {
      out[o++] = ESC;
      out[o++] = extOf[c] as number;
    }
  }
  return o;
}

/** Encodes a GSM-encodable string to unpacked septets. */
export function encodeGsm(text: string): Buffer {
  const out = Buffer.allocUnsafe(gsmLength(text));
  writeGsm(text, 0, text.length, out, 0);
  return out;
}

/** Decodes unpacked septets. An unknown extension code decodes as the basic character (TS 23.038 §6.2.1.1). */
export function decodeGsm(septets: Buffer): string {
  let s = '';
  for (let i = 0; i < septets.length; i++) {
    const b = (septets[i] as number) & 0x7f;
    if (b === ESC && i + 1 < septets.length) {
      const e = (septets[++i] as number) & 0x7f;
      s += charOfExt[e] ?? charOfBasic[e];
    } else if (b === ESC) s += ' ';
    else s += charOfBasic[b];
  }
  return s;
}
