import { describe, expect, it } from 'vitest';
import { isRefusal, parseSubmit } from '../../engine/ingress/parse-submit.js';
import { normalizeNumber } from '../../engine/ingress/normalize-number.js';

const ok = { op: 'submit', ref: 'r1', to: '+4791234567', from: 'Acme', text: 'hi' };
const LIMITS = { minValiditySec: 60, maxValiditySec: 86400, maxScheduleSec: 30 * 86400 };

describe('parseSubmit', () => {
  it('accepts a well-formed submit', () => {
    const r = parseSubmit(ok, LIMITS);
    expect(isRefusal(r)).toBe(false);
    expect(r).toMatchObject({ ref: 'r1', to: '+4791234567', from: 'Acme', text: 'hi', dlr: true });
  });

  it.each([
    [{ ...ok, to: undefined }, '"to" is required'],
    [{ ...ok, from: 'WayTooLongSender' }, '"from" must be'],
    [{ ...ok, text: 42 }, '"text" is required and must be a string (or give "template" and "vars")'],
    [{ ...ok, validity: 5 }, '"validity" must be whole seconds between 60 and 86400'],
    [{ ...ok, dlr: 'yes' }, '"dlr" must be true or false'],
    [{ ...ok, colour: 'red' }, 'unknown field "colour"'],
    [{ ...ok, ref: 7 }, '"ref" must be a string'],
  ])('refuses %j with INVALID_FIELD', (input, text) => {
    const r = parseSubmit(input, LIMITS);
    expect(isRefusal(r)).toBe(true);
    expect(r).toMatchObject({ code: 'INVALID_FIELD' });
    expect((r as { error: string }).error).toContain(text);
  });
});

describe('normalizeNumber', () => {
  it('normalises valid numbers to E.164 digits', () => {
    expect(normalizeNumber('+47 912 34 567')).toEqual({ ok: true, e164: '4791234567', country: 'NO' });
    expect(normalizeNumber('004791234567')).toMatchObject({ ok: true, e164: '4791234567' });
  });
  it('refuses invalid numbers with a clear text', () => {
    const r = normalizeNumber('+4712');
    expect(r.ok).toBe(false);
    expect(normalizeNumber('hello')).toEqual({ ok: false, error: '"hello" is not a phone number (digits with an optional leading "+"; single spaces, dashes, dots or brackets between digits; nothing before or after)' });
  });
});
