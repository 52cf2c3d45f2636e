/**
 * The one guard around every HTTP route (engine/http/guarded-app.ts), on a
 * real uWebSockets.js server on 127.0.0.1 (port 0): a handler's throw or
 * rejection is answered 400/500 with the error body and logged, never the
 * end of the process; HEAD answers carry no body; a duplicate Content-Length
 * is refused; every registered route is recorded. Then the engine itself:
 * the requests of issue 11 that killed it (`GET /v1/optouts/%`, `DELETE
 * /v1/optouts/%E0%A4%A`, and the admin variants) are answered 400.
 */
import uWS from 'uWebSockets.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guardedApp, type GuardedApp } from '../../engine/http/guarded-app.js';
import { readFileSync } from 'node:fs';
import { secretCheck, sendJson } from '../../engine/http/http-kit.js';
import { harnessSession } from '../helpers/harness-session.js';
import { parseResponses, rawHttp } from '../helpers/raw-http.js';
import { waitFor } from '../helpers/wait-for.js';

let g: GuardedApp;
let listen: uWS.us_listen_socket | undefined;
let port = 0;
const logged: string[] = [];

beforeAll(async () => {
  g = guardedApp(uWS.App(), { log: (_l, m) => logged.push(m), logBurst: 3, logWindowMs: 3_600_000 });
  const app = g.app;
  app.get('/uri', () => {
    decodeURIComponent('%E0%A4%A');
  });
  app.get('/v1/n/:n', () => {
    throw new Error('number route');
  });
  app.get('/throw', () => {
    throw new Error('secret internals /srv/x.ts');
  });
  app.get('/reject', async (res) => {
    res.onAborted(() => undefined);
    await Promise.resolve();
    throw new TypeError('later');
  });
  // Returns without answering and without onAborted: uWS terminates the process unless an abort handler is attached.
  app.get('/forgot-abort', (res) => {
    setTimeout(() => res.cork(() => res.end('late')), 20);
  });
  app.get('/answered-then-threw', (res) => {
    sendJson(res, '200 OK', { ok: true });
    throw new Error('after the answer');
  });
  app.get('/json', (res) => sendJson(res, '200 OK', { hello: 'world' }));
  app.get('/stream', (res) => {
    res.cork(() => {
      res.writeStatus('200 OK').writeHeader('content-type', 'text/csv');
      res.write('a,b\r\n');
      res.end('1,2\r\n');
    });
  });
  app.post('/echo', (res) => {
    let n = 0;
    res.onData((c, last) => {
      n += c.byteLength;
      if (last) sendJson(res, '200 OK', { bytes: n });
    });
  });
  app.ws('/ws', {
    upgrade: () => {
      throw new URIError('bad upgrade');
    },
  });
  app.any('/*', (res) => sendJson(res, '404 Not Found', { op: 'error', code: 'NOT_FOUND', error: 'no such endpoint' }));
  port = await new Promise<number>((ok, fail) =>
    app.listen('127.0.0.1', 0, (t) => {
      if (!t) return fail(new Error('listen failed'));
      listen = t;
      ok(uWS.us_socket_local_port(t));
    }),
  );
});

afterAll(() => {
  if (listen !== undefined) uWS.us_listen_socket_close(listen);
});

const get = (path: string, method = 'GET') => fetch(`http://127.0.0.1:${port}${path}`, { method });

