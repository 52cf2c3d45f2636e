/**
 * WebSocket frame fuzz (issue 11) against a running engine: random and
 * crafted frames — bad JSON, wrong types in every field, huge arrays, deep
 * nesting, template bombs, long and dirty numbers, binary frames, invalid
 * UTF-8, unknown ops, batch edge cases, oversized frames — from two
 * connections. Bounded: a fixed number of frames from a seeded PRNG
 * (FUZZ_SEED to replay a run; the seed is printed), well under a minute.
 *
 * Asserted: the process does not crash (the engine runs in this process:
 * an exception in a handler would fail the run); every frame gets exactly one
 * answer (never a deaf connection) except those documented to close it (1009;
 * a text frame of invalid UTF-8, which uWS cuts: 1006); every refusal code is one the README's error table documents; the
 * caches keyed by client input stay small and RSS stays bounded; and a normal
 * message is delivered afterwards.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { numberCacheSize } from '../../engine/ingress/normalize-number.js';
import { templateCacheSize } from '../../engine/ingress/render-template.js';
import { harnessSession } from '../helpers/harness-session.js';
import { waitFor } from '../helpers/wait-for.js';
import { prng } from '../../engine/prng.js';

const session = harnessSession();
const SEED = Number(process.env.FUZZ_SEED ?? 11_2025);
const FRAMES = 2000;

/** Every code in the README's "Error codes" table. */
function documentedCodes(): Set<string> {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const table = readme.slice(readme.indexOf('## Error codes'), readme.indexOf('\n## ', readme.indexOf('## Error codes') + 5));
  const codes = new Set<string>();
  for (const line of table.split('\n')) {
    const first = line.split('|')[1] ?? '';
    for (const m of first.matchAll(/`([A-Z][A-Z0-9_]+)`/g)) codes.add(m[1] as string);
  }
  return codes;
}

type Out = { data: string | Buffer; binary?: boolean; closes?: number };

const ANSWERS = new Set(['error', 'nack', 'ack', 'batch_ack', 'pong', 'cancel_ack', 'cancel_nack', 'optout_result']);

