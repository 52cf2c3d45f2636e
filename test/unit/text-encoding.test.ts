import { describe, expect, it } from 'vitest';
import { decodeShortMessage, encodeGsm, encodeMessage, gsmLength } from '../../engine/text/index.js';

const opts = { concatRef: 0x2a, maxParts: 10 };
const hex = (b: Buffer) => b.toString('hex');

function errorOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    return e as { code: string; message: string };
  }
  throw new Error('expected an error');
}

describe('GSM 03.38', () => {
  it('maps the basic table byte by byte', () => {
    expect(hex(encodeGsm('@£$¥'))).toBe('00010203');
    expect(hex(encodeGsm('èéùìòÇ\nØø\rÅå'))).toBe('0405060708090a0b0c0d0e0f');
    expect(hex(encodeGsm('Δ_ΦΓΛΩΠΨΣΘΞ'))).toBe('101112131415161718191a');
    expect(hex(encodeGsm('ÆæßÉ'))).toBe('1c1d1e1f');
    expect(hex(encodeGsm(' !"#¤%&\'()*+,-./'))).toBe('202122232425262728292a2b2c2d2e2f');
    expect(hex(encodeGsm('09:;<=>?'))).toBe('30393a3b3c3d3e3f');
    expect(hex(encodeGsm('¡AZÄÖÑÜ§'))).toBe('40415a5b5c5d5e5f');
    expect(hex(encodeGsm('¿azäöñüà'))).toBe('60617a7b7c7d7e7f');
  });

  it('escapes the extension table with 0x1B', () => {
    const cases: Array<[string, string]> = [
      ['€', '1b65'], ['[', '1b3c'], [']', '1b3e'], ['{', '1b28'], ['}', '1b29'],
      ['~', '1b3d'], ['\\', '1b2f'], ['^', '1b14'], ['|', '1b40'], ['\f', '1b0a'],
    ];
    for (const [ch, bytes] of cases) expect(hex(encodeGsm(ch)), ch).toBe(bytes);
    expect(gsmLength('a€b')).toBe(4);
  });

  it('picks UCS-2 for characters outside GSM (e.g. ç lower-case, backtick, emoji)', () => {
    for (const t of ['ça', '`', 'Ж', '🙂']) expect(encodeMessage(t, opts).encoding).toBe('ucs2');
  });
});

