/**
 * Byte-level tests of engine/text: the GSM 03.38 tables, the GSM-7 / UCS-2
 * choice, segmentation with the concatenation UDH, errors, and a seeded
 * property loop that checks encodeMessage against a deliberately naive
 * reference segmenter and round-trips through decodeShortMessage.
 */
import { describe, expect, it } from 'vitest';
import { PermanentError } from '../../engine/errors.js';
import {
  decodeGsm,
  decodeShortMessage,
  encodeGsm,
  encodeMessage,
  firstNonGsm,
  gsmLength,
  isGsmEncodable,
  type EncodedMessage,
} from '../../engine/text/index.js';
import { prng } from '../../engine/prng.js';

const opts = { concatRef: 0x2a, maxParts: 10 };
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const partHex = (m: EncodedMessage): string[] => m.parts.map((p) => hex(p.shortMessage));
const a = (n: number): string => 'a'.repeat(n);
const aa = (n: number): string => '61'.repeat(n); // 'a' is septet 0x61
const ZHE = 'Ж'; // U+0416, UTF-16BE 04 16
const zz = (n: number): string => '0416'.repeat(n);

function errorOf(fn: () => unknown): PermanentError {
  try {
    fn();
  } catch (e) {
    if (e instanceof PermanentError) return e;
    throw e;
  }
  throw new Error('expected a PermanentError');
}

// 3GPP TS 23.038 §6.2.1, transcribed as the positions that are NOT the ASCII
// character of the same code; every other position from 0x20 to 0x7F is ASCII.
const SPEC_NON_ASCII: ReadonlyArray<readonly [number, number]> = [
  [0x00, 0x40], [0x01, 0xa3], [0x02, 0x24], [0x03, 0xa5], [0x04, 0xe8], [0x05, 0xe9], [0x06, 0xf9], [0x07, 0xec],
  [0x08, 0xf2], [0x09, 0xc7], [0x0a, 0x0a], [0x0b, 0xd8], [0x0c, 0xf8], [0x0d, 0x0d], [0x0e, 0xc5], [0x0f, 0xe5],
  [0x10, 0x394], [0x11, 0x5f], [0x12, 0x3a6], [0x13, 0x393], [0x14, 0x39b], [0x15, 0x3a9], [0x16, 0x3a0], [0x17, 0x3a8],
  [0x18, 0x3a3], [0x19, 0x398], [0x1a, 0x39e], /* 0x1B ESC */ [0x1c, 0xc6], [0x1d, 0xe6], [0x1e, 0xdf], [0x1f, 0xc9],
  [0x24, 0xa4], [0x40, 0xa1], [0x5b, 0xc4], [0x5c, 0xd6], [0x5d, 0xd1], [0x5e, 0xdc], [0x5f, 0xa7], [0x60, 0xbf],
  [0x7b, 0xe4], [0x7c, 0xf6], [0x7d, 0xf1], [0x7e, 0xfc], [0x7f, 0xe0],
];
const SPEC_EXTENSION: ReadonlyArray<readonly [string, string]> = [
  ['€', '1b65'], ['[', '1b3c'], [']', '1b3e'], ['{', '1b28'], ['}', '1b29'],
  ['~', '1b3d'], ['\\', '1b2f'], ['^', '1b14'], ['|', '1b40'], ['\f', '1b0a'],
];

function specTable(): Map<number, number> {
  const t = new Map<number, number>(); // septet → code point
  for (let s = 0x20; s < 0x80; s++) t.set(s, s);
  for (const [s, cp] of SPEC_NON_ASCII) t.set(s, cp);
  return t;
}

