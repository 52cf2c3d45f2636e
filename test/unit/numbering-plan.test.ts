import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NumberingPlan, PlanError, type Network } from '../../router/numbering-plan.js';

const HEADER = 'prefix,country,mcc,mnc,operator';
const csv = (...rows: string[]): string => [HEADER, ...rows].join('\n') + '\n';
const id = (n: Network | undefined): string | undefined => (n === undefined ? undefined : `${n.mcc}-${n.mnc} ${n.operator}`);

/** The PlanError that parsing `text` as `source` throws. */
function planError(text: string, source = 'ranges.csv'): PlanError {
  try {
    NumberingPlan.fromCsv(text, source);
  } catch (err) {
    expect(err).toBeInstanceOf(PlanError);
    return err as PlanError;
  }
  throw new Error('fromCsv accepted the text');
}

describe('NumberingPlan.lookup', () => {
  const plan = NumberingPlan.fromCsv(
    csv(
      '47,NO,242,,Norway (country only)',
      '479,NO,242,01,Telenor',
      '4792,NO,242,02,Telia',
      '47921,NO,242,23,Lycamobile',
      '479999,NO,242,14,ice',
      '4915,DE,262,02,Vodafone',
      '49151,DE,262,01,Telekom',
    ),
    'overlap.csv',
  );

  it('picks the longest matching prefix among overlapping ranges', () => {
    expect(id(plan.lookup('4791234567'))).toBe('242-01 Telenor');
    expect(id(plan.lookup('4792034567'))).toBe('242-02 Telia');
    expect(id(plan.lookup('4792134567'))).toBe('242-23 Lycamobile');
    expect(id(plan.lookup('4799999999'))).toBe('242-14 ice');
    // Walks past 4799 and 47999, which hold no network, then falls back to 479.
    expect(id(plan.lookup('4799912345'))).toBe('242-01 Telenor');
    expect(id(plan.lookup('4722123456'))).toBe('242- Norway (country only)');
    expect(id(plan.lookup('491511234567'))).toBe('262-01 Telekom');
    expect(id(plan.lookup('491521234567'))).toBe('262-02 Vodafone');
  });

  it('matches a number exactly as long as the prefix, and not a shorter one', () => {
    expect(id(plan.lookup('47921'))).toBe('242-23 Lycamobile');
    expect(id(plan.lookup('4792'))).toBe('242-02 Telia');
    expect(plan.lookup('491')).toBeUndefined();
    expect(plan.lookup('4')).toBeUndefined();
  });

  it('returns undefined when no prefix matches', () => {
    expect(plan.lookup('33612345678')).toBeUndefined();
    expect(plan.lookup('4930123456')).toBeUndefined();
    expect(plan.lookup('')).toBeUndefined();
    expect(plan.lookup('+4791234567')).toBeUndefined();
  });

  it('stops at the first non-digit: the digits before it still match', () => {
    expect(id(plan.lookup('4791x'))).toBe('242-01 Telenor');
    expect(id(plan.lookup('47 921'))).toBe('242- Norway (country only)');
  });

  it('shares one frozen Network object between prefixes of the same network', () => {
    const p = NumberingPlan.fromCsv(csv('4790,NO,242,01,Telenor', '4791,NO,242,01,Telenor', '4792,NO,242,02,Telia'), 'x.csv');
    const a = p.lookup('4790000000');
    expect(a).toBe(p.lookup('4791000000'));
    expect(a).not.toBe(p.lookup('4792000000'));
    expect(Object.isFrozen(a)).toBe(true);
  });

  it('agrees with a naive longest-prefix search on a large random plan', () => {
    // Deterministic LCG, so a failure reproduces. 20,000 prefixes grow the
    // trie's arrays through several doublings.
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const networks = Array.from({ length: 50 }, (_, i) => `${200 + i},${String(i).padStart(2, '0')},Op ${i}`);
    const rows = new Map<string, string>();
    while (rows.size < 20_000) {
      let prefix = String(1 + rand(9));
      const len = 1 + rand(9);
      while (prefix.length < len) prefix += String(rand(10));
      if (!rows.has(prefix)) rows.set(prefix, networks[rand(networks.length)] as string);
    }
    const p = NumberingPlan.fromCsv(csv(...[...rows].map(([prefix, rest]) => `${prefix},ZZ,${rest}`)), 'random.csv');
    expect(p.size).toBe(rows.size);
    for (let i = 0; i < 20_000; i++) {
      let number = String(1 + rand(9));
      while (number.length < 11) number += String(rand(10));
      let expected: string | undefined;
      for (let n = number.length; n > 0 && expected === undefined; n--) expected = rows.get(number.slice(0, n));
      const got = p.lookup(number);
      expect(got === undefined ? undefined : `${got.mcc},${got.mnc},${got.operator}`).toBe(expected);
    }
  });
});

