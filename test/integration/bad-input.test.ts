/**
 * Bad input at the ingress: every case gets its documented error and nothing
 * is enqueued (no stream entry, no message hash).
 */
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startHarness, type Harness } from '../../engine/loadgen/harness.js';
import { connectClient, type Frame, type TestClient } from '../helpers/ws-client.js';

let h: Harness;
let redis: Redis;
let c: TestClient;

async function enqueuedCount(): Promise<number> {
  const keys = await redis.keys(h.config.redis.keyPrefix + 'm:*');
  let entries = 0;
  for (const s of h.config.smscs) for (const q of h.engine.store.keys.queuesOf(s.id)) entries += await redis.xlen(q);
  return keys.length + entries;
}

beforeAll(async () => {
  h = await startHarness({ redisUrl: inject('redisUrl'), smscs: 1, tenantWindow: 5, configOverrides: (raw) => {
    (raw.server as Record<string, unknown>).maxFrameBytes = 4096;
  } });
  redis = new Redis(h.redisUrl);
  c = await connectClient(h.wsUrl, h.apiKey);
});

afterAll(async () => {
  await c?.close();
  redis?.disconnect();
  await h?.stop();
});

const submit = { op: 'submit', ref: 'x', to: '+4791234567', from: 'Acme', text: 'hello' };

