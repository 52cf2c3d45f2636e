/**
 * Moderation's pure parts: link finding and the domain allowlist, the volume
 * anomaly detector (simulated clock), STOP/START keywords, and reading MO
 * deliver_sm (text by data_coding, concatenation, addresses).
 */
import { describe, expect, it } from 'vitest';
import { linkHosts, mayContainLink, UrlAllowlist } from '../../engine/moderation/url-check.js';
import { VolumeDetector } from '../../engine/moderation/volume-detector.js';
import { KeywordMatcher, DEFAULT_START_KEYWORDS, DEFAULT_STOP_KEYWORDS, normalizeKeyword } from '../../engine/mo/stop-keywords.js';
import { readMo, readSender, inboundKey } from '../../engine/mo/read-mo.js';
import { encodeMessage } from '../../engine/text/index.js';

class FakeClock {
  t = 1_700_000_000_000;
  now(): number {
    return this.t;
  }
}

describe('links', () => {
  it('finds links with and without a scheme, with the full TLD list, and none in ordinary texts', () => {
    expect(linkHosts('See https://Shop.Acme.com/x?y=1 today')).toEqual(['shop.acme.com']);
    expect(linkHosts('Win at evil-prizes.xyz/claim or www.example.org')).toEqual(['evil-prizes.xyz', 'www.example.org']);
    expect(linkHosts('Parcel: bit.ly/3xYz')).toEqual(['bit.ly']);
    for (const t of ['Your code is 482913. It expires in 10 minutes.', 'Hi! Your balance is 12.50 EUR.', 'Meet at 10:00-12:00 @ gate 4', 'Ваш код: 482913 🙂', 'file report.pdf attached']) {
      expect(linkHosts(t), t).toEqual([]);
    }
    expect(mayContainLink('Your code is 482913. It expires in 10 minutes.')).toBe(false);
    expect(mayContainLink('12.50 EUR at 10:00')).toBe(false);
    expect(mayContainLink('go to acme.no')).toBe(true);
    expect(mayContainLink('http://x')).toBe(true);
  });

  it('an allowlist entry allows the domain and its subdomains, nothing else', () => {
    const l = new UrlAllowlist(['acme.com', '*.acme.no']);
    expect(l.firstDisallowed('https://acme.com and m.shop.acme.com/x and acme.no')).toBeUndefined();
    expect(l.firstDisallowed('acme.com.evil.xyz/login')).toBe('acme.com.evil.xyz');
    expect(l.firstDisallowed('notacme.com')).toBe('notacme.com');
    expect(new UrlAllowlist([]).firstDisallowed('see acme.com')).toBe('acme.com');
    expect(new UrlAllowlist([]).firstDisallowed('no link here.')).toBeUndefined();
  });
});

describe('volume detector', () => {
  const rule = { multiple: 10, floorPerMinute: 100, halfLifeHours: 24 };

  it('holds a new tenant beyond the floor, and the next minute lets traffic through as the sliding window empties', () => {
    const clock = new FakeClock();
    clock.t = Math.floor(clock.t / 60_000) * 60_000;
    const v = new VolumeDetector(new Map([['acme', rule]]), clock);
    let held = 0;
    for (let i = 0; i < 150; i++) if (v.check('acme') !== undefined) held++;
    expect(held).toBe(50);
    const verdict = v.check('acme');
    expect(verdict).toMatchObject({ limit: 100, baseline: 0 });
    // Half a minute into the next one, half of the last minute still counts: 151 × 0.5 ≈ 75 < 100.
    clock.t += 90_000;
    expect(v.check('acme')).toBeUndefined();
    expect(v.check('other')).toBeUndefined(); // not watched
  });

  it('normal volume grows with traffic within the limit; a multiple of it passes, more is held; held messages do not raise it', () => {
    const clock = new FakeClock();
    clock.t = Math.floor(clock.t / 60_000) * 60_000;
    const r = { multiple: 3, floorPerMinute: 100, halfLifeHours: 0.05 }; // half-life 3 minutes
    const v = new VolumeDetector(new Map([['big', r]]), clock);
    // 40 minutes at 90/min, spread over each minute: all within the floor.
    for (let m = 0; m < 40; m++) {
      for (let i = 0; i < 90; i++) {
        expect(v.check('big')).toBeUndefined();
        clock.t += 60_000 / 90;
      }
    }
    const base = v.baselines().get('big') as number;
    expect(base).toBeGreaterThan(85);
    expect(base).toBeLessThanOrEqual(90);
    // The next minute: 250 spread over it pass (limit 3 × ~90 = ~270), then a burst is held.
    let held = 0;
    for (let i = 0; i < 250; i++) {
      if (v.check('big') !== undefined) held++;
      clock.t += 239;
    }
    expect(held).toBe(0);
    for (let i = 0; i < 200; i++) if (v.check('big') !== undefined) held++;
    expect(held).toBeGreaterThan(150);
    // The held burst did not count into the normal volume.
    clock.t += 60_000;
    expect(v.baselines().get('big') as number).toBeLessThan(base * 1.5);
    // A restart restores the saved baseline.
    const v2 = new VolumeDetector(new Map([['big', r]]), clock);
    v2.restore(v.baselines());
    expect(v2.baselines().get('big')).toBeCloseTo(v.baselines().get('big') as number, 3);
  });
});

