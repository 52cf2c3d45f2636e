/**
 * Caches keyed by client input (issue 11, item 2): the number cache kept every
 * `to` string, valid or not, under its raw text (≈195 MB per 1,000 long
 * frames; out of memory after ≈22,000), and the template cache kept every
 * template, refusals included. Both are now bounded in bytes as well as in
 * entries, and refused input is never cached.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BoundedCache, stringBytes } from '../../engine/ingress/bounded-cache.js';
import { clearNumberCache, normalizeNumber, numberCacheSize } from '../../engine/ingress/normalize-number.js';
import { renderTemplate, templateCacheSize } from '../../engine/ingress/render-template.js';

afterEach(() => clearNumberCache());

describe('number cache', () => {
  it('number cache memory exhaustion: long and invalid `to` strings are not cached', () => {
    clearNumberCache();
    // 1,000 long "numbers" (each its own string, as 1,000 frames would bring) and 1,000 short invalid ones.
    for (let i = 0; i < 1000; i++) {
      expect(normalizeNumber(`+47${String(i).padStart(4, '0')}${'9'.repeat(20_000)}`).ok).toBe(false);
      expect(normalizeNumber(`+47 12 ${i}`).ok).toBe(false);
    }
    expect(numberCacheSize()).toEqual({ entries: 0, bytes: 0 });
    // Valid numbers are cached (a repeat recipient costs one look-up), each entry a few hundred bytes at most.
    expect(normalizeNumber('+4791234567').ok).toBe(true);
    expect(normalizeNumber('+47 912 34 567').ok).toBe(true);
    const s = numberCacheSize();
    expect(s.entries).toBe(2);
    expect(s.bytes).toBeGreaterThan(0);
    expect(s.bytes).toBeLessThan(2 * 400);
  });
});

describe('template cache', () => {
  it('keeps only templates that compile, and at most 8 MiB of them', () => {
    const before = templateCacheSize().entries;
    for (let i = 0; i < 200; i++) expect(renderTemplate(`{{ broken ${i}`, {})).toMatchObject({ code: 'INVALID_TEMPLATE' });
    expect(templateCacheSize().entries).toBe(before);
    // 2,000 distinct templates of 7,990 characters: ~32 KB each as cached, far more than 8 MiB in all.
    for (let i = 0; i < 2000; i++) expect(typeof renderTemplate(`${String(i).padStart(6, '0')} {{a}} ${'x'.repeat(7_980)}`, { a: 1 }, 10_000)).toBe('string');
    const s = templateCacheSize();
    expect(s.bytes).toBeLessThanOrEqual(8 * 2 ** 20);
    expect(s.entries).toBeLessThan(2000);
    expect(s.entries).toBeGreaterThan(100);
  });
});

describe('BoundedCache', () => {
  const sized = () => new BoundedCache<string>(1000, 10_000, (k, v) => stringBytes(k) + stringBytes(v));

  it('evicts the oldest entries to stay within its bytes', () => {
    const c = sized();
    for (let i = 0; i < 500; i++) c.set(`k${i}`, 'v'.repeat(100));
    expect(c.bytes).toBeLessThanOrEqual(10_000);
    expect(c.get('k0')).toBeUndefined();
    expect(c.get('k499')).toBe('v'.repeat(100));
    expect(c.size * (stringBytes('k499') + stringBytes('v'.repeat(100)))).toBeGreaterThanOrEqual(c.bytes - 100);
  });

  it('evicts to stay within its entries', () => {
    const c = new BoundedCache<number>(3, 1e9, () => 1);
    for (let i = 0; i < 10; i++) c.set(String(i), i);
    expect(c.size).toBe(3);
    expect([c.get('7'), c.get('8'), c.get('9'), c.get('6')]).toEqual([7, 8, 9, undefined]);
  });

  it('refuses an entry larger than an eighth of its bytes rather than flushing the rest', () => {
    const c = sized();
    c.set('a', 'x');
    expect(c.set('big', 'y'.repeat(1000))).toBe(false);
    expect(c.get('big')).toBeUndefined();
    expect(c.get('a')).toBe('x');
  });

  it('replacing a key does not count it twice', () => {
    const c = sized();
    c.set('a', 'x'.repeat(100));
    const once = c.bytes;
    c.set('a', 'x'.repeat(100));
    expect(c.bytes).toBe(once);
    expect(c.size).toBe(1);
    c.clear();
    expect([c.size, c.bytes]).toEqual([0, 0]);
  });
});
