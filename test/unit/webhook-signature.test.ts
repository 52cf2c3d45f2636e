/**
 * Webhook bytes and policy, byte for byte: the signature against vectors
 * computed with openssl (`printf '%s' "$TS.$BODY" | openssl dgst -sha256 -hmac "$SECRET"`),
 * the body built from events-stream frames, the receiver's verification
 * (README's code), the retry policy and backoff.
 */
import { describe, expect, it } from 'vitest';
import { verifyWebhookSignature } from '../../engine/loadgen/webhook-receiver.js';
import { classifyStatus, retryAfterMs, retryDelayMs } from '../../engine/webhooks/retry-policy.js';
import { deadLetter, eventTime, laneOf, webhookBatch, webhookEvent } from '../../engine/webhooks/webhook-batch.js';
import { signWebhook } from '../../engine/webhooks/webhook-signature.js';

const SECRET = 'whsec_0123456789abcdef';
const STATUS_BODY = '{"v":1,"tenant":"acme","events":[{"eid":"1700000000000-0","op":"status","id":"m1","ref":"r1","status":"delivered","at":1700000000000}]}';
const MO_BODY = '{"v":1,"tenant":"acme","events":[{"eid":"1700000000001-0","op":"mo","id":"mo1","from":"+4791234567","to":"2222","text":"Hei på deg 🙂","at":1700000000001,"smsc":"sim-a","optOut":false}]}';

describe('webhook signature', () => {
  it('matches openssl for a status batch', () => {
    expect(signWebhook(SECRET, 1700000000, STATUS_BODY)).toBe('v1=131e09f37f63eeefd6ca997160f1d30829bb4b99ee70cafeb9c4aa8338bb08dd');
  });

  it('signs the UTF-8 bytes of the body (an MO with non-ASCII text), as string or bytes alike', () => {
    const want = 'v1=b885dc89fb690e5f1d507446b60fea977f6fcfd8e023f834e82b827e477f4db7';
    expect(signWebhook(SECRET, 1700000123, MO_BODY)).toBe(want);
    expect(signWebhook(SECRET, 1700000123, Buffer.from(MO_BODY, 'utf8'))).toBe(want);
  });

  it('the body is built from the stream frames exactly as signed', () => {
    const frame = '{"op":"status","id":"m1","ref":"r1","status":"delivered","at":1700000000000}';
    expect(webhookBatch('acme', [webhookEvent('1700000000000-0', frame)])).toBe(STATUS_BODY);
    expect(webhookBatch('acme', [])).toBe('{"v":1,"tenant":"acme","events":[]}');
    const two = webhookBatch('acme', [webhookEvent('1-0', '{"op":"status","id":"a"}'), webhookEvent('2-5', '{"op":"mo","id":"b"}')]);
    expect(JSON.parse(two)).toEqual({ v: 1, tenant: 'acme', events: [{ eid: '1-0', op: 'status', id: 'a' }, { eid: '2-5', op: 'mo', id: 'b' }] });
  });

  it('the receiver code in README accepts a genuine POST and refuses every tampering', () => {
    const body = Buffer.from(MO_BODY, 'utf8');
    const sig = signWebhook(SECRET, 1700000123, body);
    const now = 1700000123 + 10;
    expect(verifyWebhookSignature(SECRET, '1700000123', sig, body, now)).toBe(true);
    expect(verifyWebhookSignature(SECRET, '1700000123', `v0=abc, ${sig}`, body, now)).toBe(true); // several signatures: one is enough
    expect(verifyWebhookSignature(SECRET, '1700000124', sig, body, now)).toBe(false); // timestamp changed
    expect(verifyWebhookSignature(SECRET, '1700000123', sig, Buffer.from(MO_BODY.replace('Hei', 'Hej')), now)).toBe(false); // body changed
    expect(verifyWebhookSignature('whsec_another_secret_1', '1700000123', sig, body, now)).toBe(false);
    expect(verifyWebhookSignature(SECRET, '1700000123', sig, body, 1700000123 + 301)).toBe(false); // replayed after the tolerance
    expect(verifyWebhookSignature(SECRET, '1700000123', sig, body, 1700000123 - 301)).toBe(false); // from the future
    expect(verifyWebhookSignature(SECRET, '1700000123', sig.slice(3), body, now)).toBe(false); // no scheme
    expect(verifyWebhookSignature(SECRET, '1700000123', sig.toUpperCase().replace('V1', 'v1'), body, now)).toBe(false); // hex is lower case
    expect(verifyWebhookSignature(SECRET, undefined, sig, body, now)).toBe(false);
    expect(verifyWebhookSignature(SECRET, '1700000123', undefined, body, now)).toBe(false);
  });
});