describe('GSM 03.38 tables', () => {
  it('has 127 basic characters (128 septets less ESC), each encoding to its septet and back', () => {
    const table = specTable();
    expect(table.size).toBe(127);
    for (const [septet, cp] of table) {
      const ch = String.fromCodePoint(cp);
      expect(hex(encodeGsm(ch)), `${ch} U+${cp.toString(16)}`).toBe(septet.toString(16).padStart(2, '0'));
      expect(decodeGsm(Uint8Array.of(septet))).toBe(ch);
    }
  });

  it('maps @ £ $ ¥ to 00 01 02 03 and the named specials byte by byte', () => {
    expect(hex(encodeGsm('@'))).toBe('00');
    expect(hex(encodeGsm('£$¥'))).toBe('010203');
    expect(hex(encodeGsm('èéùìòÇ\nØø\rÅå'))).toBe('0405060708090a0b0c0d0e0f');
    expect(hex(encodeGsm('ÆæßÉ'))).toBe('1c1d1e1f');
    expect(hex(encodeGsm(' !"#¤%&\'()*+,-./'))).toBe('202122232425262728292a2b2c2d2e2f');
    expect(hex(encodeGsm('¡AZÄÖÑÜ§¿azäöñüà'))).toBe('40415a5b5c5d5e5f60617a7b7c7d7e7f');
  });

  it('maps the Greek capitals Δ Φ Γ Λ Ω Π Ψ Σ Θ Ξ to 0x10 and 0x12..0x1A', () => {
    expect(hex(encodeGsm('Δ_ΦΓΛΩΠΨΣΘΞ'))).toBe('101112131415161718191a');
    expect(decodeGsm(Buffer.from('101112131415161718191a', 'hex'))).toBe('Δ_ΦΓΛΩΠΨΣΘΞ');
  });

  it('escapes each extension character with 0x1B: € [ ] { } ~ \\ ^ | and form feed', () => {
    for (const [ch, bytes] of SPEC_EXTENSION) {
      expect(hex(encodeGsm(ch)), JSON.stringify(ch)).toBe(bytes);
      expect(decodeGsm(Buffer.from(bytes, 'hex'))).toBe(ch);
    }
    expect(hex(encodeGsm('a€b'))).toBe('611b6562');
    expect(gsmLength('a€b')).toBe(4);
  });

  it('refuses look-alikes and characters outside the alphabet', () => {
    const outside = [
      'ç', // U+00E7: only capital Ç is in the table
      '`', 'á', 'í', 'ó', 'ú', 'Ê', '\t', '\u00a0', '’', '“', '–',
      '\u2126', // OHM SIGN, not GREEK CAPITAL OMEGA
      'A\u0308', // A + combining diaeresis, not precomposed Ä
      '\u001b', // the escape itself is not a character
      'Ж', '中', '🙂',
    ];
    for (const t of outside) {
      expect(isGsmEncodable(t), JSON.stringify(t)).toBe(false);
      expect(gsmLength(t), JSON.stringify(t)).toBe(-1);
      expect(encodeMessage(t, opts).encoding, JSON.stringify(t)).toBe('ucs2');
    }
    expect(isGsmEncodable('Hello {world} €5 @home ΩΣ')).toBe(true);
    expect(isGsmEncodable('')).toBe(true);
  });

  it('finds the first non-GSM character and counts septets', () => {
    expect(firstNonGsm('abc')).toBe(-1);
    expect(firstNonGsm('ab`c')).toBe(2);
    expect(gsmLength('')).toBe(0);
    expect(gsmLength('[x]~\f')).toBe(9);
  });

  it('throws INVALID_TEXT from encodeGsm naming the character and its index', () => {
    const e = errorOf(() => encodeGsm('ok 😀'));
    expect(e.code).toBe('INVALID_TEXT');
    expect(e.message).toContain('U+1F600');
    expect(e.message).toContain('index 3');
  });

  it('decodes unknown extension codes as the basic character, a dangling ESC and ESC ESC as a space', () => {
    expect(decodeGsm(Buffer.from('1b61', 'hex'))).toBe('a');
    expect(decodeGsm(Buffer.from('611b', 'hex'))).toBe('a ');
    expect(decodeGsm(Buffer.from('1b1b61', 'hex'))).toBe(' a');
    expect(decodeGsm(Buffer.from('e1', 'hex'))).toBe('a'); // top bit ignored
  });
});

