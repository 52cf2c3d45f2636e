/**
 * The contract documents against a running engine (issue 15): the OpenAPI
 * document served at /v1/openapi.json covers every route the server
 * registers (engine/http/guarded-app.ts records them) and nothing else;
 * every operation, called with a real request (and once without its key),
 * answers a documented status with a body its schema allows; the WebSocket
 * frames the engine sends, the close code of an oversize frame and a real
 * webhook POST match the AsyncAPI document (/v1/asyncapi.json); 429 and 503
 * answers carry Retry-After from their limiter.
 */
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Ajv } from 'ajv';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { openApiPath } from '../../engine/api-spec/openapi.js';
import { harnessSession } from '../helpers/harness-session.js';
import { waitFor } from '../helpers/wait-for.js';
import type { Frame } from '../helpers/ws-client.js';

const ADMIN = 'admin-key-contract-0123456789';
const session = harnessSession();

type Json = Record<string, unknown>;
interface Operation {
  readonly parameters?: Array<{ name: string; in: string }>;
  readonly requestBody?: { content: Record<string, { schema: Json }> };
  readonly responses: Record<string, { content?: Record<string, { schema: Json }> }>;
  readonly security: Json[];
}
type Doc = Json & { paths: Record<string, Record<string, Operation>> };

let servers: Server[] = [];
afterEach(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((ok) => s.close(ok));
  }
  servers = [];
});

/** A webhook receiver that keeps the raw bodies (answers 200). */
async function rawReceiver(): Promise<{ url: string; bodies: string[] }> {
  const bodies: string[] = [];
  const s = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200).end();
    });
  });
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  servers.push(s);
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}/hook`, bodies };
}

/** ajv over the whole OpenAPI document (so $refs resolve): the schema of one response or request body. */
function openApiValidator(doc: Doc): (pointer: string, data: unknown) => string | undefined {
  const ajv = new Ajv2020({ strict: false });
  ajv.addSchema(doc, 'openapi');
  return (pointer, data) => {
    const v = ajv.getSchema(`openapi#${pointer}`) ?? ajv.compile({ $ref: `openapi#${pointer}` });
    return v(data) ? undefined : ajv.errorsText(v.errors);
  };
}
const esc = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