describe('the HTTP route guard', () => {
  it('a handler throwing URIError is answered 400 BAD_REQUEST, any other throw or rejection 500 INTERNAL without internals, and the server goes on', async () => {
    expect((await get('/v1/n/+4791234567')).status).toBe(500);
    const uri = await get('/uri');
    expect(uri.status).toBe(400);
    expect(await uri.json()).toMatchObject({ code: 'BAD_REQUEST' });
    const thrown = await get('/throw');
    expect(thrown.status).toBe(500);
    const body = await thrown.text();
    expect(JSON.parse(body)).toMatchObject({ code: 'INTERNAL' });
    expect(body).not.toMatch(/secret internals|\/srv|at /);
    const rejected = await get('/reject');
    expect(rejected.status).toBe(500);
    expect(await rejected.json()).toMatchObject({ code: 'INTERNAL' });
    // An answered request that throws afterwards keeps its answer.
    const answered = await get('/answered-then-threw');
    expect(answered.status).toBe(200);
    expect(await answered.json()).toEqual({ ok: true });
    expect((await get('/forgot-abort')).status).toBe(200);
    expect(await (await get('/json')).json()).toEqual({ hello: 'world' });
    expect(g.stats.failures).toBe(5);
    expect(logged.some((l) => l.includes('GET "/throw"') && l.includes('secret internals'))).toBe(true);
    // A phone number in a path is not logged whole.
    expect(logged[0]).toContain('GET "/v1/n/+4791…"');
    expect(logged.join('\n')).not.toContain('4791234567');
  });

  it('a WebSocket upgrade that throws is answered 400 like any route', async () => {
    const r = await rawHttp(port, `GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`, 10_000, 1);
    const [res] = parseResponses(r.text);
    expect(res?.status).toBe(400);
    expect(JSON.parse(res?.body ?? '')).toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('logs at most logBurst lines per window about failed requests', async () => {
    const before = logged.length;
    for (let i = 0; i < 10; i++) expect((await get('/throw')).status).toBe(500);
    // 5 failures in the first test, the upgrade's in the second; the burst is 3 per (hour-long) window.
    expect(before).toBe(3);
    expect(logged.length).toBe(3);
  });

  it('HEAD replies carry the headers and Content-Length of the GET, never a body (also for streamed and unknown routes)', async () => {
    // Pipelined: a body after a HEAD reply would be read as the next response.
    const r = await rawHttp(port, 'HEAD /json HTTP/1.1\r\nHost: x\r\n\r\nHEAD /stream HTTP/1.1\r\nHost: x\r\n\r\nHEAD /nowhere HTTP/1.1\r\nHost: x\r\n\r\nGET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(r.closed).toBe(true);
    const [json, stream, nowhere, after] = parseResponses(r.text, [true, true, true, false]);
    expect(json).toMatchObject({ status: 200, headers: { 'content-type': 'application/json', 'content-length': String('{"hello":"world"}'.length) } });
    expect(stream).toMatchObject({ status: 200, headers: { 'content-type': 'text/csv', 'content-length': '10' } });
    expect(nowhere?.status).toBe(404);
    expect(after).toMatchObject({ status: 200, body: '{"hello":"world"}' });
  });

  it('refuses a request with two Content-Length headers (400, connection closed), which uWS alone reads with the first', async () => {
    const r = await rawHttp(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde');
    expect(r.closed).toBe(true);
    const [res] = parseResponses(r.text);
    expect(res?.status).toBe(400);
    expect(JSON.parse(res?.body ?? '')).toMatchObject({ code: 'BAD_REQUEST' });
    expect(res?.body).toContain('Content-Length');
    expect(g.stats.duplicateContentLength).toBe(1);
    // One Content-Length is fine.
    const one = await rawHttp(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nabcde');
    expect(JSON.parse(parseResponses(one.text)[0]?.body ?? '')).toEqual({ bytes: 5 });
  });

  it('records every registered method and pattern, GET patterns also as HEAD', () => {
    const has = (method: string, pattern: string) => g.routes.some((r) => r.method === method && r.pattern === pattern);
    expect(has('get', '/uri') && has('head', '/uri') && has('post', '/echo') && has('ws', '/ws') && has('any', '/*')).toBe(true);
    expect(g.routes.filter((r) => r.method === 'get').length).toBe(g.routes.filter((r) => r.method === 'head').length);
  });
});

const ADMIN = 'admin-key-guard-0123456789';
const session = harnessSession();

describe('the engine behind the guard', () => {
  it('GET /v1/optouts/% and DELETE /v1/optouts/%E0%A4%A killed the process: now 400 INVALID_NUMBER, and the engine goes on', async () => {
    const h = await session.start({ smscs: 1, env: { SWITCHYARD_ADMIN_KEY: ADMIN } });
    const p = h.engine.port;
    const ask = async (method: string, path: string, key: string) => {
      const r = await rawHttp(p, `${method} ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nConnection: close\r\n\r\n`);
      return parseResponses(r.text)[0];
    };
    for (const [method, path, key] of [
      ['GET', '/v1/optouts/%', h.apiKey],
      ['DELETE', '/v1/optouts/%E0%A4%A', h.apiKey],
      ['GET', '/v1/admin/optouts/%', ADMIN],
      ['DELETE', '/v1/admin/optouts/%E0%A4%A', ADMIN],
      ['GET', '/v1/optouts/%FF%FE', h.apiKey],
    ] as const) {
      const res = await ask(method, path, key);
      expect(res?.status, `${method} ${path}`).toBe(400);
      expect(JSON.parse(res?.body ?? '')).toMatchObject({ code: 'INVALID_NUMBER' });
    }
    // Well-formed escapes still work.
    const ok = await ask('GET', '/v1/optouts/%2B4791234567', h.apiKey);
    expect(ok?.status).toBe(200);
    expect(JSON.parse(ok?.body ?? '')).toMatchObject({ number: '+4791234567', optedOut: false });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${p}/healthz`)).status === 200, 5000, 'the engine still answering');
    expect(h.engine.ingress.routes.some((r) => r.method === 'del' && r.pattern === '/v1/optouts/:number')).toBe(true);
  });

  it('the metrics key was compared with !== (its prefix showed in the timing): now hashed and compared in constant time, same answers', async () => {
    const METRICS = 'metrics-key-guard-0123456789';
    const h = await session.start({ smscs: 1, env: { SWITCHYARD_METRICS_KEY: METRICS } });
    const scrape = (auth?: string) => fetch(`http://127.0.0.1:${h.engine.port}/metrics`, auth === undefined ? {} : { headers: { authorization: auth } });
    const ok = await scrape(`Bearer ${METRICS}`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('switchyard_');
    for (const wrong of [undefined, 'Bearer ', `Bearer ${METRICS.slice(0, -1)}`, `Bearer ${METRICS}x`, `Bearer ${'x'.repeat(METRICS.length)}`, METRICS, `Basic ${METRICS}`]) {
      const r = await scrape(wrong);
      expect(r.status, String(wrong)).toBe(401);
      expect(await r.json()).toMatchObject({ code: 'UNAUTHORIZED' });
    }
    expect(readFileSync('engine/engine.ts', 'utf8')).not.toMatch(/!== `Bearer \$\{metricsKey\}`/);
  });
});

describe('secretCheck', () => {
  it('matches only the secret itself, at any length, and nothing when there is no secret', () => {
    const check = secretCheck('s3cret-value');
    expect(check('s3cret-value')).toBe(true);
    for (const other of ['', 's3cret-valu', 's3cret-value ', 'S3cret-value', 'x'.repeat(10_000)]) expect(check(other)).toBe(false);
    expect(secretCheck(undefined)('')).toBe(false);
    expect(secretCheck('')('')).toBe(false);
  });
});
