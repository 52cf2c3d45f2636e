/**
 * The customer-facing side of the lifecycle end to end (engine, Redis,
 * simulated SMSCs over SMPP): multipart UCS-2 with UDH and with SAR TLVs and
 * per-part receipts, templates, transliteration, daily quota and sender
 * allowlist, usage totals against what the SMSC took, and the HTTP API
 * (submit one or many, lookup, list with filters and cursor, cancel) with
 * tenant isolation. Quota, usage and the HTTP API also with the state in 4
 * shards on a single Redis and on the local Redis Cluster (lists merged over
 * the shards' indexes, usage summed over the shards).
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { Harness, HarnessOptions } from '../../engine/loadgen/harness.js';
import { connectRedis, type RedisTarget } from '../../engine/redis/connect-redis.js';
import { clusterTarget } from '../helpers/redis-cluster.js';
import { decodeShortMessage } from '../../engine/text/index.js';
import type { Frame, TestClient } from '../helpers/ws-client.js';
import { waitFor } from '../helpers/wait-for.js';
import { harnessSession } from '../helpers/harness-session.js';

const session = harnessSession();
const targets: Array<[string, () => Partial<HarnessOptions>]> = [
  ['a single Redis', () => ({ shards: 4 })],
  ['the Redis Cluster', () => ({ shards: 4, redis: clusterTarget() as RedisTarget })],
];
let h: Harness | undefined;

const OTHER_KEY = 'other-key-0123456789';
const ADMIN_KEY = 'admin-key-0123456789';

async function client(key = (h as Harness).apiKey): Promise<TestClient> {
  return await session.client(key);
}

function api(path: string, o: { key?: string; method?: string; body?: unknown } = {}): Promise<Response> {
  const hh = h as Harness;
  return fetch(`http://127.0.0.1:${hh.engine.port}${path}`, {
    method: o.method ?? (o.body === undefined ? 'GET' : 'POST'),
    headers: { authorization: `Bearer ${o.key ?? hh.apiKey}`, ...(o.body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
  });
}

async function json<T = Record<string, unknown>>(p: Promise<Response>, status: number): Promise<T> {
  const r = await p;
  const body = (await r.json()) as T;
  expect(r.status, JSON.stringify(body)).toBe(status);
  return body;
}

const statuses = (c: TestClient, id: string) => c.frames.filter((f) => f.op === 'status' && f.id === id).map((f) => f.status as string);
const results = (c: TestClient, ref: string) => (c.frames.find((f) => f.op === 'batch_ack' && f.ref === ref)?.results ?? []) as Frame[];
const FINAL = new Set(['delivered', 'undelivered', 'rejected', 'expired', 'unknown', 'stopped']);

describe('encoding and parts', () => {
  it('a 3-part UCS-2 message arrives as 3 concatenated parts (UDH on one SMSC, SAR TLVs on the other) and is delivered only when all 3 receipts are in', async () => {
    h = await session.start({
      smscs: 2,
      sim: { capture: true, receiptDelayMs: 0 },
      configOverrides: (raw) => ((raw.smscs as Array<Record<string, unknown>>)[1]!.concatenation = 'sar'),
    });
    const [udhSim, sarSim] = h.sims as [NonNullable<Harness['sims'][0]>, NonNullable<Harness['sims'][0]>];
    udhSim.holdReceipts();
    sarSim.holdReceipts();
    const text = 'Здравствуйте! Ваш заказ №4711 готов к выдаче. '.repeat(4).slice(0, 150);
    const c = await client();
    c.send({ op: 'submit', ref: 'u', to: '+4791234567', from: 'Acme', text });
    c.send({ op: 'submit', ref: 's', to: '+4915112345678', from: 'Acme', text });
    const au = await c.next((f) => f.op === 'ack' && f.ref === 'u');
    const as = await c.next((f) => f.op === 'ack' && f.ref === 's');
    // parts and price in the ack: 3 UCS-2 segments at the route's price per segment
    expect(au).toMatchObject({ status: 'queued', parts: 3, encoding: 'ucs2', price: 0.096, currency: 'EUR' });
    expect(as).toMatchObject({ parts: 3, encoding: 'ucs2', price: 0.135, currency: 'EUR' });
    await waitFor(() => udhSim.captured.length === 3 && sarSim.captured.length === 3, 10_000, 'all parts at the SMSCs');

    // Parts may reach the SMSC in any order (two binds); the receiving side orders them by sequence number.
    const udh = udhSim.captured.map((p) => ({ p, d: decodeShortMessage(p.shortMessage, p.dataCoding, (p.esmClass & 0x40) !== 0) })).sort((a, b) => (a.d.concat?.seq ?? 0) - (b.d.concat?.seq ?? 0));
    expect(udh.map(({ p }) => [p.dataCoding, p.esmClass & 0x40, p.sar])).toEqual([[8, 0x40, undefined], [8, 0x40, undefined], [8, 0x40, undefined]]);
    expect(new Set(udh.map(({ d }) => d.concat?.ref)).size).toBe(1);
    expect(udh.map(({ d }) => [d.concat?.total, d.concat?.seq])).toEqual([[3, 1], [3, 2], [3, 3]]);
    expect(udh.map(({ d }) => d.text).join('')).toBe(text);

    const sar = sarSim.captured.map((p) => ({ p, d: decodeShortMessage(p.shortMessage, p.dataCoding, (p.esmClass & 0x40) !== 0) })).sort((a, b) => (a.p.sar?.seq ?? 0) - (b.p.sar?.seq ?? 0));
    // no UDH in short_message, no UDHI: the concatenation is in the TLVs
    expect(sar.map(({ p }) => [p.dataCoding, p.esmClass & 0x40, p.shortMessage.length])).toEqual([[8, 0, 134], [8, 0, 134], [8, 0, 32]]);
    expect(new Set(sar.map(({ p }) => p.sar?.ref)).size).toBe(1);
    expect(sar.map(({ p }) => [p.sar?.total, p.sar?.seq])).toEqual([[3, 1], [3, 2], [3, 3]]);
    expect(sar.map(({ d }) => d.text).join('')).toBe(text);

    // receipts one at a time: sent until the third is in, then delivered
    const lookup = () => json<{ status: string; partStates: Array<{ state: string }>; events: Array<{ status: string }> }>(api(`/v1/messages/${au.id}`), 200);
    for (let k = 1; k <= 2; k++) {
      udhSim.releaseReceipts(1);
      await waitFor(() => udhSim.stats.receiptsAcked === k, 10_000, `receipt ${k}`);
      const m = await lookup();
      expect(m.status).toBe('sent');
      expect(m.partStates.filter((p) => p.state === 'delivered')).toHaveLength(k);
      expect(statuses(c, au.id as string)).toEqual(['sent']);
    }
    udhSim.releaseReceipts(1);
    await waitFor(() => statuses(c, au.id as string).includes('delivered'), 10_000, 'delivered');
    const m = await lookup();
    expect(m.partStates.map((p) => p.state)).toEqual(['delivered', 'delivered', 'delivered']);
    expect(m.events.map((e) => e.status)).toEqual(['queued', 'sent', 'delivered']);
    sarSim.releaseReceipts();
    await waitFor(() => statuses(c, as.id as string).includes('delivered'), 10_000, 'SAR message delivered');
  }, 60_000);

  it('transliterates to GSM-7 when the tenant asks, unless a submit says not to or a character has no GSM form', async () => {
    h = await session.start({
      smscs: 1,
      sim: { capture: true, receiptDelayMs: 0 },
      configOverrides: (raw) => ((raw.tenants as Array<Record<string, unknown>>)[0]!.transliterate = true),
    });
    const c = await client();
    const text = 'Привет – “ok” café…';
    c.send({ op: 'batch', ref: 'b', common: { from: 'Acme' }, items: [
      { ref: 't', to: '+4791234561', text },
      { ref: 'u', to: '+4791234562', text, transliterate: false },
      { ref: 'e', to: '+4791234563', text: 'Привет 🙂' },
    ] });
    await waitFor(() => results(c, 'b').length === 3, 10_000, 'batch ack');
    expect(results(c, 'b').map((r) => [r.ref, r.encoding, r.parts])).toEqual([['t', 'gsm7', 1], ['u', 'ucs2', 1], ['e', 'ucs2', 1]]);
    await waitFor(() => h!.sims[0]!.captured.length === 3, 10_000, 'at the SMSC');
    const got = new Map(h.sims[0]!.captured.map((p) => [p.destinationAddr, [p.dataCoding, decodeShortMessage(p.shortMessage, p.dataCoding, false).text]]));
    expect(got.get('4791234561')).toEqual([0, 'Privet - "ok" café...']);
    expect(got.get('4791234562')).toEqual([8, text]);
    expect(got.get('4791234563')).toEqual([8, 'Привет 🙂']);
  }, 60_000);
});

describe('templates', () => {
  it('one template to many recipients in one frame: each gets its own text and its own ack or nack, in order', async () => {
    h = await session.start({ smscs: 1, sim: { capture: true, receiptDelayMs: 0 } });
    const c = await client();
    const n = 200;
    const items = Array.from({ length: n }, (_, i) => ({ ref: 'r' + i, to: '+47910' + String(10000 + i), vars: { name: 'N' + i, code: 1000 + i } as Record<string, unknown> }));
    delete items[7]!.vars.code;
    items[9]!.vars.name = { nested: true };
    items[11]!.vars.footer = 'Takk';
    c.send({ op: 'batch', ref: 'tb', common: { from: 'Acme', template: 'Hi {{name}}, your code is {{ code }}. {{footer|Bye}}' }, items });
    await waitFor(() => results(c, 'tb').length === n, 20_000, 'batch ack');
    const res = results(c, 'tb');
    expect(res.map((r) => r.ref)).toEqual(items.map((it) => it.ref));
    expect(res.filter((r) => r.op === 'ack')).toHaveLength(n - 2);
    expect(res[7]).toMatchObject({ op: 'nack', ref: 'r7', code: 'INVALID_TEMPLATE', error: expect.stringContaining('variable "code" is missing') });
    expect(res[9]).toMatchObject({ op: 'nack', ref: 'r9', code: 'INVALID_TEMPLATE', error: expect.stringContaining('"name" must be a string, a number or a boolean') });
    await waitFor(() => h!.sims[0]!.captured.length === n - 2, 20_000, 'every recipient at the SMSC');
    const text = new Map(h.sims[0]!.captured.map((p) => [p.destinationAddr, decodeShortMessage(p.shortMessage, p.dataCoding, false).text]));
    expect(text.get('4791010000')).toBe('Hi N0, your code is 1000. Bye');
    expect(text.get('4791010011')).toBe('Hi N11, your code is 1011. Takk');
    expect(text.has('4791010007')).toBe(false);
    // malformed templates and mixed fields are refused with their codes
    c.send({ op: 'submit', ref: 'x1', to: '+4791234567', from: 'Acme', template: 'Hi {{name', vars: { name: 'x' } });
    expect(await c.next((f) => f.op === 'nack' && f.ref === 'x1')).toMatchObject({ code: 'INVALID_TEMPLATE', error: expect.stringContaining('is not closed') });
    c.send({ op: 'submit', ref: 'x2', to: '+4791234567', from: 'Acme', template: 'Hi {{ 9lives }}' });
    expect(await c.next((f) => f.op === 'nack' && f.ref === 'x2')).toMatchObject({ code: 'INVALID_TEMPLATE', error: expect.stringContaining('placeholder name') });
    c.send({ op: 'submit', ref: 'x3', to: '+4791234567', from: 'Acme', template: 'Hi', text: 'Hi' });
    expect(await c.next((f) => f.op === 'nack' && f.ref === 'x3')).toMatchObject({ code: 'INVALID_FIELD', error: 'give either "text" or "template", not both' });
    // over HTTP too
    const ok = await json(api('/v1/messages', { body: { ref: 'h', to: '+4791234567', from: 'Acme', template: 'Dear {{who}}', vars: { who: 'Ola' } } }), 202);
    expect(ok).toMatchObject({ op: 'ack', ref: 'h', parts: 1 });
    await waitFor(() => h!.sims[0]!.captured.some((p) => p.shortMessage.toString('latin1') === 'Dear Ola'), 10_000, 'HTTP template at the SMSC');
  }, 60_000);
});

describe.each(targets)('tenant limits on %s', (_name, target) => {
  it('nacks senders off the allowlist (SENDER_NOT_ALLOWED) and submits over the daily quota (QUOTA_EXCEEDED), across a restart', async () => {
    h = await session.start({
      ...target(),
      smscs: 1,
      sim: { receiptDelayMs: 0 },
      configOverrides: (raw) => {
        const t = (raw.tenants as Array<Record<string, unknown>>)[0]!;
        t.dailyQuota = 5;
        t.senders = ['Acme', '+4790*'];
        (raw.tenants as unknown[]).push({ id: 'other', apiKey: { env: 'SY_OTHER_KEY' } });
      },
      env: { SY_OTHER_KEY: OTHER_KEY },
    });
    const c = await client();
    const submit = (ref: string, from: string) => c.send({ op: 'submit', ref, to: '+4791234567', from, text: 'limit ' + ref });
    const answer = (ref: string) => c.next((f) => (f.op === 'ack' || f.op === 'nack') && f.ref === ref);
    submit('a', 'Evil');
    expect(await answer('a')).toMatchObject({ op: 'nack', code: 'SENDER_NOT_ALLOWED', error: 'sender "Evil" is not on this tenant\'s sender list (tenants[].senders)' });
    submit('b', '4791000000');
    expect(await answer('b')).toMatchObject({ op: 'nack', code: 'SENDER_NOT_ALLOWED' });
    submit('c', 'acme');
    expect(await answer('c')).toMatchObject({ op: 'nack', code: 'SENDER_NOT_ALLOWED' });
    submit('d', '+4790123456');
    expect(await answer('d')).toMatchObject({ op: 'ack' });
    for (const r of ['e', 'f', 'g', 'h']) {
      submit(r, 'Acme');
      expect(await answer(r)).toMatchObject({ op: 'ack' });
    }
    // refused submits did not use the quota: five went through, the sixth is over
    submit('i', 'Acme');
    expect(await answer('i')).toMatchObject({ op: 'nack', code: 'QUOTA_EXCEEDED', error: 'daily quota of 5 messages reached; it resets at 00:00 UTC' });
    const http = await json(api('/v1/messages', { body: { ref: 'j', to: '+4791234567', from: 'Acme', text: 'x' } }), 429);
    expect(http).toMatchObject({ code: 'QUOTA_EXCEEDED', details: { ref: 'j' } });
    expect(await json(api('/v1/messages', { body: { ref: 'k', to: '+4791234567', from: 'Evil', text: 'x' } }), 403)).toMatchObject({ code: 'SENDER_NOT_ALLOWED' });
    // another tenant has no quota and no allowlist
    expect(await json(api('/v1/messages', { key: OTHER_KEY, body: { ref: 'o', to: '+4791234567', from: 'Evil', text: 'x' } }), 202)).toMatchObject({ op: 'ack' });
    // the count is in Redis, so a restarted engine keeps to it
    const r = connectRedis(h.target, { connectionName: 'sy-test-quota' });
    const key = h.engine.store.keys.quota('acme', Math.floor(Date.now() / 86_400_000));
    await waitFor(async () => (await r.get(key)) === '5', 5000, 'quota synced');
    r.disconnect();
    await h.restartEngine();
    const c2 = await client();
    c2.send({ op: 'submit', ref: 'z', to: '+4791234567', from: 'Acme', text: 'after restart' });
    expect(await c2.next((f) => f.op === 'nack' && f.ref === 'z')).toMatchObject({ code: 'QUOTA_EXCEEDED' });
  }, 60_000);
});

describe.each(targets)('billing on %s', (_name, target) => {
  it('usage totals equal what the SMSC took; a tenant billed on delivery pays for delivered messages only (HTTP and CLI)', async () => {
    h = await session.start({
      ...target(),
      smscs: 1,
      sim: { capture: true, receiptDelayMs: { min: 0, max: 10 }, outcomes: { delivered: 70, undelivered: 20, rejected: 10 }, seed: 7 },
      configOverrides: (raw) => (raw.tenants as unknown[]).push({ id: 'dlv', apiKey: { env: 'SY_OTHER_KEY' }, billOn: 'delivered' }),
      env: { SY_OTHER_KEY: OTHER_KEY, SWITCHYARD_ADMIN_KEY: ADMIN_KEY },
    });
    const long = 'A long message that needs two segments because it is longer than one hundred and sixty characters, which is what fits into a single GSM-7 segment. Thanks!';
    const send = async (key: string, prefix: string): Promise<Frame[]> => {
      const c = await client(key);
      const items = Array.from({ length: 150 }, (_, i) => ({ ref: String(i), to: prefix + String(10000 + i), from: 'Acme', text: i % 4 === 0 ? long : 'short ' + i }));
      c.send({ op: 'batch', ref: 'b', items });
      await waitFor(() => results(c, 'b').length === 150, 10_000, 'acks');
      const ids = results(c, 'b').map((r) => r.id as string);
      expect(results(c, 'b').every((r) => r.op === 'ack')).toBe(true);
      await waitFor(() => ids.every((id) => statuses(c, id).some((s) => FINAL.has(s))), 30_000, 'every final status');
      return ids.map((id) => c.frames.find((f) => f.op === 'status' && f.id === id && FINAL.has(f.status as string)) as Frame);
    };
    await send(h.apiKey, '+47911');
    const dlvFinals = await send(OTHER_KEY, '+47921');
    const parts = h.sims[0]!.captured;
    // billed when sent: every segment the SMSC accepted; a message once any of its segments went out
    const sentSegs = parts.filter((p) => p.destinationAddr.startsWith('47911') && p.outcome !== 'rejected');
    const acme = await json<{ total: { messages: number; segments: number; cost: Record<string, number> }; billOn: string }>(api('/v1/usage'), 200);
    expect(acme.billOn).toBe('sent');
    expect(acme.total.segments).toBe(sentSegs.length);
    expect(acme.total.messages).toBe(new Set(sentSegs.map((p) => p.destinationAddr)).size);
    expect(acme.total.cost.EUR).toBeCloseTo(sentSegs.length * 0.032, 6);
    expect(sentSegs.length).toBeLessThan(parts.filter((p) => p.destinationAddr.startsWith('47911')).length); // some were rejected
    // billed on delivery: delivered messages and all their segments, nothing else
    const delivered = dlvFinals.filter((f) => f.status === 'delivered');
    expect(delivered.length).toBeGreaterThan(0);
    expect(delivered.length).toBeLessThan(dlvFinals.length);
    const deliveredNumbers = new Set<string>();
    for (const f of delivered) {
      const m = await json<{ to: string }>(api(`/v1/messages/${f.id}`, { key: OTHER_KEY }), 200);
      deliveredNumbers.add(m.to.slice(1));
    }
    const dlvSegs = parts.filter((p) => deliveredNumbers.has(p.destinationAddr)).length;
    const dlv = await json<{ total: { messages: number; segments: number; cost: Record<string, number> }; days: unknown[] }>(api('/v1/usage', { key: OTHER_KEY }), 200);
    expect(dlv.total).toMatchObject({ messages: delivered.length, segments: dlvSegs });
    expect(dlv.total.cost.EUR).toBeCloseTo(dlvSegs * 0.032, 6);
    expect(dlv.days).toHaveLength(1);
    // the admin key reads any tenant's; the CLI prints the same
    const today = new Date().toISOString().slice(0, 10);
    expect(await json(api(`/v1/usage?tenant=dlv&from=${today}&to=${today}`, { key: ADMIN_KEY }), 200)).toEqual(dlv);
    const out = await new Promise<string>((ok, fail) => {
      const p = spawn(process.execPath, ['dist/engine/cli.js', 'usage', '--tenant', 'dlv', '--url', `http://127.0.0.1:${h!.engine.port}`, '--json'], { env: { ...process.env, SWITCHYARD_ADMIN_KEY: ADMIN_KEY } });
      let s = '';
      p.stdout.on('data', (d: Buffer) => (s += d.toString()));
      p.once('exit', (code) => (code === 0 ? ok(s) : fail(new Error(`cli exited ${code}`))));
    });
    expect(JSON.parse(out)).toEqual(dlv);
    // bad requests
    expect(await json(api('/v1/usage?from=2026-13-01'), 400)).toMatchObject({ code: 'BAD_REQUEST' });
    expect(await json(api('/v1/usage?tenant=dlv', { key: 'nope' }), 401)).toMatchObject({ code: 'UNAUTHORIZED' });
  }, 90_000);
});

describe.each(targets)('HTTP API on %s', (_name, target) => {
  it('submit one or many, look up, list with filters and cursor, cancel — each tenant sees only its own messages', async () => {
    h = await session.start({
      ...target(),
      smscs: 1,
      sim: { receiptDelayMs: { min: 0, max: 10 } },
      configOverrides: (raw) => (raw.tenants as unknown[]).push({ id: 'other', apiKey: { env: 'SY_OTHER_KEY' } }),
      env: { SY_OTHER_KEY: OTHER_KEY },
    });
    const batch = await json<{ op: string; results: Frame[] }>(api('/v1/messages', { body: { ref: 'hb', common: { from: 'Acme' }, items: [
      { ref: 'h1', to: '+4791234567', text: 'one' },
      { ref: 'h2', to: '+4791234568', text: 'two' },
      { ref: 'h3', to: '+47', text: 'bad number' },
    ] } }), 200);
    expect(batch.op).toBe('batch_ack');
    expect(batch.results.map((r) => [r.op, r.ref, r.code])).toEqual([['ack', 'h1', undefined], ['ack', 'h2', undefined], ['nack', 'h3', 'INVALID_NUMBER']]);
    const sendAt = Date.now() + 3600_000;
    const h4 = await json<Frame>(api('/v1/messages', { body: { ref: 'h4', to: '+4791234569', from: 'Acme', text: 'later', sendAt } }), 202);
    expect(h4).toMatchObject({ status: 'scheduled', parts: 1, price: 0.032 });
    expect(await json(api('/v1/messages', { body: [] }), 400)).toMatchObject({ code: 'BAD_FRAME' });
    expect(await json(api('/v1/messages', { body: { items: [] } }), 400)).toMatchObject({ code: 'BAD_FRAME' });
    const [id1, id2] = batch.results.map((r) => r.id as string) as [string, string];
    await waitFor(async () => (await Promise.all([id1, id2].map(async (id) => ((await (await api(`/v1/messages/${id}`)).json()) as { status: string }).status))).every((s) => s === 'delivered'), 20_000, 'delivered');

    // lookup: status, parts, price, history
    const m1 = await json(api(`/v1/messages/${id1}`), 200);
    expect(m1).toMatchObject({ id: id1, ref: 'h1', to: '+4791234567', from: 'Acme', status: 'delivered', parts: 1, price: { perPart: 0.032, total: 0.032, currency: 'EUR' } });
    expect((m1.partStates as Array<Record<string, unknown>>)[0]).toMatchObject({ part: 1, state: 'delivered', smscMessageId: expect.any(String) });
    expect((m1.events as Array<{ status: string }>).map((e) => e.status)).toEqual(['queued', 'sent', 'delivered']);

    // list: newest due first (the scheduled one is due last), filters, pages
    type Page = { messages: Array<{ id: string; ref: string; status: string }>; next: string | null };
    const all = await json<Page>(api('/v1/messages'), 200);
    expect(all.messages.map((m) => m.ref)).toEqual(['h4', 'h2', 'h1']);
    expect(all.next).toBeNull();
    expect((await json<Page>(api('/v1/messages?status=delivered'), 200)).messages.map((m) => m.ref)).toEqual(['h2', 'h1']);
    expect((await json<Page>(api('/v1/messages?status=scheduled,stopped'), 200)).messages.map((m) => m.ref)).toEqual(['h4']);
    expect((await json<Page>(api('/v1/messages?to=%2B4791234568'), 200)).messages.map((m) => m.ref)).toEqual(['h2']);
    expect((await json<Page>(api('/v1/messages?ref=h1'), 200)).messages.map((m) => m.id)).toEqual([id1]);
    expect((await json<Page>(api(`/v1/messages?until=${Date.now()}`), 200)).messages.map((m) => m.ref)).toEqual(['h2', 'h1']);
    expect((await json<Page>(api(`/v1/messages?since=${new Date(sendAt - 1000).toISOString()}`), 200)).messages.map((m) => m.ref)).toEqual(['h4']);
    const paged: string[] = [];
    let next: string | null = '';
    for (let k = 0; k < 5 && next !== null; k++) {
      const p: Page = await json<Page>(api(`/v1/messages?limit=1${next ? `&cursor=${next}` : ''}`), 200);
      paged.push(...p.messages.map((m) => m.ref));
      next = p.next;
    }
    expect(paged).toEqual(['h4', 'h2', 'h1']);
    expect(await json(api('/v1/messages?limit=0'), 400)).toMatchObject({ code: 'BAD_REQUEST', message: '"limit" must be 1 to 500' });
    expect(await json(api('/v1/messages?colour=red'), 400)).toMatchObject({ code: 'BAD_REQUEST' });
    expect(await json(api('/v1/messages?cursor=zzz'), 400)).toMatchObject({ code: 'BAD_REQUEST' });

    // another tenant sees none of it and cannot cancel it
    expect(await json(api(`/v1/messages/${id1}`, { key: OTHER_KEY }), 404)).toMatchObject({ code: 'NOT_FOUND' });
    expect(await json(api('/v1/messages', { key: OTHER_KEY }), 200)).toEqual({ messages: [], next: null });
    expect(await json(api(`/v1/messages/${h4.id}/cancel`, { key: OTHER_KEY, method: 'POST' }), 404)).toMatchObject({ code: 'NOT_FOUND' });
    expect(await json(api('/v1/messages', { key: 'wrong' }), 401)).toMatchObject({ code: 'UNAUTHORIZED' });

    // cancel the scheduled one; a second cancel is refused
    expect(await json(api(`/v1/messages/${h4.id}/cancel`, { method: 'POST' }), 200)).toEqual({ id: h4.id, status: 'stopped' });
    expect(await json(api(`/v1/messages/${h4.id}/cancel`, { method: 'POST' }), 409)).toMatchObject({ code: 'NOT_CANCELLABLE', details: { id: h4.id, status: 'stopped' } });
    const m4 = await json<{ status: string; events: Array<{ status: string; error?: { code: string } }> }>(api(`/v1/messages/${h4.id}`), 200);
    expect(m4.status).toBe('stopped');
    expect(m4.events.map((e) => e.status)).toEqual(['scheduled', 'stopped']);
    expect(m4.events[1]?.error?.code).toBe('CANCELLED');
    expect((await json<Page>(api('/v1/messages?status=stopped'), 200)).messages.map((m) => m.ref)).toEqual(['h4']);
  }, 60_000);
});