describe('encodeMessage, GSM-7', () => {
  it('encodes a short text as one part without UDH, data_coding 0, esm_class 0', () => {
    const m = encodeMessage('@£$¥ Hi€', opts);
    expect(m).toMatchObject({ encoding: 'gsm7', dataCoding: 0x00, esmClass: 0x00 });
    expect(partHex(m)).toEqual(['00010203204869' + '1b65']);
  });

  it('sends exactly 160 septets as one part', () => {
    const m = encodeMessage(a(160), opts);
    expect(m.esmClass).toBe(0);
    expect(partHex(m)).toEqual([aa(160)]);
  });

  it('splits 161 septets into 153 + 8 with UDH 05 00 03 ref total seq and esm_class 0x40', () => {
    const m = encodeMessage(a(161), opts);
    expect(m).toMatchObject({ encoding: 'gsm7', dataCoding: 0x00, esmClass: 0x40 });
    expect(partHex(m)).toEqual(['0500032a0201' + aa(153), '0500032a0202' + aa(8)]);
  });

  it('counts an escape as two septets: 158 + € is 160, one part; 159 + € is 161, two parts', () => {
    expect(partHex(encodeMessage(a(158) + '€', opts))).toEqual([aa(158) + '1b65']);
    const m = encodeMessage(a(159) + '€', opts);
    expect(partHex(m)).toEqual(['0500032a0201' + aa(153), '0500032a0202' + aa(6) + '1b65']);
  });

  it('handles an escaped first character and a 160-character text with one escape (161 septets)', () => {
    expect(partHex(encodeMessage('€' + a(158), opts))).toEqual(['1b65' + aa(158)]);
    expect(encodeMessage('€' + a(159), opts).parts).toHaveLength(2);
  });

  it('moves an escape pair that would straddle septet 153 whole into the next part', () => {
    // 152 septets, then '[' would take septets 153 and 154.
    const m = encodeMessage(a(152) + '[' + 'b'.repeat(10), opts);
    expect(partHex(m)).toEqual(['0500032a0201' + aa(152), '0500032a0202' + '1b3c' + '62'.repeat(10)]);
  });

  it('keeps an escape pair that ends exactly at septet 153 in the first part', () => {
    const m = encodeMessage(a(151) + ']' + a(10), opts);
    expect(partHex(m)).toEqual(['0500032a0201' + aa(151) + '1b3e', '0500032a0202' + aa(10)]);
  });

  it('numbers three parts 1..3 of 3 and uses the low 8 bits of concatRef', () => {
    const m = encodeMessage(a(153 * 2 + 1), { concatRef: 0x1ff, maxParts: 3 });
    expect(m.parts.map((p) => hex(p.shortMessage.subarray(0, 6)))).toEqual(['050003ff0301', '050003ff0302', '050003ff0303']);
    expect(m.parts.map((p) => p.shortMessage.length)).toEqual([159, 159, 7]);
  });

  it('encodes empty text as one empty part', () => {
    const m = encodeMessage('', opts);
    expect(m).toMatchObject({ encoding: 'gsm7', dataCoding: 0, esmClass: 0 });
    expect(partHex(m)).toEqual(['']);
  });

  it('returns parts that a later call does not overwrite (scratch reuse)', () => {
    const first = encodeMessage(a(200) + '{}', opts);
    const before = partHex(first);
    encodeMessage('z'.repeat(400) + '|', opts);
    encodeMessage(ZHE.repeat(200), opts);
    expect(partHex(first)).toEqual(before);
  });
});

