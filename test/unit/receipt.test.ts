import { describe, expect, it } from 'vitest';
import { normalizeSmscId, parseReceiptText, readReceipt, receiptKey, stateOfStat } from '../../engine/actors/receipt.js';

describe('receipt parsing and id matching', () => {
  it('reads the Appendix B text, tolerant of case and spacing', () => {
    const t = 'ID:0A1B2C sub:001 dlvrd:001 submit date:2611221530 done date:2611221531 STAT:UNDELIV err:011 text:Hello id:xx stat:DELIVRD';
    expect(parseReceiptText(t)).toEqual({ id: '0A1B2C', stat: 'UNDELIV', err: '011' });
    expect(parseReceiptText('id: 42  stat: DELIVRD')).toEqual({ id: '42', stat: 'DELIVRD' });
  });

  it('maps receipt states per DESIGN.md §6', () => {
    expect(stateOfStat('DELIVRD', '000')).toBe('D');
    for (const s of ['UNDELIV', 'REJECTD', 'DELETED']) expect(stateOfStat(s, '')).toBe('U');
    expect(stateOfStat('EXPIRED', '')).toBe('E');
    expect(stateOfStat('UNKNOWN', '')).toBe('K');
    expect(stateOfStat('ENROUTE', '000')).toBeUndefined();
    expect(stateOfStat('ACCEPTD', '027')).toBe('u');
  });

  it('prefers TLVs over the text', () => {
    const r = readReceipt({ receiptedMessageId: 'ABC', messageState: 5, text: 'id:zzz stat:DELIVRD err:000' });
    expect(r).toEqual({ id: 'ABC', state: 'U', stat: 'UNDELIV', err: '000' });
    expect(readReceipt({ text: 'no id here' })).toBeUndefined();
  });

  it('normalises ids: case and leading zeros', () => {
    expect(normalizeSmscId('00A1B2')).toBe('a1b2');
    expect(normalizeSmscId('0000')).toBe('0');
    expect(normalizeSmscId(' Ab ')).toBe('ab');
  });

  it('converts a receipt id to the radix of the submit_sm_resp ids as configured, and only then', () => {
    // resp "00A1B2" (hex) is stored as "a1b2"; the receipt says 41394 (decimal).
    expect(receiptKey('41394', 'hex-resp-dec-receipt')).toBe('a1b2');
    // resp "41394" (decimal); the receipt says "A1B2" (hex).
    expect(receiptKey('A1B2', 'dec-resp-hex-receipt')).toBe('41394');
    expect(receiptKey('0041394', 'exact')).toBe('41394');
    expect(receiptKey('00A1B2', 'exact')).toBe('a1b2');
    // exact never tries another radix: decimal "16" must not find message hex "16" (= 22) nor hex "10" (= 16)
    expect(receiptKey('16', 'exact')).toBe('16');
    // an id that does not read in the configured radix is used as it is
    expect(receiptKey('6f1c-22', 'hex-resp-dec-receipt')).toBe('6f1c-22');
    expect(receiptKey('ab', 'hex-resp-dec-receipt')).toBe('ab');
  });
});
