/** Transliteration to GSM, templates, the new submit fields and sender allowlists: pure, no server. */
import { describe, expect, it } from 'vitest';
import { compileSenders } from '../../engine/lifecycle/sender-allowlist.js';
import { isRefusal, parseSubmit } from '../../engine/ingress/parse-submit.js';
import { checkTemplate, renderTemplate } from '../../engine/ingress/render-template.js';
import { encodeMessage, isGsmEncodable, transliterateToGsm } from '../../engine/text/index.js';

describe('transliterateToGsm', () => {
  it.each([
    ['smart quotes, dashes, ellipsis, odd spaces', 'It\u2019s \u201cfine\u201d \u2013 really\u2026\u00a0ok', 'It\'s "fine" - really... ok'],
    ['accented letters outside GSM', 'Crème brûlée à São Paulo, Łódź, Kraków, Ørsted, ça', 'Crème brulée à Sao Paulo, Lodz, Krakow, Ørsted, ca'],
    ['Russian', 'Ваш код: 4821. Щедрый Юрий', 'Vash kod: 4821. Shchedryy Yuriy'],
    ['Ukrainian letters', 'Їжак, Євген, Ґанок', 'Yizhak, Yevgen, Ganok'],
    ['Greek to GSM capitals', 'Καλημέρα, ευχαριστώ', 'KAΛHMEPA, EYXAPIΣTΩ'],
    ['ligatures, fractions, full width', 'ﬁne ½ ２３', 'fine 1/2 23'],
  ])('%s', (_, input, out) => {
    const t = transliterateToGsm(input);
    expect(t).toBe(out);
    expect(isGsmEncodable(t as string)).toBe(true);
  });

  it('leaves GSM text alone (é, ü, ß, Ø, Δ, € stay) and returns it as it was', () => {
    const gsm = 'Grüße aus Köln: 5 € @ Δ Ø é {ok}';
    expect(transliterateToGsm(gsm)).toBe(gsm);
  });

  it('gives up on characters without a GSM form (the caller then sends the original in UCS-2)', () => {
    expect(transliterateToGsm('Hello 🙂')).toBeUndefined();
    expect(transliterateToGsm('你好')).toBeUndefined();
    expect(transliterateToGsm('مرحبا')).toBeUndefined();
  });

  it('turns a UCS-2 message into fewer GSM-7 segments', () => {
    const text = '“Quoted” – ' + 'Привет! '.repeat(12);
    expect(encodeMessage(text, { concatRef: 1, maxParts: 10 }).parts).toHaveLength(2);
    const t = transliterateToGsm(text) as string;
    const e = encodeMessage(t, { concatRef: 1, maxParts: 10 });
    expect(e.encoding).toBe('gsm7');
    expect(e.parts).toHaveLength(1);
  });
});

describe('templates', () => {
  it('renders placeholders with variables, spaces and defaults; single braces are text', () => {
    expect(renderTemplate('Hi {{name}}, {{ code }} {ok} {{footer|Bye now}}', { name: 'Ola', code: 42 })).toBe('Hi Ola, 42 {ok} Bye now');
    expect(renderTemplate('{{a}}{{b}}', { a: true, b: 'x' })).toBe('truex');
    expect(renderTemplate('no placeholders', undefined)).toBe('no placeholders');
    expect(renderTemplate('{{x|}}!', {})).toBe('!');
  });

  it.each([
    ['{{name', {}, 'is not closed'],
    ['x }} y', {}, 'closes no placeholder'],
    ['{{}}', {}, 'empty placeholder'],
    ['{{ 1abc }}', {}, 'placeholder name'],
    ['Hi {{name}}', {}, 'variable "name" is missing and has no default'],
    ['Hi {{name}}', { name: [1] }, 'must be a string, a number or a boolean'],
    ['Hi {{name}}', 'Ola', '"vars" must be an object'],
    ['', {}, 'non-empty string'],
  ])('refuses %j with %j: INVALID_TEMPLATE', (template, vars, text) => {
    const r = renderTemplate(template, vars);
    expect(r).toMatchObject({ code: 'INVALID_TEMPLATE', error: expect.stringContaining(text) });
  });

  it('checks a template once without variables', () => {
    expect(checkTemplate('Hi {{name}}')).toBeUndefined();
    expect(checkTemplate('Hi {{name')).toMatchObject({ code: 'INVALID_TEMPLATE' });
  });
});

describe('submit fields of the lifecycle', () => {
  const LIMITS = { minValiditySec: 30, maxValiditySec: 86_400, maxScheduleSec: 7 * 86_400 };
  const ok = { op: 'submit', ref: 'r1', to: '+4791234567', from: 'Acme', text: 'hi' };
  const now = Date.UTC(2026, 11, 1, 8, 0, 0);

  it('reads sendAt as ISO 8601 with a zone or as milliseconds', () => {
    expect(parseSubmit({ ...ok, sendAt: '2026-12-01T10:00:00+01:00' }, LIMITS, now)).toMatchObject({ sendAt: Date.UTC(2026, 11, 1, 9) });
    expect(parseSubmit({ ...ok, sendAt: '2026-12-01T09:30:00.5Z' }, LIMITS, now)).toMatchObject({ sendAt: Date.UTC(2026, 11, 1, 9, 30, 0, 500) });
    expect(parseSubmit({ ...ok, sendAt: now + 5000 }, LIMITS, now)).toMatchObject({ sendAt: now + 5000 });
    expect(parseSubmit(ok, LIMITS, now)).toMatchObject({ sendAt: undefined, transliterate: undefined });
  });

  it.each([
    [{ sendAt: '2026-12-01T10:00:00' }, 'with a zone'],
    [{ sendAt: 'tomorrow' }, 'ISO 8601'],
    [{ sendAt: 1767225600 }, 'whole milliseconds'],
    [{ sendAt: true }, 'ISO 8601 time or milliseconds'],
    [{ sendAt: now + 8 * 86_400_000 }, 'more than 604800 seconds ahead'],
    [{ validity: 10 }, 'between 30 and 86400'],
    [{ transliterate: 'yes' }, '"transliterate" must be true or false'],
    [{ vars: { a: 1 } }, '"vars" needs a "template"'],
    [{ template: 'x' }, 'give either "text" or "template"'],
  ])('refuses %j with INVALID_FIELD', (extra, text) => {
    const r = parseSubmit({ ...ok, ...extra }, LIMITS, now);
    expect(isRefusal(r)).toBe(true);
    expect(r).toMatchObject({ code: 'INVALID_FIELD', error: expect.stringContaining(text) });
  });

  it('renders a template into the text, and refuses a bad one with INVALID_TEMPLATE', () => {
    const noText: Record<string, unknown> = { ...ok };
    delete noText.text;
    expect(parseSubmit({ ...noText, template: 'Code {{c}}', vars: { c: 7 } }, LIMITS, now)).toMatchObject({ text: 'Code 7' });
    expect(parseSubmit({ ...noText, template: 'Code {{c}}' }, LIMITS, now)).toMatchObject({ code: 'INVALID_TEMPLATE' });
  });
});

describe('sender allowlist', () => {
  it('allows exact ids (case matters), numbers with or without "+", and number prefixes', () => {
    const check = compileSenders(['Acme', '+4790000000', '4791*']) as (from: string) => boolean;
    expect(check('Acme')).toBe(true);
    expect(check('ACME')).toBe(false);
    expect(check('4790000000')).toBe(true);
    expect(check('4791123456')).toBe(true);
    expect(check('4792123456')).toBe(false);
    expect(check('4791abc')).toBe(false);
    expect(compileSenders(undefined)).toBeUndefined();
  });
});