describe('NumberingPlan.fromCsv', () => {
  it('reads quoted operator names with commas and escaped quotes', () => {
    const p = NumberingPlan.fromCsv(
      csv('4790,NO,242,01,"Telenor Norge, AS"', '4791,NO,242,02,"The ""Telia"" network"', '4792,NO,242,03, "  padded, kept "  '),
      'quoted.csv',
    );
    expect(p.lookup('4790000000')?.operator).toBe('Telenor Norge, AS');
    expect(p.lookup('4791000000')?.operator).toBe('The "Telia" network');
    expect(p.lookup('4792000000')?.operator).toBe('  padded, kept ');
  });

  it('ignores comments and blank lines, trims unquoted fields, accepts CRLF and a BOM', () => {
    const text = '\ufeff# operator X ranges\r\n\r\n' + HEADER + '\r\n  # indented comment\r\n4790 , NO , 242 , 01 , Telenor \r\n';
    const p = NumberingPlan.fromCsv(text, 'crlf.csv');
    expect(p.size).toBe(1);
    expect(p.lookup('4790000000')).toEqual({ country: 'NO', mcc: '242', mnc: '01', operator: 'Telenor' });
  });

  it('keeps a 3-digit MNC as written and accepts an empty MNC', () => {
    const p = NumberingPlan.fromCsv(csv('1242357,BS,364,039,BTC', '1242,BS,364,,Bahamas'), 'x.csv');
    expect(p.lookup('12423570000')?.mnc).toBe('039');
    expect(p.lookup('12420000000')?.mnc).toBe('');
  });

  it('accepts a prefix listed twice with the same network, counting it once', () => {
    const p = NumberingPlan.fromCsv(csv('4790,NO,242,01,Telenor', '4790,NO,242,01,Telenor'), 'dup.csv');
    expect(p.size).toBe(1);
  });

  it('refuses a prefix listed twice with different networks, naming both lines', () => {
    const e = planError(csv('4790,NO,242,01,Telenor', '# a comment', '4790,NO,242,02,Telia'), 'dup.csv');
    expect(e.message).toBe(
      'dup.csv:4: duplicate prefix 4790 with a different network: NO 242-02 "Telia" here, NO 242-01 "Telenor" at line 2',
    );
    expect(e.source).toBe('dup.csv');
    expect(e.line).toBe(4);
  });

  it('names source:line and the problem for each kind of bad row', () => {
    const cases: Array<[row: string, message: string]> = [
      ['47a0,NO,242,01,Telenor', 'ranges.csv:2: bad prefix "47a0": expected 1 to 15 digits without \'+\''],
      ['+4790,NO,242,01,Telenor', 'ranges.csv:2: bad prefix "+4790": expected 1 to 15 digits without \'+\''],
      ['1234567890123456,NO,242,01,Telenor', 'ranges.csv:2: bad prefix "1234567890123456": expected 1 to 15 digits without \'+\''],
      [',NO,242,01,Telenor', 'ranges.csv:2: bad prefix "": expected 1 to 15 digits without \'+\''],
      ['4790,no,242,01,Telenor', 'ranges.csv:2: bad country "no": expected an ISO 3166 alpha-2 code such as NO'],
      ['4790,NO,24,01,Telenor', 'ranges.csv:2: bad mcc "24": expected 3 digits'],
      ['4790,NO,2420,01,Telenor', 'ranges.csv:2: bad mcc "2420": expected 3 digits'],
      ['4790,NO,242,1,Telenor', 'ranges.csv:2: bad mnc "1": expected 2 or 3 digits, or empty'],
      ['4790,NO,242,0001,Telenor', 'ranges.csv:2: bad mnc "0001": expected 2 or 3 digits, or empty'],
      ['4790,NO,242,01', 'ranges.csv:2: missing column "operator": 4 of 5 columns (prefix,country,mcc,mnc,operator)'],
      ['4790,NO', 'ranges.csv:2: missing column "mcc": 2 of 5 columns (prefix,country,mcc,mnc,operator)'],
      [
        '4790,NO,242,01,Telenor Norge, AS',
        'ranges.csv:2: 6 columns, expected 5 (prefix,country,mcc,mnc,operator); double-quote an operator name that contains a comma',
      ],
      ['4790,NO,242,01,"Telenor', 'ranges.csv:2: unterminated double quote in column 5'],
      ['4790,NO,242,01,"Tele"nor', 'ranges.csv:2: unexpected text after the closing double quote in column 5'],
      ['4790,NO,242,01,Tele"nor', 'ranges.csv:2: stray double quote in column 5; quote the whole field'],
    ];
    for (const [row, message] of cases) expect(planError(csv(row)).message).toBe(message);
  });

  it('counts comment and blank lines in the line number', () => {
    const e = planError(`# ranges\n\n${HEADER}\n4790,NO,242,01,Telenor\n\n# more\n4791,NO,242,XX,Telia\n`);
    expect(e.message).toBe('ranges.csv:7: bad mnc "XX": expected 2 or 3 digits, or empty');
  });

  it('requires the header line', () => {
    expect(planError('4790,NO,242,01,Telenor\n').message).toBe(
      'ranges.csv:1: expected the header line "prefix,country,mcc,mnc,operator", got "4790,NO,242,01,Telenor"',
    );
    expect(planError('# only a comment\n\n').message).toBe(
      'ranges.csv: no header line "prefix,country,mcc,mnc,operator" (the file is empty or only comments)',
    );
    expect(planError('prefix,country,mcc,mnc\n').line).toBe(1);
  });

  it('reads a file with only the header as an empty plan', () => {
    const p = NumberingPlan.fromCsv(csv(), 'empty.csv');
    expect(p.size).toBe(0);
    expect(p.lookup('4790000000')).toBeUndefined();
  });
});