describe('encodeMessage, UCS-2', () => {
  it('picks UCS-2 (UTF-16BE), data_coding 0x08, when one character is not GSM', () => {
    const m = encodeMessage('Hi Ж', opts);
    expect(m).toMatchObject({ encoding: 'ucs2', dataCoding: 0x08, esmClass: 0 });
    expect(partHex(m)).toEqual(['0048006900200416']);
  });

  it('falls back to UCS-2 when the non-GSM character is the last of 70', () => {
    expect(partHex(encodeMessage(a(69) + ZHE, opts))).toEqual(['0061'.repeat(69) + '0416']);
  });

  it('sends exactly 70 code units as one part of 140 octets, 71 as 67 + 4', () => {
    expect(partHex(encodeMessage(ZHE.repeat(70), opts))).toEqual([zz(70)]);
    const m = encodeMessage(ZHE.repeat(71), opts);
    expect(m.esmClass).toBe(0x40);
    expect(partHex(m)).toEqual(['0500032a0201' + zz(67), '0500032a0202' + zz(4)]);
  });

  it('counts a surrogate pair as two units: 68 + emoji is one part', () => {
    expect(partHex(encodeMessage(ZHE.repeat(68) + '🙂', opts))).toEqual([zz(68) + 'd83dde42']);
  });

  it('never splits a surrogate pair across the 67-unit boundary', () => {
    const text = ZHE.repeat(66) + '🙂' + ZHE.repeat(10);
    const m = encodeMessage(text, opts);
    expect(partHex(m)).toEqual(['0500032a0201' + zz(66), '0500032a0202' + 'd83dde42' + zz(10)]);
  });

  it('keeps a pair that ends exactly at unit 67 in the first part', () => {
    const m = encodeMessage(ZHE.repeat(65) + '😀' + ZHE.repeat(5), opts);
    expect(partHex(m)).toEqual(['0500032a0201' + zz(65) + 'd83dde00', '0500032a0202' + zz(5)]);
  });
});

describe('encodeMessage, forced encoding', () => {
  it('forces UCS-2 on GSM text', () => {
    const m = encodeMessage('abc', { ...opts, encoding: 'ucs2' });
    expect(m).toMatchObject({ encoding: 'ucs2', dataCoding: 0x08 });
    expect(partHex(m)).toEqual(['006100620063']);
    expect(partHex(encodeMessage('', { ...opts, encoding: 'ucs2' }))).toEqual(['']);
  });

  it('accepts forced GSM-7 on GSM text', () => {
    expect(partHex(encodeMessage('a[b', { ...opts, encoding: 'gsm7' }))).toEqual(['611b3c62']);
  });

  it('refuses forced GSM-7 on non-GSM text with INVALID_TEXT naming the first offending character', () => {
    const e = errorOf(() => encodeMessage('hé 😀 Ж', { ...opts, encoding: 'gsm7' }));
    expect(e).toBeInstanceOf(PermanentError);
    expect(e.code).toBe('INVALID_TEXT');
    expect(e.retryable).toBe(false);
    expect(e.message).toBe('character "😀" (U+1F600) at index 3 is not in the GSM 03.38 alphabet');
    expect(errorOf(() => encodeMessage('héllo Ж', { ...opts, encoding: 'gsm7' })).message).toContain('(U+0416) at index 6');
  });
});