describe('the OpenAPI and AsyncAPI documents against a running engine', () => {
  it('cover every registered route both ways, and every operation answers as documented, with and without its key', { timeout: 180_000 }, async () => {
    const hook = await rawReceiver();
    const h = await session.start({
      smscs: 1,
      configFile: true,
      env: { SWITCHYARD_ADMIN_KEY: ADMIN, SY_CONTRACT_HOOK: randomBytes(16).toString('hex') },
      configOverrides: (raw) => {
        const t = (raw.tenants as Json[])[0] as Json;
        t.webhook = { url: hook.url, secret: { env: 'SY_CONTRACT_HOOK' } };
      },
    });
    const base = `http://127.0.0.1:${h.engine.port}`;
    const served = await fetch(`${base}/v1/openapi.json`);
    expect(served.status).toBe(200);
    const doc = (await served.json()) as Doc;
    expect(doc.openapi).toBe('3.1.0');

    // (b) registered routes ⇄ documented operations.
    const documented = new Set(Object.entries(doc.paths).flatMap(([p, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${p}`)));
    const registered = h.engine.ingress.routes.filter((r) => r.method !== 'head' && r.pattern !== '/*');
    const wildcards = registered.filter((r) => r.pattern.endsWith('/*'));
    const methodOf = (m: string) => (m === 'ws' ? 'GET' : m === 'del' ? 'DELETE' : m.toUpperCase());
    const undocumented = registered
      .filter((r) => !r.pattern.endsWith('/*'))
      .map((r) => `${methodOf(r.method)} ${openApiPath(r.pattern)}`)
      .filter((k) => !documented.has(k));
    expect(undocumented, 'registered routes without a spec').toEqual([]);
    for (const w of wildcards)
      expect([...documented].some((k) => k.startsWith(`${methodOf(w.method)} ${w.pattern.slice(0, -1)}`)), `${w.pattern} has documented paths`).toBe(true);
    const registeredKeys = new Set(registered.map((r) => `${methodOf(r.method)} ${openApiPath(r.pattern)}`));
    const unregistered = [...documented].filter((k) => !registeredKeys.has(k) && !wildcards.some((w) => k.startsWith(`${methodOf(w.method)} ${w.pattern.slice(0, -1)}`)));
    expect(unregistered, 'specs without a registered route').toEqual([]);

    // (c) real requests and answers. A scheduled message, so that cancel and lookup answer 2xx.
    const check = openApiValidator(doc);
    const auth = (key: string) => ({ authorization: `Bearer ${key}` });
    const submit = { ref: 'c1', to: '+4791234567', from: 'Acme', text: 'contract', sendAt: Date.now() + 3_600_000 };
    const acked = await fetch(`${base}/v1/messages`, { method: 'POST', headers: { ...auth(h.apiKey), 'content-type': 'application/json' }, body: JSON.stringify(submit) });
    expect(acked.status).toBe(202);
    const id = ((await acked.json()) as { id: string }).id;
    const samples: Record<string, { body?: unknown; query?: string }> = {
      'POST /v1/messages': { body: { ref: 'c2', to: '+4791234568', from: 'Acme', text: 'contract 2' } },
      'POST /v1/optouts': { body: { numbers: ['+4791234599'] } },
      'POST /v1/admin/optouts': { body: { numbers: ['+4791234598'] } },
      'POST /v1/admin/held/approve': { body: { ids: [id] } },
      'POST /v1/admin/held/reject': { body: { ids: [id], reason: 'contract test' } },
      'GET /v1/routes/explain': { query: 'to=%2B4791234567' },
      'GET /v1/messages': { query: 'limit=10' },
      'GET /v1/usage': {},
    };
    // Tenants as data: a tenant for the routes that change one, another for its deletion, and a key to revoke (each created here first).
    const admin = (method: string, path: string, body?: unknown) =>
      fetch(`${base}${path}`, { method, headers: { ...auth(ADMIN), ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    expect((await admin('POST', '/v1/admin/tenants?key=none', { id: 'contract-t', tps: 10 })).status).toBe(201);
    expect((await admin('POST', '/v1/admin/tenants?key=none', { id: 'contract-del', tps: 10 })).status).toBe(201);
    const issued = (await (await admin('POST', '/v1/admin/tenants/contract-t/keys', { label: 'to revoke' })).json()) as { id: string };
    samples['POST /v1/admin/tenants'] = { body: { id: 'contract-new', tps: 10 }, query: 'key=none' };
    samples['PUT /v1/admin/tenants/{id}'] = { body: { tps: 20 } };
    samples['PATCH /v1/admin/tenants/{id}'] = { body: { tps: 30 } };
    samples['POST /v1/admin/tenants/{id}/keys'] = { body: { label: 'contract' } };
    const tenantOf = (method: string, path: string) => (method === 'delete' && path === '/v1/admin/tenants/{id}' ? 'contract-del' : 'contract-t');
    const params: Record<string, string> = { id, number: '%2B4791234599', tenant: h.tenant, key: issued.id };
    const keyFor = (op: Operation) => {
      const s = JSON.stringify(op.security);
      return s.includes('tenantKey') ? h.apiKey : s.includes('adminKey') ? ADMIN : undefined;
    };
    const problems: string[] = [];
    const answered = new Map<string, number>();
    const call = async (method: string, path: string, op: Operation, key: string | undefined) => {
      const key0 = `${method.toUpperCase()} ${path}`;
      const sample = samples[key0] ?? {};
      let target = path.replace(/\{(\w+)\}/g, (_, n: string) => (path.startsWith('/v1/admin/tenants/') && n === 'id' ? tenantOf(method, path) : params[n] ?? 'x'));
      if (path === '/v1/admin/optouts/{number}') target = target.replace('%2B4791234599', '%2B4791234598');
      if (sample.query !== undefined) target += `?${sample.query}`;
      if (sample.body !== undefined && op.requestBody !== undefined) {
        const bad = check(`/paths/${esc(path)}/${method}/requestBody/content/application~1json/schema`, sample.body);
        if (bad !== undefined) problems.push(`${key0}: the test's request body is not what the document allows: ${bad}`);
      }
      const res = await fetch(base + target, {
        method: method.toUpperCase(),
        headers: { ...(key === undefined ? {} : auth(key)), ...(sample.body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(sample.body === undefined ? {} : { body: JSON.stringify(sample.body) }),
      });
      const text = await res.text();
      const r = op.responses[String(res.status)];
      if (r === undefined) {
        problems.push(`${key0}${key === undefined ? ' (no key)' : ''}: undocumented status ${res.status} ${text.slice(0, 200)}`);
        return res.status;
      }
      const type = (res.headers.get('content-type') ?? '').split(';')[0] as string;
      if (r.content !== undefined && r.content[type] === undefined) problems.push(`${key0}: ${res.status} as ${type}, documented ${Object.keys(r.content).join(', ')}`);
      if (type === 'application/json') {
        const bad = check(`/paths/${esc(path)}/${method}/responses/${res.status}/content/application~1json/schema`, JSON.parse(text));
        if (bad !== undefined) problems.push(`${key0}: ${res.status} body does not match its schema: ${bad}: ${text.slice(0, 300)}`);
      }
      if ((res.status === 429 || res.status === 503) && !/^[1-9][0-9]*$/.test(res.headers.get('retry-after') ?? '')) problems.push(`${key0}: ${res.status} without Retry-After`);
      return res.status;
    };
    for (const [path, item] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(item)) {
        const upgrade = op.responses['101'] !== undefined;
        if (upgrade) continue;
        answered.set(`${method.toUpperCase()} ${path}`, await call(method, path, op, keyFor(op)));
        const key = keyFor(op);
        if (key !== undefined) {
          const status = await call(method, path, op, undefined);
          if (status !== 401) problems.push(`${method.toUpperCase()} ${path}: ${status} without a key`);
        }
      }
    expect(problems).toEqual([]);
    // With its key and a real request, every operation succeeds (analytics is off in this engine: 503 UNAVAILABLE, documented).
    // (Nor does this engine run the SMPP server: kicking a bind is the documented 404.)
    const failed = [...answered].filter(([k, s]) => (s < 200 || s > 299) && !k.startsWith('GET /v1/analytics/') && k !== 'GET /readyz' && !(k === 'POST /v1/admin/smpp/binds/{id}/kick' && s === 404));
    expect(failed).toEqual([]);
    expect(answered.get('GET /v1/analytics/delivery')).toBe(503);
    // The schema the document shows is the one that checks the request (held bodies: engine/http/held-routes.ts).
    const bad = await fetch(`${base}/v1/admin/held/approve`, { method: 'POST', headers: { ...auth(ADMIN), 'content-type': 'application/json' }, body: JSON.stringify({ ids: ['ok1', 'NOT an id'], colour: 'red' }) });
    expect(bad.status).toBe(400);
    const bb = (await bad.json()) as { code: string; message: string; details: { issues: Array<{ path: string }> } };
    expect(bb.code).toBe('INVALID_FIELD');
    expect(bb.details.issues.map((i) => i.path).sort()).toEqual(['(body)', 'ids.1']);
    expect(check('/paths/~1v1~1admin~1held~1approve/post/requestBody/content/application~1json/schema', { ids: ['ok1', 'NOT an id'] })).toBeDefined();
  });

  it('every frame the engine sends on /v1/ws, its close code for an oversize frame, and a webhook POST match the AsyncAPI document', { timeout: 120_000 }, async () => {
    const hook = await rawReceiver();
    const h = await session.start({
      smscs: 1,
      sim: { receiptDelayMs: { min: 0, max: 10 } },
      env: { SY_CONTRACT_HOOK: randomBytes(16).toString('hex') },
      configOverrides: (raw) => {
        const t = (raw.tenants as Json[])[0] as Json;
        t.webhook = { url: hook.url, secret: { env: 'SY_CONTRACT_HOOK' }, lingerMs: 0 };
      },
    });
    const doc = (await (await fetch(`http://127.0.0.1:${h.engine.port}/v1/asyncapi.json`)).json()) as {
      channels: { ws: { messages: Record<string, unknown>; 'x-close-codes': Array<{ code: number }> } };
      components: { messages: Record<string, { payload: Json }> };
    };
    const ajv = new Ajv({ strict: false });
    const payload = (name: string) => ajv.getSchema(name) ?? (ajv.addSchema((doc.components.messages[name] as { payload: Json }).payload, name), ajv.getSchema(name));
    /** The message names a frame may be, by its op (client frames and server frames). */
    const byOp: Record<string, string[]> = {
      hello: ['hello'], ack: ['ack'], nack: ['nack'], batch_ack: ['batchAck'], cancel_ack: ['cancelAck'], cancel_nack: ['cancelNack'], pong: ['pong'], error: ['error'], optout_result: ['optoutResult'], status: ['status'], mo: ['mo'],
      submit: ['submit'], batch: ['batch'], cancel: ['cancel'], ping: ['ping'], optout_add: ['optoutAdd'], optout_remove: ['optoutRemove'], optout_check: ['optoutCheck'], optout_list: ['optoutList'],
    };
    const problems: string[] = [];
    const matches = (f: Frame, what: string) => {
      const names = byOp[String(f.op)];
      if (names === undefined) return void problems.push(`${what}: op ${String(f.op)} is not in the document`);
      for (const n of names) if (doc.channels.ws.messages[n] === undefined) problems.push(`${n} is not a message of the ws channel`);
      if (!names.some((n) => (payload(n) as (x: unknown) => boolean)(f))) problems.push(`${what}: ${JSON.stringify(f).slice(0, 300)} matches no ${names.join('/')} schema: ${ajv.errorsText(payload(names[0] as string)?.errors)}`);
    };
    const c = await session.client();
    const sent: Frame[] = [
      { op: 'submit', ref: 's1', to: '+4791234567', from: 'Acme', text: 'hello' },
      { op: 'submit', ref: 's2', to: '+4712', from: 'Acme', text: 'bad number' },
      { op: 'batch', ref: 'b1', common: { from: 'Acme', template: 'Hi {{name}}' }, items: [{ ref: 'i1', to: '+4791234568', vars: { name: 'Ola' } }, { ref: 'i2', to: 'nope', vars: { name: 'Kari' } }] },
      { op: 'submit', ref: 's3', to: '+4791234569', from: 'Acme', text: 'later', sendAt: Date.now() + 3_600_000 },
      { op: 'ping', ref: 'p1' },
      { op: 'optout_add', ref: 'o1', numbers: ['+4791234590'] },
      { op: 'optout_check', ref: 'o2', number: '+4791234590' },
      { op: 'optout_list', ref: 'o3', limit: 10 },
      { op: 'optout_remove', ref: 'o4', number: '+4791234590' },
      { op: 'optout_remove', ref: 'o5', number: '+4791234590' },
      { op: 'cancel', ref: 'c0', id: 'nosuchmessage' },
    ];
    for (const f of sent) {
      matches(f, 'client frame');
      c.send(f);
    }
    c.sendRaw('not json');
    // c.next() reads frames in order once: look for each of these anywhere instead.
    const seen = async (pred: (f: Frame) => boolean, what: string, ms = 20_000) => {
      await waitFor(() => c.frames.some(pred), ms, what);
      return c.frames.find(pred) as Frame;
    };
    const scheduled = await seen((f) => f.op === 'ack' && f.ref === 's3', 'ack s3');
    c.send({ op: 'cancel', ref: 'c1', id: scheduled.id });
    await seen((f) => f.op === 'cancel_ack' && f.ref === 'c1', 'cancel_ack');
    const s1 = await seen((f) => f.op === 'ack' && f.ref === 's1', 'ack s1');
    await seen((f) => f.op === 'status' && f.id === s1.id && f.status === 'delivered', 'delivered status', 30_000);
    for (const [op, ref] of [['optout_result', 'o4'], ['error', 'o5'], ['cancel_nack', 'c0'], ['batch_ack', 'b1'], ['nack', 's2'], ['pong', 'p1']]) await seen((f) => f.op === op && f.ref === ref, `${op} ${ref}`);
    await seen((f) => f.op === 'error' && f.code === 'BAD_FRAME', 'BAD_FRAME error');
    for (const f of c.frames) matches(f, 'server frame');
    const ops = new Set(c.frames.map((f) => f.op));
    for (const op of ['hello', 'ack', 'nack', 'batch_ack', 'cancel_ack', 'cancel_nack', 'pong', 'error', 'optout_result', 'status']) expect(ops.has(op), op).toBe(true);

    // A real webhook POST of the same messages' events.
    await waitFor(() => hook.bodies.some((b) => b.includes(String(s1.id)) && b.includes('"delivered"')), 30_000, 'a webhook POST with the delivered status');
    for (const b of hook.bodies) if (!(payload('webhookBatch') as (x: unknown) => boolean)(JSON.parse(b))) problems.push(`webhook body ${b.slice(0, 300)}: ${ajv.errorsText(payload('webhookBatch')?.errors)}`);
    expect(problems).toEqual([]);

    // The close code of a frame over 4 × server.maxFrameBytes is a documented one.
    const ws = new WebSocket(`${h.wsUrl}?statuses=0`, { headers: { authorization: `Bearer ${h.apiKey}` } });
    await once(ws, 'open');
    const closed = once(ws, 'close') as Promise<[number, Buffer]>;
    ws.send('x'.repeat(h.config.server.maxFrameBytes * 4 + 1));
    const [code] = await closed;
    expect(code).toBe(1009);
    expect(doc.channels.ws['x-close-codes'].map((x) => x.code)).toContain(code);
  });

  it('429 answers carry Retry-After from their limiter: a tenant rate 1/tps, a daily quota the seconds to 00:00 UTC', { timeout: 60_000 }, async () => {
    const h = await session.start({
      smscs: 1,
      configOverrides: (raw) => {
        const t = (raw.tenants as Json[])[0] as Json;
        t.tps = 1;
        t.dailyQuota = 2;
      },
    });
    const post = (ref: string) =>
      fetch(`http://127.0.0.1:${h.engine.port}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${h.apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ ref, to: '+4791234567', from: 'Acme', text: 'x' }) });
    // The bucket holds one second's tokens (1): the second submit at once is THROTTLED.
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await post(`t${i}`));
    const throttled = answers.find((r) => r.status === 429);
    expect(throttled, 'a THROTTLED answer').toBeDefined();
    const tb = (await (throttled as Response).json()) as { code: string; details: { ref: string; retryAfterSec: number } };
    expect(tb.code).toBe('THROTTLED');
    expect((throttled as Response).headers.get('retry-after')).toBe('1');
    expect(tb.details.retryAfterSec).toBe(1);
    // Two accepted use the quota: the next, once a token is back, is QUOTA_EXCEEDED with the seconds to midnight UTC.
    let quota: Response | undefined;
    await waitFor(async () => {
      const r = await post('q');
      if (r.status === 202) return false;
      const b = (await r.clone().json()) as { code: string };
      if (b.code !== 'QUOTA_EXCEEDED') return false;
      quota = r;
      return true;
    }, 20_000, 'QUOTA_EXCEEDED');
    const toMidnight = Math.ceil((86_400_000 - (Date.now() % 86_400_000)) / 1000);
    const retry = Number((quota as Response).headers.get('retry-after'));
    expect(retry).toBeGreaterThan(toMidnight - 60);
    expect(retry).toBeLessThanOrEqual(toMidnight + 1);
    expect(((await (quota as Response).json()) as { details: { retryAfterSec: number } }).details.retryAfterSec).toBe(retry);
  });
});
