/**
 * The submit fields of issue 15, checked at parse: `idempotencyKey` (1-255
 * printable ASCII, no spaces) and its body hash (every field that decides the
 * message, `ref` aside), `callbackUrl` (http/https, ≤ 2,048 characters, no
 * credentials, no loopback/private/link-local address unless allowed).
 */
import { describe, expect, it } from 'vitest';
import { isRefusal, parseSubmit, submitBodyHash, type SubmitFields } from '../../engine/ingress/parse-submit.js';

const LIMITS = { minValiditySec: 60, maxValiditySec: 86_400, maxScheduleSec: 86_400 };
const base = { to: '+4791234567', from: 'Acme', text: 'hi' };
const parse = (o: Record<string, unknown>, allowPrivate = false) => parseSubmit({ ...base, ...o }, { ...LIMITS, callbackPrivateAddresses: allowPrivate });
const refusal = (o: Record<string, unknown>, allowPrivate = false) => {
  const r = parse(o, allowPrivate);
  return isRefusal(r) ? r.error : undefined;
};

describe('idempotencyKey', () => {
  it('takes 1-255 printable ASCII characters without spaces', () => {
    expect((parse({ idempotencyKey: 'order-7/1:a' }) as SubmitFields).idempotencyKey).toBe('order-7/1:a');
    for (const bad of ['', 'a b', 'x'.repeat(256), 'ü', 7]) expect(refusal({ idempotencyKey: bad })).toContain('"idempotencyKey"');
  });

  it('the body hash covers what decides the message, not ref', () => {
    const h = (o: Record<string, unknown>) => submitBodyHash(parse(o) as SubmitFields);
    expect(h({ ref: 'a' })).toBe(h({ ref: 'b' }));
    for (const o of [{ text: 'other' }, { to: '+4791234568' }, { from: 'Other' }, { validity: 600 }, { dlr: false }, { transliterate: true }]) expect(h(o)).not.toBe(h({}));
  });
});

describe('callbackUrl', () => {
  it('takes http(s) URLs of public hosts, written as the URL parser writes them', () => {
    expect((parse({ callbackUrl: 'https://hooks.example.com/x?a=1' }) as SubmitFields).callbackUrl).toBe('https://hooks.example.com/x?a=1');
    expect((parse({ callbackUrl: 'https://Example.com/a"b' }) as SubmitFields).callbackUrl).toBe('https://example.com/a%22b');
  });

  it('refuses other schemes, credentials, over-long URLs and, by default, private addresses', () => {
    expect(refusal({ callbackUrl: 'ftp://example.com/' })).toContain('http or https');
    expect(refusal({ callbackUrl: 'not a url' })).toContain('not a valid URL');
    expect(refusal({ callbackUrl: 'https://u:p@example.com/' })).toContain('credentials');
    expect(refusal({ callbackUrl: 'https://example.com/' + 'x'.repeat(2048) })).toContain('2048');
    for (const host of ['127.0.0.1', 'localhost', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '[::1]', '[fd00::1]', '[fe80::1]', '[::ffff:127.0.0.1]'])
      expect(refusal({ callbackUrl: `http://${host}/x` }), host).toContain('messages.callbackPrivateAddresses');
    for (const host of ['8.8.8.8', '172.32.0.1', 'example.com', '[2001:db8::1]']) expect(refusal({ callbackUrl: `http://${host}/x` }), host).toBeUndefined();
    expect(refusal({ callbackUrl: 'http://127.0.0.1:8080/x' }, true)).toBeUndefined();
  });
});