describe('encodeMessage, errors', () => {
  it('refuses more parts than maxParts with MESSAGE_TOO_LONG saying how many and the max', () => {
    const e = errorOf(() => encodeMessage(a(153 * 3 + 1), { ...opts, maxParts: 3 }));
    expect(e.code).toBe('MESSAGE_TOO_LONG');
    expect(e.message).toBe('text needs 4 GSM-7 segments; at most 3 are allowed');
    expect(encodeMessage(a(153 * 3), { ...opts, maxParts: 3 }).parts).toHaveLength(3);
    const u = errorOf(() => encodeMessage(ZHE.repeat(67 * 2 + 1), { ...opts, maxParts: 2 }));
    expect(u.message).toBe('text needs 3 UCS-2 segments; at most 2 are allowed');
  });

  it('with maxParts 1 refuses anything that needs concatenation', () => {
    expect(encodeMessage(a(160), { ...opts, maxParts: 1 }).parts).toHaveLength(1);
    expect(errorOf(() => encodeMessage(a(161), { ...opts, maxParts: 1 })).message).toBe('text needs 2 GSM-7 segments; at most 1 are allowed');
  });

  it('caps maxParts at 255, the 8-bit UDH limit, and counts exactly even for a huge text', () => {
    const e = errorOf(() => encodeMessage(a(153 * 255 + 1), { ...opts, maxParts: 1000 }));
    expect(e.message).toBe('text needs 256 GSM-7 segments; at most 255 are allowed (the concatenation header counts at most 255)');
    expect(encodeMessage(a(153 * 255), { ...opts, maxParts: 1000 }).parts).toHaveLength(255);
    // Longer than the scratch buffer: ceil(40000 / 153) = 262.
    expect(errorOf(() => encodeMessage(a(40_000), opts)).message).toBe('text needs 262 GSM-7 segments; at most 10 are allowed');
  });

  it('refuses lone surrogates (malformed UTF-16) with INVALID_TEXT and the index', () => {
    const cases: Array<[string, string]> = [
      ['x\udc00', 'U+DC00 at index 1'], // low alone
      ['ab\ud83d', 'U+D83D at index 2'], // high at the end
      ['\ud83dx', 'U+D83D at index 0'], // high then not a low
      ['\ude00\ud83d', 'U+DE00 at index 0'], // pair in the wrong order
      [ZHE.repeat(66) + '\ud800' + '🙂', 'U+D800 at index 66'], // at the part boundary
      [ZHE.repeat(100) + '\udfff', 'U+DFFF at index 100'], // in the second part
    ];
    for (const [text, where] of cases) {
      for (const encoding of [undefined, 'ucs2', 'gsm7'] as const) {
        const e = errorOf(() => encodeMessage(text, encoding === undefined ? opts : { ...opts, encoding }));
        expect(e.code).toBe('INVALID_TEXT');
        expect(e.message).toBe(`text has a lone surrogate ${where} (malformed UTF-16)`);
      }
    }
  });

  it('reports a lone surrogate rather than the length when a text has both faults', () => {
    expect(errorOf(() => encodeMessage(ZHE.repeat(1000) + '\ud800', opts)).code).toBe('INVALID_TEXT');
  });
});

describe('decodeShortMessage', () => {
  it('decodes GSM-7 and UCS-2 without UDH', () => {
    expect(decodeShortMessage(Buffer.from('00010203611b65', 'hex'), 0x00, false)).toEqual({ text: '@£$¥a€' });
    expect(decodeShortMessage(Buffer.from('0416d83dde42', 'hex'), 0x08, false)).toEqual({ text: 'Ж🙂' });
  });

  it('parses the 8-bit (IE 0x00) and 16-bit (IE 0x08) concatenation IEs', () => {
    expect(decodeShortMessage(Buffer.from('0500032a0302' + '6162', 'hex'), 0, true)).toEqual({ text: 'ab', concat: { ref: 0x2a, total: 3, seq: 2 } });
    expect(decodeShortMessage(Buffer.from('060804beef0201' + '0416', 'hex'), 8, true)).toEqual({ text: 'Ж', concat: { ref: 0xbeef, total: 2, seq: 1 } });
  });

  it('skips other IEs in the UDH (here application port addressing first)', () => {
    const sm = Buffer.from('0b' + '05040b8423f0' + '0003070201' + '6869', 'hex');
    expect(decodeShortMessage(sm, 0, true)).toEqual({ text: 'hi', concat: { ref: 7, total: 2, seq: 1 } });
  });

  it('does not throw on a truncated UDH', () => {
    expect(decodeShortMessage(Buffer.from('0500', 'hex'), 0, true)).toEqual({ text: '' });
    expect(decodeShortMessage(Buffer.from('050003', 'hex'), 0, true)).toEqual({ text: '' });
  });

  it('decodes Latin-1 (0x03) and ASCII (0x01) one character per octet, best effort', () => {
    expect(decodeShortMessage(Buffer.from('e9e0', 'hex'), 0x03, false).text).toBe('éà');
    expect(decodeShortMessage(Buffer.from('Hi {x}', 'latin1'), 0x01, false).text).toBe('Hi {x}');
  });

  it('treats data_coding 0xF0..0xF3 as GSM-7 and ignores an odd trailing UCS-2 octet', () => {
    expect(decodeShortMessage(Buffer.from('1b65', 'hex'), 0xf1, false).text).toBe('€');
    expect(decodeShortMessage(Buffer.from('041604', 'hex'), 0x08, false).text).toBe('Ж');
  });

  it('leaves the caller’s buffer unchanged', () => {
    const sm = Buffer.from('0500032a0201' + '04160417', 'hex');
    decodeShortMessage(sm, 8, true);
    expect(hex(sm)).toBe('0500032a0201' + '04160417');
  });
});