describe('STOP / START keywords', () => {
  const k = new KeywordMatcher(DEFAULT_STOP_KEYWORDS, DEFAULT_START_KEYWORDS);
  it('matches whole-message keywords in several languages, case, accent, space and punctuation insensitive', () => {
    for (const t of ['STOP', ' stop ', 'Stop!', 'stop.', 'STOP ALL', 'stop   all', 'Stopp', 'stoppen', 'ARRÊT', 'arret', 'Alto', 'BAJA', 'unsubscribe', 'ＳＴＯＰ', '"Stop"']) expect(k.match(t), t).toBe('stop');
    for (const t of ['START', 'unstop', 'Start.']) expect(k.match(t), t).toBe('start');
    for (const t of ['stop sending me offers', 'Stop by tomorrow', 'STOPPED', 'Hello', '', 'non-stop']) expect(k.match(t), t).toBeUndefined();
    expect(normalizeKeyword('  Désabonner! ')).toBe('DESABONNER');
    expect(new KeywordMatcher(['HALT'], []).match('halt')).toBe('stop');
  });
});

describe('reading MO deliver_sm', () => {
  it('decodes GSM-7, UCS-2 and Latin-1; reads UDH concatenation and SAR; message_payload; normalises addresses', () => {
    const gsm = encodeMessage('Hello @ £5 {ok}', { concatRef: 1, maxParts: 1 });
    expect(readMo({ esmClass: 0, dataCoding: 0, shortMessage: (gsm.parts[0] as { shortMessage: Buffer }).shortMessage, sourceAddr: '4791234567', sourceAddrTon: 1, destinationAddr: '2222', destAddrTon: 3 }))
      .toEqual({ from: '4791234567', fromE164: true, to: '2222', text: 'Hello @ £5 {ok}' });
    const ucs = encodeMessage('Привет 🙂', { concatRef: 1, maxParts: 1 });
    expect(readMo({ esmClass: 0, dataCoding: 8, shortMessage: (ucs.parts[0] as { shortMessage: Buffer }).shortMessage, sourceAddr: '+4791234567' }).text).toBe('Привет 🙂');
    expect(readMo({ esmClass: 0, dataCoding: 3, shortMessage: Buffer.from('Café', 'latin1'), sourceAddr: '4791234567' }).text).toBe('Café');
    const long = encodeMessage('x'.repeat(200), { concatRef: 7, maxParts: 5 });
    const p2 = readMo({ esmClass: 0x40, dataCoding: 0, shortMessage: (long.parts[1] as { shortMessage: Buffer }).shortMessage, sourceAddr: '4791234567' });
    expect(p2.concat).toEqual({ ref: 7, total: 2, seq: 2 });
    const sar = readMo({ esmClass: 0, dataCoding: 0, shortMessage: Buffer.from('part'), sar: { ref: 300, total: 3, seq: 1 }, sourceAddr: '4791234567' });
    expect(sar.concat).toEqual({ ref: 300, total: 3, seq: 1 });
    expect(readMo({ esmClass: 0, dataCoding: 0, shortMessage: Buffer.alloc(0), messagePayload: Buffer.from('long text'), sourceAddr: '4791234567' }).text).toBe('long text');
    expect(readSender('ACME', 5)).toEqual({ from: 'ACME', e164: false });
    expect(readSender('004791234567', 0)).toEqual({ from: '4791234567', e164: true });
    expect(readSender('12', 1)).toEqual({ from: '12', e164: false });
    expect(inboundKey('+47 900 00 001')).toBe('4790000001');
  });
});

describe('opt-out filter (actors)', () => {
  it('never misses an added number, rarely flags another, and ages entries out after one to two generations', async () => {
    const { OptOutFilter } = await import('../../engine/actors/opt-out-filter.js');
    const f = new OptOutFilter(2 ** 20, 1000, 0);
    expect(f.empty).toBe(true);
    for (let i = 0; i < 50_000; i++) f.add(String(447700000000 + i), 0);
    for (let i = 0; i < 50_000; i++) expect(f.has(String(447700000000 + i))).toBe(true);
    let fp = 0;
    for (let i = 0; i < 50_000; i++) if (f.has(String(4791000000 + i))) fp++;
    expect(fp / 50_000).toBeLessThan(0.02);
    // One generation later the entries are still there (previous); two later, gone.
    f.tick(1500);
    expect(f.has('447700000001')).toBe(true);
    f.add('4791234567', 1500);
    f.tick(2500);
    expect(f.has('447700000001')).toBe(false);
    expect(f.has('4791234567')).toBe(true);
  });
});
