/**
 * One webhook POST on the wire (loopback HTTP server, no mocks): the exact
 * headers and body bytes a receiver gets, the signature over those bytes
 * (the openssl vector of test/unit/webhook-signature.test.ts), keep-alive,
 * and how every kind of failure is reported.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { postWebhook, type PostRequest } from '../../engine/webhooks/post-webhook.js';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((ok) => (server ? server.close(ok) : ok(undefined)));
  server = undefined;
});

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  remotePort: number;
}

async function serve(answer: (res: ServerResponse, seen: Seen) => void): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks), remotePort: req.socket.remotePort ?? 0 };
      seen.push(s);
      answer(res, s);
    });
  });
  await new Promise<void>((ok) => (server as Server).listen(0, '127.0.0.1', () => ok()));
  const a = server.address();
  return { url: `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}/hooks/sms?x=1`, seen };
}

const BODY = '{"v":1,"tenant":"acme","events":[{"eid":"1700000000000-0","op":"status","id":"m1","ref":"r1","status":"delivered","at":1700000000000}]}';
const req = (url: string, o: Partial<PostRequest> = {}): PostRequest => ({ url, tenant: 'acme', secret: 'whsec_0123456789abcdef', body: BODY, attempt: 1, timeoutMs: 2000, stop: new AbortController().signal, now: 1700000000_456, ...o });

describe('webhook POST', () => {
  it('sends exactly these headers and bytes, signed over what the receiver reads, on a kept-alive connection', async () => {
    const { url, seen } = await serve((res) => res.writeHead(204).end());
    expect(await postWebhook(req(url))).toEqual({ result: 'ok', status: 204 });
    expect(await postWebhook(req(url, { attempt: 3 }))).toEqual({ result: 'ok', status: 204 });
    for (let i = 0; i < 4; i++) await postWebhook(req(url));
    const [a, b] = seen as [Seen, Seen];
    expect(a.method).toBe('POST');
    expect(a.url).toBe('/hooks/sms?x=1');
    expect(a.body.toString('utf8')).toBe(BODY);
    expect(a.headers['content-type']).toBe('application/json');
    expect(a.headers['content-length']).toBe(String(Buffer.byteLength(BODY)));
    expect(a.headers['x-switchyard-timestamp']).toBe('1700000000');
    expect(a.headers['x-switchyard-signature']).toBe('v1=131e09f37f63eeefd6ca997160f1d30829bb4b99ee70cafeb9c4aa8338bb08dd');
    expect(a.headers['x-switchyard-tenant']).toBe('acme');
    expect(a.headers['x-switchyard-attempt']).toBe('1');
    expect(b.headers['x-switchyard-attempt']).toBe('3');
    expect(a.headers['user-agent']).toBe('switchyard-webhooks/1');
    // Kept alive and pooled: one connection for all of them.
    expect(new Set(seen.map((x) => x.remotePort)).size).toBe(1);
  });

  it('reports each failure as a result: refused, too large, throttled with Retry-After, server error, redirect, timeout, connection refused', async () => {
    const answers = [
      (r: ServerResponse) => r.writeHead(400).end('bad'),
      (r: ServerResponse) => r.writeHead(413).end(),
      (r: ServerResponse) => r.writeHead(429, { 'retry-after': '7' }).end(),
      (r: ServerResponse) => r.writeHead(503).end(),
      (r: ServerResponse) => r.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere' }).end(),
      () => undefined, // never answers
    ];
    let i = 0;
    const { url, seen } = await serve((res) => (answers[i++] as (r: ServerResponse) => void)(res));
    expect(await postWebhook(req(url))).toMatchObject({ result: 'refused', status: 400, error: 'HTTP 400' });
    expect(await postWebhook(req(url))).toMatchObject({ result: 'too_large', status: 413 });
    expect(await postWebhook(req(url))).toMatchObject({ result: 'throttled', status: 429, retryAfterMs: 7000 });
    expect(await postWebhook(req(url))).toMatchObject({ result: 'server_error', status: 503 });
    expect(await postWebhook(req(url))).toMatchObject({ result: 'refused', status: 302 });
    expect(seen).toHaveLength(5); // the redirect was not followed
    expect(await postWebhook(req(url, { timeoutMs: 300 }))).toMatchObject({ result: 'timeout', error: 'no answer within 300 ms' });
    server?.closeAllConnections();
    await new Promise((ok) => server?.close(ok));
    server = undefined;
    expect(await postWebhook(req(url))).toMatchObject({ result: 'network', error: 'ECONNREFUSED' });
  });

  it('a pooled connection the receiver closed as we sent is retried once on a fresh one', async () => {
    let n = 0;
    const { url, seen } = await serve((res) => {
      // The second POST finds its kept-alive connection reset without an answer.
      if (++n === 2) res.socket?.destroy();
      else res.writeHead(200).end('ok');
    });
    expect(await postWebhook(req(url))).toEqual({ result: 'ok', status: 200 });
    expect(await postWebhook(req(url))).toEqual({ result: 'ok', status: 200 });
    expect(seen).toHaveLength(3);
    expect((seen[2] as Seen).remotePort).not.toBe((seen[1] as Seen).remotePort);
  });

  it('a stop aborts a POST in flight at once', async () => {
    const { url } = await serve(() => undefined);
    const stop = new AbortController();
    const t0 = Date.now();
    const p = postWebhook(req(url, { stop: stop.signal, timeoutMs: 30_000 }));
    setTimeout(() => stop.abort(), 100);
    expect((await p).result).toBe('network');
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