describe('NumberingPlan.withOverlay', () => {
  const base = NumberingPlan.fromCsv(csv('4790,NO,242,01,Telenor', '4792,NO,242,02,Telia', '49151,DE,262,01,Telekom'), 'default.csv');
  const overlay = NumberingPlan.fromCsv(csv('4792,NO,242,23,Lycamobile', '47925,NO,242,02,Telia', '4799,NO,242,14,ice'), 'operator.csv');
  const merged = base.withOverlay(overlay);

  it("lets the overlay's prefixes win and keeps the base's others", () => {
    expect(id(merged.lookup('4792000000'))).toBe('242-23 Lycamobile');
    expect(id(merged.lookup('4792500000'))).toBe('242-02 Telia');
    expect(id(merged.lookup('4799000000'))).toBe('242-14 ice');
    expect(id(merged.lookup('4790000000'))).toBe('242-01 Telenor');
    expect(id(merged.lookup('491511234567'))).toBe('262-01 Telekom');
    expect(merged.size).toBe(5);
  });

  it('leaves both input plans unchanged', () => {
    expect(id(base.lookup('4792000000'))).toBe('242-02 Telia');
    expect(base.size).toBe(3);
    expect(overlay.lookup('4790000000')).toBeUndefined();
    expect(overlay.size).toBe(3);
  });

  it('deduplicates networks across the two plans', () => {
    expect(merged.lookup('4792500000')).toBe(merged.lookup('4792599999'));
    const telia = [...merged.entries()].filter(([, n]) => n.operator === 'Telia').map(([, n]) => n);
    expect(telia).toHaveLength(1);
  });

  it('works with the empty plan on either side', () => {
    expect([...NumberingPlan.empty().withOverlay(base).entries()]).toEqual([...base.entries()]);
    expect([...base.withOverlay(NumberingPlan.empty()).entries()]).toEqual([...base.entries()]);
    expect(NumberingPlan.empty().size).toBe(0);
  });

  it('lists entries in lexicographic prefix order', () => {
    expect([...merged.entries()].map(([p]) => p)).toEqual(['4790', '4792', '47925', '4799', '49151']);
  });
});