describe('WebSocket frame fuzz', () => {
  it('random and crafted frames: no crash, one documented answer per frame, bounded memory, still delivering', async () => {
    console.log(`ws fuzz seed ${SEED} (FUZZ_SEED=${SEED} replays it)`);
    const h = await session.start({ smscs: 1, sim: { receiptDelayMs: { min: 0, max: 5 } } });
    const maxFrame = h.config.server.maxFrameBytes;
    const documented = documentedCodes();
    const rnd = prng(SEED);
    const int = (n: number) => Math.floor(rnd() * n);
    const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
    const str = (n: number) => {
      let s = '';
      for (let i = 0; i < n; i++) s += String.fromCharCode(rnd() < 0.8 ? 32 + int(95) : int(0xd800 + 0x800 * (rnd() < 0.1 ? 1 : 0)));
      return s;
    };
    // A value of the wrong type or shape; `big` allows one of up to 70 KB (never inside arrays: a frame stays under 4 × maxFrameBytes).
    const weird = (big = false): unknown => pick([
      null, true, false, 0, -1, 1e308, -0, 3.5, NaN, '', ' ', '\n', str(int(40)), big ? 'x'.repeat(int(70_000)) : 'x'.repeat(int(70)), [], [1, 'a', null], {}, { a: { b: { c: [] } } },
      '+4791234567\n', '-4791234567', '+47 912 34 567 ', '\u0000', '+' + '9'.repeat(int(200)), '٤٧٩١٢٣٤٥٦٧', '{{a}}', '}}{{',
    ]);
    const validTo = () => pick(['+4791234567', '+47 912 34 568', '004791234569', '+4915112345678']);
    const fields = ['ref', 'to', 'from', 'text', 'validity', 'dlr', 'sendAt', 'template', 'vars', 'transliterate', 'op', 'unknown', '__proto__', 'constructor'];
    const submitLike = (big = true): Record<string, unknown> => {
      const o: Record<string, unknown> = { op: 'submit', ref: 'r' + int(1e6), to: validTo(), from: 'Acme', text: 'fuzz ' + int(1e6) };
      // Break 0-3 fields with values of the wrong type or shape.
      for (let k = int(4); k > 0; k--) o[pick(fields)] = weird(big);
      if (rnd() < 0.2) delete o[pick(fields)];
      return o;
    };
    const deep = (n: number, open: string, close: string, leaf = '1') => open.repeat(n) + leaf + close.repeat(n);
    const generators: Array<() => Out> = [
      () => ({ data: Buffer.from(Array.from({ length: int(2000) }, () => int(256))), binary: true }),
      () => ({ data: str(int(500)) }),
      () => {
        const s = JSON.stringify(submitLike());
        return { data: s.slice(0, int(s.length)) }; // truncated JSON
      },
      () => ({ data: JSON.stringify(submitLike()) + pick(['x', '}', ',', ' {}', '\u0000']) }),
      () => ({ data: JSON.stringify(pick([1, 'submit', [{ op: 'submit' }], null, true, -5.5])) }),
      () => ({ data: deep(20_000 + int(40_000), '[', ']') }),
      () => ({ data: `{"op":"submit","ref":"d","to":"+4791234567","from":"Acme","template":"{{a}}","vars":${deep(10_000 + int(20_000), '{"a":', '}')}}` }),
      () => ({ data: `{"op":${deep(5_000 + int(20_000), '{"x":', '}')}}` }),
      () => ({ data: JSON.stringify(submitLike()) }),
      () => ({ data: JSON.stringify({ ...submitLike(), to: pick([str(int(100)), 'x'.repeat(int(200_000)), '+47' + '1'.repeat(int(100_000)), validTo() + pick(['\n', '\r', '\t', ' ', '\u200b'])]) }) }),
      () => ({ data: JSON.stringify({ op: 'submit', ref: 'bomb', to: validTo(), from: 'Acme', template: '{{a}}'.repeat(1 + int(1600)), vars: { a: 'b'.repeat(int(240_000)) } }) }),
      () => ({ data: JSON.stringify({ op: 'batch', ref: 'cb', common: { from: 'Acme', template: '{{a}}'.repeat(1 + int(100)), vars: { a: 'c'.repeat(int(200_000)) } }, items: Array.from({ length: 1 + int(500) }, () => ({ to: validTo() })) }) }),
      () => ({ data: JSON.stringify({ op: 'batch', ref: 'ct', common: { from: 'Acme', text: 'd'.repeat(int(200_000)), ref: 'e'.repeat(int(1000)) }, items: Array.from({ length: 1 + int(500) }, () => ({ to: validTo() })) }) }),
      () => ({ data: JSON.stringify({ op: 'batch', ref: 'h', items: Array.from({ length: int(60_000) }, () => int(10)) }) }),
      () => ({ data: JSON.stringify({ op: 'batch', ref: pick(['b', 'b'.repeat(1000), 7]), ...(rnd() < 0.5 ? { common: weird() } : {}), items: pick([[], null, 'x', {}, Array.from({ length: int(600) }, () => (rnd() < 0.5 ? submitLike(false) : weird()))]) }) }),
      () => ({ data: JSON.stringify({ op: 'batch', ref: 'nested', items: [{ op: 'batch', items: [submitLike(false)] }, submitLike(false)] }) }),
      () => ({ data: JSON.stringify({ op: pick(['cancel', 'ping', 'optout_add', 'optout_remove', 'optout_check', 'optout_list', 'launch', '', 'SUBMIT', 7, null, ['submit'], { op: 1 }]), ref: weird(true), id: weird(true), number: weird(), numbers: pick([weird(true), Array.from({ length: int(1500) }, () => weird())]), after: weird(), limit: weird() }) }),
      () => ({ data: JSON.stringify({ ...submitLike(), ref: 'big', text: 'f'.repeat(maxFrame + int(maxFrame)) }) }), // FRAME_TOO_LARGE
      () => ({ data: Buffer.concat([Buffer.from('{"op":"ping","ref":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]), closes: 1006 }), // invalid UTF-8 in a text frame: uWS cuts the connection (README)
      () => ({ data: Buffer.alloc(maxFrame * 4 + 1 + int(maxFrame), 0x7b), binary: rnd() < 0.5, closes: 1009 }),
    ];
    // Most frames are cheap; the expensive kinds (big frames, closes) come less often.
    const weights = [8, 8, 8, 5, 4, 1, 1, 1, 12, 4, 2, 1, 1, 1, 6, 2, 8, 1, 0.3, 0.2];
    const total = weights.reduce((a, b) => a + b, 0);
    const next = (): Out => {
      let x = rnd() * total;
      for (let i = 0; i < generators.length; i++) if ((x -= weights[i] as number) < 0) return (generators[i] as () => Out)();
      return (generators[0] as () => Out)();
    };

    interface Conn { ws: WebSocket; sent: number; answered: number; closedWith?: number; codes: Map<string, number> }
    const open = async (): Promise<Conn> => {
      const ws = new WebSocket(h.wsUrl, { headers: { authorization: `Bearer ${h.apiKey}` }, perMessageDeflate: false, maxPayload: 64 * 2 ** 20 });
      const c: Conn = { ws, sent: 0, answered: 0, codes: new Map() };
      ws.on('message', (d: Buffer) => {
        const f = JSON.parse(d.toString()) as { op: string; code?: string; results?: Array<{ code?: string }> };
        if (!ANSWERS.has(f.op)) return;
        c.answered++;
        for (const code of [f.code, ...(f.results ?? []).map((r) => r.code)]) if (code !== undefined) c.codes.set(code, (c.codes.get(code) ?? 0) + 1);
      });
      ws.on('error', () => undefined);
      ws.on('close', (code) => (c.closedWith = code));
      await new Promise<void>((ok, fail) => {
        ws.once('open', () => ok());
        ws.once('unexpected-response', (_q, r) => fail(new Error(`HTTP ${r.statusCode}`)));
      });
      return c;
    };

    const rss0 = process.memoryUsage().rss;
    const codes = new Map<string, number>();
    const closes = new Map<number, number>();
    const conns = [await open(), await open()];
    let answered = 0;
    let expected = 0;
    let peakRss = rss0;
    for (let i = 0; i < FRAMES; i++) {
      const k = int(conns.length);
      const c = conns[k] as Conn;
      const out = next();
      if (out.closes !== undefined) {
        // Answers still on their way (acks wait for Redis) are not sent once the server closes: wait for them first.
        await waitFor(() => c.answered >= c.sent, 20_000, `answers on connection ${k} before frame ${i}`);
        c.ws.send(out.data, { binary: out.binary ?? false });
        const code = await new Promise<number>((ok) => c.ws.once('close', ok));
        expect(code, `frame ${i} should close ${out.closes}`).toBe(out.closes);
        closes.set(code, (closes.get(code) ?? 0) + 1);
        // Everything sent before the closing frame was answered first (frames are handled in order).
        expect(c.answered).toBe(c.sent);
        answered += c.answered;
        expected += c.sent;
        for (const [x, n] of c.codes) codes.set(x, (codes.get(x) ?? 0) + n);
        conns[k] = await open();
        continue;
      }
      c.ws.send(out.data, { binary: out.binary ?? false });
      c.sent++;
      // Keep each connection's unanswered frames small: a fuzzing client that reads like a client should.
      if (c.sent - c.answered > 50) await waitFor(() => c.answered >= c.sent - 10 || c.closedWith !== undefined, 20_000, `answers on connection ${k} (frame ${i})`);
      expect(c.closedWith, `connection closed by frame ${i}`).toBeUndefined();
      if (i % 200 === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }
    // Never deaf: every frame that did not close its connection got exactly one answer.
    await waitFor(() => conns.every((c) => c.answered >= c.sent), 30_000, 'an answer to every frame');
    await new Promise((ok) => setTimeout(ok, 200)); // an extra answer would come now
    for (const c of conns) {
      expect(c.answered).toBe(c.sent);
      answered += c.answered;
      expected += c.sent;
      for (const [x, n] of c.codes) codes.set(x, (codes.get(x) ?? 0) + n);
    }
    expect(answered).toBe(expected);
    console.log(`ws fuzz: ${FRAMES} frames, ${expected} answered, closes ${JSON.stringify(Object.fromEntries(closes))}, codes ${JSON.stringify(Object.fromEntries(codes))}`);
    // Every refusal carries a documented code.
    for (const code of codes.keys()) expect(documented.has(code), `code ${code} is in the README's error table`).toBe(true);
    expect(codes.get('BAD_FRAME')).toBeGreaterThan(0);
    expect(codes.get('INVALID_NUMBER')).toBeGreaterThan(0);
    expect(codes.get('INVALID_TEMPLATE')).toBeGreaterThan(0);
    expect(codes.get('MESSAGE_TOO_LONG')).toBeGreaterThan(0);
    expect(codes.get('UNAVAILABLE') ?? 0).toBe(0); // no internal error was hit
    expect(closes.get(1009)).toBeGreaterThan(0);
    // Bounded memory: the caches keyed by client input hold valid input only, and RSS did not run away
    // (the number cache alone grew ~195 MB per 1,000 long frames before).
    expect(numberCacheSize().entries).toBeLessThan(10);
    expect(templateCacheSize().bytes).toBeLessThan(8 * 2 ** 20);
    expect(h.engine.ingress.backlogged).toBe(0);
    const rss = Math.max(peakRss, process.memoryUsage().rss);
    console.log(`ws fuzz: RSS ${Math.round(rss0 / 2 ** 20)} → peak ${Math.round(rss / 2 ** 20)} MB`);
    expect(rss - rss0).toBeLessThan(400 * 2 ** 20);

    // Still delivering: a normal message goes through, on a new connection too (once the SMSC's binds are up and routed:
    // on a busy machine that may take longer than the fuzz).
    for (const c of conns) c.ws.close();
    await waitFor(() => {
      const x = h.engine.routing.explain('+4791234567', 'acme');
      return 'decision' in x && x.decision.ok;
    }, 60_000, 'a route for +4791234567');
    const client = await session.client();
    client.send({ op: 'submit', ref: 'after', to: '+4791234567', from: 'Acme', text: 'after the fuzz' });
    const ack = await client.next((f) => f.ref === 'after');
    expect(ack).toMatchObject({ op: 'ack', status: 'queued' });
    expect(await client.next((f) => f.op === 'status' && f.id === ack.id && f.status === 'delivered', 20_000)).toBeTruthy();
  }, 120_000);
});
