/**
 * Template amplification (issue 11, item 3): `{{a}}` × 1,600 with a 245 KB
 * variable rendered 392 M characters before any length check, and encoding
 * them held the event loop for 8 s (25 s for a batch of 5). The rendered
 * length is now added up before anything is rendered and bounded by what the
 * message size allows; a template has at most 100 placeholders.
 */
import { describe, expect, it } from 'vitest';
import { isRefusal, maxTextChars, parseSubmit } from '../../engine/ingress/parse-submit.js';
import { MAX_PLACEHOLDERS, renderTemplate, templateStats } from '../../engine/ingress/render-template.js';

const LIMITS = { minValiditySec: 60, maxValiditySec: 86_400, maxScheduleSec: 86_400, maxTextChars: maxTextChars(10) };
const submit = { op: 'submit', ref: 'r', to: '+4791234567', from: 'Acme' };

describe('template amplification', () => {
  it('the issue\'s bomb ({{a}} × 1,600, a 245 KB variable) is refused without rendering', () => {
    const before = { ...templateStats };
    const r = renderTemplate('{{a}}'.repeat(1600), { a: 'x'.repeat(245_000) }, LIMITS.maxTextChars);
    expect(r).toMatchObject({ code: 'INVALID_TEMPLATE', error: `a template may have at most ${MAX_PLACEHOLDERS} placeholders` });
    expect(templateStats).toEqual(before); // nothing rendered
  });

  it('a template within the placeholder cap whose variables would render too much is refused MESSAGE_TOO_LONG, counted not rendered', () => {
    const vars = { a: 'x'.repeat(245_000) };
    const before = { ...templateStats };
    for (let i = 0; i < 500; i++) {
      const r = renderTemplate('{{a}}'.repeat(100), vars, LIMITS.maxTextChars);
      expect(r).toMatchObject({ code: 'MESSAGE_TOO_LONG' });
      // The length in the refusal is computed from the variables: 100 × 245,000.
      expect((r as { error: string }).error).toContain('would render 24500000 characters');
    }
    // A whole batch's worth of recipients, and not one character rendered (before: 24.5 M each).
    expect(templateStats).toEqual(before);
    // What does fit is rendered, and counted.
    expect(renderTemplate('Hi {{a}}', { a: 'Ola' }, LIMITS.maxTextChars)).toBe('Hi Ola');
    expect(templateStats).toEqual({ rendered: before.rendered + 1, renderedChars: before.renderedChars + 6 });
  });

  it('counts defaults, numbers and literal text, and renders what fits', () => {
    const max = LIMITS.maxTextChars; // 3,060 for 10 parts
    const lit = 'y'.repeat(max - 10);
    expect(renderTemplate(`${lit}{{n}}`, { n: 1234567890 }, max)).toBe(lit + '1234567890');
    expect(renderTemplate(`${lit}{{n}}`, { n: 12345678901 }, max)).toMatchObject({ code: 'MESSAGE_TOO_LONG' });
    expect(renderTemplate(`${lit}{{d|0123456789}}`, {}, max)).toBe(lit + '0123456789');
    expect(renderTemplate(`${lit}{{d|0123456789X}}`, {}, max)).toMatchObject({ code: 'MESSAGE_TOO_LONG' });
  });

  it('parseSubmit bounds templates and plain texts by messages.maxParts before encoding', () => {
    const tooLong = parseSubmit({ ...submit, template: '{{a}}{{a}}', vars: { a: 'z'.repeat(2000) } }, LIMITS);
    expect(tooLong).toMatchObject({ code: 'MESSAGE_TOO_LONG' });
    // A batch's common.text of 200 KB: refused by its length (this text is parse-submit's: the encoder never saw it).
    const big = 'w'.repeat(200_000);
    for (let i = 0; i < 500; i++) expect(parseSubmit({ ...submit, text: big }, LIMITS)).toMatchObject({ code: 'MESSAGE_TOO_LONG', error: expect.stringContaining('text of 200000 characters needs at least 1308 segments') });
    // Up to twice the GSM-7 capacity is left to the encoder (transliteration may shorten a text).
    expect(isRefusal(parseSubmit({ ...submit, text: 'v'.repeat(LIMITS.maxTextChars) }, LIMITS) as never)).toBe(false);
  });
});