describe('the shipped numbering plan (config/numbering-plan.csv)', () => {
  const file = new URL('../../config/numbering-plan.csv', import.meta.url);
  const plan = NumberingPlan.fromCsv(readFileSync(file, 'utf8'), 'config/numbering-plan.csv');
  const at = (e164: string): string | undefined => {
    const n = plan.lookup(e164);
    return n === undefined ? undefined : `${n.country} ${n.mcc}-${n.mnc}`;
  };

  it('loads, with tens of thousands of prefixes, each with a 3-digit MCC', () => {
    expect(plan.size).toBeGreaterThan(25_000);
    for (const [prefix, n] of plan.entries()) {
      expect(prefix).toMatch(/^[0-9]{1,15}$/);
      expect(n.mcc).toMatch(/^[0-9]{3}$/);
    }
  });

  // Facts of the generated file, checked by hand against the ranges' well-known
  // holders: +47 4x/9x Telenor 242-01 and Telia 242-02; +49 151/160/170
  // Telekom 262-01, 152x/162 Vodafone 262-02, 157x/159/176/179 Telefónica
  // (O2, former E-Plus) 262-03; +33 Orange 208-01, SFR 208-10, Free 208-15,
  // Bouygues 208-20. A regenerated plan that moves one of them is a regression.
  it('maps Norwegian mobile ranges to Telenor and Telia', () => {
    expect(at('4790123456')).toBe('NO 242-01');
    expect(at('4797123456')).toBe('NO 242-01');
    expect(at('4748123456')).toBe('NO 242-01');
    expect(at('4792123456')).toBe('NO 242-02');
    expect(at('4745123456')).toBe('NO 242-02');
    expect(plan.lookup('4790123456')?.operator).toBe('Telenor');
    expect(plan.lookup('4792123456')?.operator).toBe('Telia');
  });

  it('maps German mobile ranges to Telekom, Vodafone and Telefónica', () => {
    expect(at('491511234567')).toBe('DE 262-01');
    expect(at('491601234567')).toBe('DE 262-01');
    expect(at('491701234567')).toBe('DE 262-01');
    expect(at('4915201234567')).toBe('DE 262-02');
    expect(at('491621234567')).toBe('DE 262-02');
    expect(at('4915701234567')).toBe('DE 262-03');
    expect(at('491590123456')).toBe('DE 262-03');
    expect(at('491761234567')).toBe('DE 262-03');
    expect(at('491791234567')).toBe('DE 262-03');
  });

  it('maps French 6 and 7 ranges to Orange, SFR, Free and Bouygues', () => {
    expect(at('33633456789')).toBe('FR 208-01');
    expect(at('33612345678')).toBe('FR 208-10');
    expect(at('33651234567')).toBe('FR 208-15');
    expect(at('33781234567')).toBe('FR 208-15');
    expect(at('33663456789')).toBe('FR 208-20');
    expect(at('33761234567')).toBe('FR 208-20');
  });

  it('has no range for fixed-line numbers', () => {
    expect(at('4722123456')).toBeUndefined(); // Oslo
    expect(at('493012345678')).toBeUndefined(); // Berlin
    expect(at('33142345678')).toBeUndefined(); // Paris
  });
});