describe('bad input', () => {
  it('refuses a wrong or missing API key with 401 before the upgrade', async () => {
    await expect(connectClient(h.wsUrl, 'wrong-key')).rejects.toThrow('HTTP 401');
    const res = await new Promise<number>((ok) => {
      const ws = new WebSocket(h.wsUrl);
      ws.once('unexpected-response', (_q, r) => ok(r.statusCode ?? 0));
      ws.once('open', () => ok(101));
    });
    expect(res).toBe(401);
  });

  it('refuses a malformed ?since= with 400 BAD_REQUEST before the upgrade', async () => {
    await expect(connectClient(h.wsUrl, h.apiKey, 'yesterday')).rejects.toThrow('HTTP 400');
    // a real event id and "$" are taken
    const c = await connectClient(h.wsUrl, h.apiKey, '$');
    await c.close();
  });

  it.each<[string, string | Buffer, string, RegExp]>([
    ['malformed JSON', '{"op":"submit",', 'BAD_FRAME', /not valid JSON/],
    ['a JSON array', '[1,2]', 'BAD_FRAME', /JSON object/],
    ['an unknown op', '{"op":"launch"}', 'UNKNOWN_OP', /unknown op "launch"/],
    ['a batch without items', '{"op":"batch","ref":"b"}', 'BAD_FRAME', /"items" must be a non-empty array/],
    ['an oversize frame', JSON.stringify({ ...submit, text: 'x'.repeat(5000) }), 'FRAME_TOO_LARGE', /exceeds the limit of 4096 bytes/],
  ])('answers %s with an error frame', async (_name, raw, code, text) => {
    c.sendRaw(raw);
    const f = await c.next((x) => x.op === 'error');
    expect(f.code).toBe(code);
    expect(f.error).toMatch(text);
  });

  it.each<[string, Record<string, unknown>, string, RegExp]>([
    ['a missing field', { op: 'submit', ref: 'm1', from: 'Acme', text: 'x' }, 'INVALID_FIELD', /"to" is required/],
    ['a wrong-typed field', { ...submit, ref: 'm2', text: 5 }, 'INVALID_FIELD', /"text" is required and must be a string/],
    ['an invalid number', { ...submit, ref: 'm3', to: '+4712' }, 'INVALID_NUMBER', /not a valid number/],
    ['a non-number', { ...submit, ref: 'm4', to: 'call me' }, 'INVALID_NUMBER', /not a phone number/],
    ['a lone surrogate', { ...submit, ref: 'm5', text: 'a\ud800b' }, 'INVALID_TEXT', /U\+D800/],
    ['too many parts', { ...submit, ref: 'm6', text: 'x'.repeat(153 * 10 + 1) }, 'MESSAGE_TOO_LONG', /11/],
  ])('nacks %s with its code', async (_name, frame, code, text) => {
    c.send(frame);
    const f = await c.next((x) => x.op === 'nack' && x.ref === frame.ref);
    expect(f.code).toBe(code);
    expect(f.error).toMatch(text);
  });

  it('nacks the part of a burst past the connection window with THROTTLED', async () => {
    const items = Array.from({ length: 12 }, (_, i) => ({ ...submit, ref: 'w' + i, to: 'invalid' }));
    // Invalid items never hold a window slot: use a valid-looking burst that the tenant TPS allows
    // but let the window (5) bite: items are checked in order, slots are held until Redis answers.
    const valid = items.map((it) => ({ ...it, to: '+4791234567' }));
    const before = await enqueuedCount();
    const hashesBefore = (await redis.keys(h.config.redis.keyPrefix + 'm:*')).length;
    c.send({ op: 'batch', ref: 'burst', items: valid });
    const f = (await c.next((x) => x.op === 'batch_ack' && x.ref === 'burst')) as Frame & { results: Frame[] };
    const codes = f.results.map((r) => (r.op === 'ack' ? 'ack' : (r.code as string)));
    expect(codes.filter((x) => x === 'ack')).toHaveLength(5);
    expect(codes.filter((x) => x === 'THROTTLED')).toHaveLength(7);
    const throttled = f.results.find((r) => r.code === 'THROTTLED');
    expect(throttled?.error).toMatch(/more than 5 submits awaiting their ack/);
    // the 5 acked ones are in Redis (a hash each; their stream entries may be sent and gone already), the 7 refused are not
    const after = await enqueuedCount();
    expect(after - before).toBeGreaterThanOrEqual(5);
    expect(after - before).toBeLessThanOrEqual(10);
    expect((await redis.keys(h.config.redis.keyPrefix + 'm:*')).length - hashesBefore).toBe(5);
  });

  it('nacks submits past the tenant TPS with THROTTLED and enqueues none of them', async () => {
    const t = await startHarness({ redisUrl: inject('redisUrl'), smscs: 1, tenantTps: 10 });
    try {
      const tc = await connectClient(t.wsUrl, t.apiKey);
      tc.send({ op: 'batch', ref: 'tps', items: Array.from({ length: 40 }, (_, i) => ({ ...submit, ref: 't' + i })) });
      const f = (await tc.next((x) => x.op === 'batch_ack' && x.ref === 'tps')) as Frame & { results: Frame[] };
      const acked = f.results.filter((r) => r.op === 'ack').length;
      const throttled = f.results.filter((r) => r.code === 'THROTTLED');
      // a full bucket holds one second of tokens (the burst a bulk sender's frame may use): 10, plus the refill during the batch
      expect(acked).toBeGreaterThanOrEqual(10);
      expect(acked).toBeLessThanOrEqual(12);
      expect(throttled.length).toBe(40 - acked);
      expect(throttled[0]?.error).toMatch(/tenant submit rate limit/);
      expect((await redis.keys(t.config.redis.keyPrefix + 'm:*')).length).toBe(acked);
      await tc.close();
    } finally {
      await t.stop();
    }
  });

  it('HTTP POST /v1/messages: 202 with the ack, 400/401/413 with the documented error', async () => {
    const url = `http://127.0.0.1:${h.engine.port}/v1/messages`;
    const post = (body: string, key = h.apiKey) => fetch(url, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body });
    const bad = await post('{"to":');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'BAD_FRAME', docs: 'README.md#err-bad-frame' });
    const invalid = await post(JSON.stringify({ ...submit, op: undefined, ref: 'h2', to: '+4712' }));
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ code: 'INVALID_NUMBER', details: { ref: 'h2' } });
    const unauthorized = await post(JSON.stringify(submit), 'nope');
    expect(unauthorized.status).toBe(401);
    expect(await unauthorized.json()).toMatchObject({ code: 'UNAUTHORIZED' });
    const big = await post(JSON.stringify({ ...submit, text: 'x'.repeat(5000) }));
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ code: 'FRAME_TOO_LARGE' });
    // before any accepted HTTP submit: the 5 window-test messages only
    expect((await redis.keys(h.config.redis.keyPrefix + 'm:*')).length).toBe(5);
    const ok = await post(JSON.stringify({ ref: 'h1', to: '+4791234567', from: 'Acme', text: 'over http' }));
    expect(ok.status).toBe(202);
    const ack = (await ok.json()) as Frame;
    expect(ack).toMatchObject({ op: 'ack', ref: 'h1', status: 'queued', parts: 1 });
    const look = await fetch(`http://127.0.0.1:${h.engine.port}/v1/messages/${ack.id as string}`, { headers: { authorization: `Bearer ${h.apiKey}` } });
    expect(await look.json()).toMatchObject({ id: ack.id, ref: 'h1', to: '+4791234567' });
  });

  it('enqueued nothing for any refused frame', async () => {
    // Only the 5 acked messages of the burst test and the one HTTP submit are in Redis.
    const keys = await redis.keys(h.config.redis.keyPrefix + 'm:*');
    expect(keys.length).toBe(6);
  });
});