describe('encodeMessage', () => {
  it('sends up to 160 septets as one GSM-7 part without UDH', () => {
    const m = encodeMessage('a'.repeat(160), opts);
    expect(m).toMatchObject({ encoding: 'gsm7', dataCoding: 0, esmClass: 0 });
    expect(m.parts).toHaveLength(1);
    expect(m.parts[0]?.shortMessage.length).toBe(160);
  });

  it('splits 161 septets into 153 + 8 with UDH 05 00 03 ref total seq', () => {
    const m = encodeMessage('a'.repeat(161), opts);
    expect(m.esmClass).toBe(0x40);
    expect(m.parts.map((p) => p.shortMessage.length)).toEqual([6 + 153, 6 + 8]);
    expect(hex(m.parts[0]!.shortMessage.subarray(0, 6))).toBe('0500032a0201');
    expect(hex(m.parts[1]!.shortMessage.subarray(0, 6))).toBe('0500032a0202');
  });

  it('counts escapes as two septets: 159 plain + € is 161 septets, two parts', () => {
    const m = encodeMessage('a'.repeat(159) + '€', opts);
    expect(m.parts).toHaveLength(2);
    const m2 = encodeMessage('a'.repeat(158) + '€', opts);
    expect(m2.parts).toHaveLength(1);
    expect(hex(m2.parts[0]!.shortMessage.subarray(158))).toBe('1b65');
  });

  it('never splits an escape pair across parts', () => {
    // 152 septets then '[' (2 septets) would straddle the 153 boundary.
    const m = encodeMessage('a'.repeat(152) + '[' + 'b'.repeat(10), opts);
    expect(m.parts).toHaveLength(2);
    expect(m.parts[0]!.shortMessage.length).toBe(6 + 152);
    expect(hex(m.parts[1]!.shortMessage.subarray(6, 8))).toBe('1b3c');
    const joined = m.parts.map((p) => decodeShortMessage(p.shortMessage, 0, true).text).join('');
    expect(joined).toBe('a'.repeat(152) + '[' + 'b'.repeat(10));
  });

  it('sends up to 70 UTF-16 units as one UCS-2 part, 71 as 67 + 4', () => {
    const one = encodeMessage('Ж'.repeat(70), opts);
    expect(one).toMatchObject({ encoding: 'ucs2', dataCoding: 8, esmClass: 0 });
    expect(hex(one.parts[0]!.shortMessage.subarray(0, 4))).toBe('04160416');
    const two = encodeMessage('Ж'.repeat(71), opts);
    expect(two.parts.map((p) => p.shortMessage.length)).toEqual([6 + 134, 6 + 8]);
  });

  it('never splits a surrogate pair across UCS-2 parts', () => {
    const text = 'Ж'.repeat(66) + '🙂' + 'Ж'.repeat(10);
    const m = encodeMessage(text, opts);
    expect(m.parts[0]!.shortMessage.length).toBe(6 + 66 * 2);
    expect(hex(m.parts[1]!.shortMessage.subarray(6, 10))).toBe('d83dde42');
    expect(m.parts.map((p) => decodeShortMessage(p.shortMessage, 8, true).text).join('')).toBe(text);
  });

  it('handles empty text as one empty part', () => {
    const m = encodeMessage('', opts);
    expect(m.parts).toHaveLength(1);
    expect(m.parts[0]!.shortMessage.length).toBe(0);
  });

  it('refuses lone surrogates, forced GSM on non-GSM text, and too many parts', () => {
    const a = errorOf(() => encodeMessage('x\udc00', opts));
    expect(a.code).toBe('INVALID_TEXT');
    expect(a.message).toContain('U+DC00 at index 1');
    const b = errorOf(() => encodeMessage('héllo Ж', { ...opts, encoding: 'gsm7' }));
    expect(b).toMatchObject({ code: 'INVALID_TEXT' });
    expect(b.message).toContain('U+0416 at index 6');
    const c = errorOf(() => encodeMessage('a'.repeat(153 * 3 + 1), { ...opts, maxParts: 3 }));
    expect(c.code).toBe('MESSAGE_TOO_LONG');
    expect(c.message).toBe('text needs 4 GSM-7 segments; at most 3 are allowed');
  });

  it('forces UCS-2 when asked', () => {
    expect(encodeMessage('abc', { ...opts, encoding: 'ucs2' }).parts[0]!.shortMessage).toEqual(Buffer.from('006100620063', 'hex'));
  });

  it('round-trips random GSM and Unicode texts through decodeShortMessage', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const gsmChars = '@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCXYZÄÖÑÜ§¿abcxyzäöñüà€[]{}~\\^|\n';
    const uniChars = ['Ж', 'ü', '中', '🙂', 'é', ' ', 'a', '€', '𝄞'];
    for (let k = 0; k < 300; k++) {
      const uni = k % 2 === 1;
      const len = Math.floor(rnd() * 600);
      let t = '';
      for (let i = 0; i < len; i++) t += uni ? uniChars[Math.floor(rnd() * uniChars.length)] : gsmChars[Math.floor(rnd() * gsmChars.length)];
      const m = encodeMessage(t, { concatRef: k & 0xff, maxParts: 255 });
      const multi = m.parts.length > 1;
      const back = m.parts.map((p, i) => {
        const d = decodeShortMessage(p.shortMessage, m.dataCoding, multi);
        if (multi) expect(d.concat).toEqual({ ref: k & 0xff, total: m.parts.length, seq: i + 1 });
        return d.text;
      });
      expect(back.join('')).toBe(t);
      for (const p of m.parts) expect(p.shortMessage.length).toBeLessThanOrEqual(140 + (m.dataCoding === 0 ? 20 : 0));
    }
  });
});
