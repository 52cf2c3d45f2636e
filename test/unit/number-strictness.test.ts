/**
 * E.164 strictness (issue 11, hygiene): "-4791234567" and numbers with a
 * trailing "\n", "\r", "\t" or space were accepted (409 wrong acceptances in
 * the reviewers' fuzz). Only the documented normalisation is accepted now:
 * an optional "+" or "00", digits, single spaces, dashes or dots between
 * digits and brackets around digits; anything else is INVALID_NUMBER.
 */
import { describe, expect, it } from 'vitest';
import { normalizeNumber } from '../../engine/ingress/normalize-number.js';

describe('normalizeNumber accepts the documented normalisation', () => {
  it.each([
    ['+4791234567', '4791234567'],
    ['4791234567', '4791234567'], // no "+": read as international
    ['004791234567', '4791234567'], // "00" international prefix
    ['+47 912 34 567', '4791234567'],
    ['+47-912-34-567', '4791234567'],
    ['+47.912.34.567', '4791234567'],
    ['+47 (912) 34567', '4791234567'],
    ['+47(912)34567', '4791234567'],
    ['+1 (415) 555-0100', '14155550100'],
    ['+44 (0)7911 123456', '447911123456'], // the UK trunk "0" in brackets: libphonenumber drops it
    ['+33 6 12 34 56 78', '33612345678'],
  ])('%j → %s', (input, e164) => {
    expect(normalizeNumber(input)).toMatchObject({ ok: true, e164 });
  });
});

describe('normalizeNumber refuses everything else with a text that says what is allowed', () => {
  it.each([
    ['a leading "-" (was read as +4791234567)', '-4791234567'],
    ['"+" then "-"', '+-4791234567'],
    ['a trailing newline (was trimmed and accepted)', '+4791234567\n'],
    ['a trailing carriage return', '+4791234567\r'],
    ['a trailing tab', '+4791234567\t'],
    ['a trailing space', '+4791234567 '],
    ['a leading space', ' +4791234567'],
    ['a leading tab', '\t+4791234567'],
    ['CRLF', '4791234567\r\n'],
    ['a NUL', '+4791234567\u0000'],
    ['a control character inside', '+47912\u000734567'],
    ['a zero-width space inside', '+47912\u200b34567'],
    ['a no-break space as separator', '+47\u00a091234567'],
    ['two spaces in a row', '+47  91234567'],
    ['mixed separators in a row', '+47 -91234567'],
    ['a trailing dash', '+4791234567-'],
    ['a separator right after "+"', '+ 4791234567'],
    ['two "+"', '++4791234567'],
    ['"+" inside', '47+91234567'],
    ['an unclosed bracket', '+47 (912 34567'],
    ['a stray closing bracket', '+47 912) 34567'],
    ['nested brackets', '+47 ((912)) 34567'],
    ['empty brackets', '+47 () 91234567'],
    ['full-width digits', '+４７９１２３４５６７'],
    ['letters', '+47912CALLME'],
    ['a "tel:" URI', 'tel:+4791234567'],
    ['only a "+"', '+'],
    ['nothing', ''],
  ])('%s: %j', (_name, input) => {
    const r = normalizeNumber(input);
    expect(r.ok).toBe(false);
    expect((r as { error: string }).error).toContain('is not a phone number (digits with an optional leading "+"; single spaces, dashes, dots or brackets between digits; nothing before or after)');
  });

  it('refuses more than 15 digits (E.164) and input over 32 characters unread', () => {
    expect(normalizeNumber('+4791234567123456')).toMatchObject({ ok: false, error: expect.stringContaining('has 16 digits: an international number has at most 15') });
    const long = '+47' + '1'.repeat(100_000);
    expect(normalizeNumber(long)).toMatchObject({ ok: false, error: `"to" has ${long.length} characters: not a phone number (at most 32 characters, 15 digits)` });
  });

  it('still lets libphonenumber judge the digits: a valid shape is not a valid number', () => {
    expect(normalizeNumber('+47 12')).toMatchObject({ ok: false, error: expect.stringContaining('is not a valid number') });
  });
});