// A deliberately naive reference: per-character octets, then greedy parts.
function referenceParts(text: string, maxSingle: number, perPart: number, unitsOf: (ch: string) => string): string[] {
  const chars = Array.from(text).map(unitsOf); // hex of each character's octets
  const width = maxSingle === 160 ? 2 : 4; // hex digits per septet / code unit
  const total = chars.reduce((n, h) => n + h.length / width, 0);
  if (total <= maxSingle) return [chars.join('')];
  const parts: string[] = [];
  let cur = '';
  for (const h of chars) {
    if ((cur.length + h.length) / width > perPart) {
      parts.push(cur);
      cur = '';
    }
    cur += h;
  }
  parts.push(cur);
  return parts;
}

describe('property: random texts, seeded', () => {
  const GSM_CHARS = Array.from(specTable().values(), (cp) => String.fromCodePoint(cp)).concat(SPEC_EXTENSION.map(([ch]) => ch));
  const OTHER = ['Ж', 'ç', '中', '🙂', '𝄞', '😀', 'ü', '€', ' ', 'a', '\u2126', '\uffff', '\u0000'];

  function randomText(rnd: () => number, alphabet: readonly string[], maxLen: number): string {
    // Lengths cluster around the boundaries (and beyond) as well as uniformly.
    const pivots = [70, 153, 160, 306, 320];
    const len = rnd() < 0.5 ? Math.floor(rnd() * maxLen) : Math.max(0, (pivots[Math.floor(rnd() * pivots.length)] as number) - 4 + Math.floor(rnd() * 8));
    let t = '';
    while (t.length < len) t += alphabet[Math.floor(rnd() * alphabet.length)] as string;
    return t;
  }

  it('matches the reference segmenter byte for byte and round-trips (2,000 texts)', () => {
    const rnd = prng(0x5eed);
    for (let k = 0; k < 2000; k++) {
      const unicode = k % 2 === 1;
      const text = randomText(rnd, unicode ? [...GSM_CHARS, ...OTHER] : GSM_CHARS, 700);
      const ref = k & 0xff;
      const m = encodeMessage(text, { concatRef: ref, maxParts: 255 });
      const gsm = isGsmEncodable(text);
      expect(m.encoding, JSON.stringify(text)).toBe(gsm ? 'gsm7' : 'ucs2');
      const expected = gsm
        ? referenceParts(text, 160, 153, (ch) => hex(encodeGsm(ch)))
        : referenceParts(text, 70, 67, (ch) => Buffer.from(ch, 'utf16le').swap16().toString('hex'));
      const multi = expected.length > 1;
      expect(m.esmClass).toBe(multi ? 0x40 : 0);
      const udh = (seq: number): string => (multi ? '050003' + [ref, expected.length, seq].map((n) => n.toString(16).padStart(2, '0')).join('') : '');
      expect(partHex(m)).toEqual(expected.map((p, i) => udh(i + 1) + p));
      const back = m.parts.map((p, i) => {
        const d = decodeShortMessage(p.shortMessage, m.dataCoding, multi);
        expect(d.concat).toEqual(multi ? { ref, total: m.parts.length, seq: i + 1 } : undefined);
        return d.text;
      });
      expect(back.join('')).toBe(text);
      for (const p of m.parts) expect(p.shortMessage.length).toBeLessThanOrEqual(gsm ? 160 : 140);
    }
  });
});