describe('webhook events', () => {
  it('the time comes from the event\'s eid', () => {
    const e = webhookEvent('1732290000123-7', '{"op":"status","id":"x"}');
    expect(e).toBe('{"eid":"1732290000123-7","op":"status","id":"x"}');
    expect(eventTime(e)).toBe(1732290000123);
  });

  it('expired events were never dead-lettered with sharded eids: the time of s<K>-<ms>-<seq> is its ms', () => {
    expect(eventTime(webhookEvent('s13-1732290000123-7', '{"op":"status","id":"x"}'))).toBe(1732290000123);
    expect(eventTime(webhookEvent('s0-5-0', '{"op":"mo"}'))).toBe(5);
  });

  it('a dead letter keeps the event last and unchanged, readable as JSON', () => {
    const e = webhookEvent('5-0', '{"op":"mo","id":"m","text":"say \\"event\\":, ok"}');
    const d = deadLetter(e, 1234, 'refused', 400, 'HTTP 400 "bad"');
    expect(d.endsWith(`,"event":${e}}`)).toBe(true);
    expect(d.slice(d.indexOf(',"event":') + 9, -1)).toBe(e); // what the replay script takes
    expect(JSON.parse(d)).toEqual({ failedAt: 1234, reason: 'refused', status: 400, error: 'HTTP 400 "bad"', event: JSON.parse(e) });
    expect(JSON.parse(deadLetter(e, 1, 'expired', undefined, 'timeout')).status).toBeNull();
  });
});

describe('lanes', () => {
  it('one message\'s events share a lane (whatever the key order or other fields); MO messages go by sender; spread evenly', () => {
    const a = laneOf('{"op":"status","id":"01JD4Z","ref":"r1","status":"sent","at":1}', 4);
    expect(laneOf('{"at":2,"status":"delivered","id":"01JD4Z","op":"status","error":{"code":"000","text":"ok"}}', 4)).toBe(a);
    expect(laneOf('{"op":"status","ref":"say \\"id\\":\\"zz","id":"01JD4Z","status":"x"}', 4)).toBe(a); // an escaped "id" inside a value is not a key
    const mo = (id: string, from: string) => laneOf(`{"op":"mo","id":"${id}","from":"${from}","to":"2222","text":"hi"}`, 4);
    expect(mo('mo-1', '+4791234567')).toBe(mo('mo-2', '+4791234567'));
    expect(laneOf('{"op":"status","id":"x"}', 1)).toBe(0);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) (counts[laneOf(`{"op":"status","id":"01JD${i.toString(36).padStart(6, '0')}ABC"}`, 4)] as number)++;
    for (const c of counts) expect(c).toBeGreaterThan(800);
  });
});

describe('retry policy', () => {
  it('2xx delivers; 408, 429, 5xx retry; 413 halves; other 3xx/4xx are refused', () => {
    const table: Array<[number, string]> = [[200, 'ok'], [202, 'ok'], [204, 'ok'], [301, 'refused'], [400, 'refused'], [401, 'refused'], [404, 'refused'], [410, 'refused'], [408, 'throttled'], [429, 'throttled'], [413, 'too_large'], [500, 'server_error'], [503, 'server_error'], [599, 'server_error']];
    for (const [status, result] of table) expect(classifyStatus(status), String(status)).toBe(result);
  });

  it('backs off exponentially with equal jitter, capped', () => {
    const b = { min: 1000, max: 600_000 };
    expect(retryDelayMs(1, b, () => 0)).toBe(500);
    expect(retryDelayMs(1, b, () => 1)).toBe(1000);
    expect(retryDelayMs(2, b, () => 0)).toBe(1000);
    expect(retryDelayMs(4, b, () => 1)).toBe(8000);
    expect(retryDelayMs(10, b, () => 0.5)).toBe(Math.round(512_000 * 0.75));
    expect(retryDelayMs(11, b, () => 1)).toBe(600_000);
    expect(retryDelayMs(500, b, () => 0)).toBe(300_000); // huge attempt counts stay finite
    for (let i = 0; i < 200; i++) {
      const d = retryDelayMs(3, b, Math.random);
      expect(d).toBeGreaterThanOrEqual(2000);
      expect(d).toBeLessThanOrEqual(4000);
    }
  });

  it('honours Retry-After up to the cap', () => {
    const b = { min: 100, max: 10_000 };
    expect(retryDelayMs(1, b, () => 0, 5000)).toBe(5000);
    expect(retryDelayMs(1, b, () => 0, 50_000)).toBe(10_000);
    expect(retryAfterMs('7', 0)).toBe(7000);
    expect(retryAfterMs(new Date(60_000).toUTCString(), 0)).toBe(60_000);
    expect(retryAfterMs('soon', 0)).toBe(0);
    expect(retryAfterMs(null, 0)).toBe(0);
  });
});
