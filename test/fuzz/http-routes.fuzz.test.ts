/**
 * HTTP fuzz (issue 11): against a real engine (Redis, SMPP simulator, the
 * analytics process), every route the route guard recorded gets malformed
 * percent-escapes, bad UTF-8, oversized paths, queries, headers and bodies,
 * wrong methods, empty, huge and non-JSON bodies — with the tenant key, the
 * admin key and none. Raw HTTP/1.1 over TCP, so that nothing is cleaned up
 * on the way. Asserted: the engine never dies; every request uWS's parser
 * accepts gets one well-formed HTTP response (HEAD without a body) whose
 * status is one the README documents, whose JSON error code is in the
 * README's error table, whose error body is {code, message, details, docs}
 * (429 and 503 with a Retry-After), and which is never a 500 (a handler that failed) nor
 * a 5xx carrying a stack or Redis/ClickHouse text; RSS stays within a bound;
 * and afterwards a normal message is still accepted and delivered.
 *
 * Deterministic (seeded generator) and bounded: about 3,000 requests, 8 at a
 * time; well under a minute on a loaded 2-core machine.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RouteRecord } from '../../engine/http/guarded-app.js';
import { harnessSession } from '../helpers/harness-session.js';
import { parseResponses, rawHttp } from '../helpers/raw-http.js';
import { waitFor } from '../helpers/wait-for.js';
import { prng as rng } from '../../engine/prng.js';

const ADMIN = 'admin-key-fuzz-0123456789';
const METRICS = 'metrics-key-fuzz-0123456789';
const session = harnessSession();
const dir = mkdtempSync(join(tmpdir(), 'sy-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The error codes of README.md's "Error codes" table: an answer may carry only these. */
function documentedCodes(): Set<string> {
  const readme = readFileSync('README.md', 'utf8');
  const table = readme.slice(readme.indexOf('## Error codes'), readme.indexOf('\n## ', readme.indexOf('## Error codes') + 5));
  return new Set([...table.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1] as string));
}

/** The HTTP error body (README "HTTP API", engine/http/http-kit.ts httpErrorBody): exactly these four fields. */
function isErrorBody(b: unknown): boolean {
  if (b === null || typeof b !== 'object') return false;
  const o = b as Record<string, unknown>;
  return (
    Object.keys(o).sort().join(',') === 'code,details,docs,message' &&
    typeof o.message === 'string' &&
    o.details !== null && typeof o.details === 'object' && !Array.isArray(o.details) &&
    o.docs === `README.md#err-${String(o.code).toLowerCase().replace(/_/g, '-')}`
  );
}

/** HTTP statuses the README documents for the HTTP API. */
const STATUSES = new Set([200, 202, 400, 401, 403, 404, 409, 413, 429, 503]);
/** Text no 5xx may carry: a stack frame, Redis or ClickHouse error text. */
const LEAK = /\bat \S+:\d+|node:internal|ReplyError|\bERR |WRONGTYPE|NOAUTH|NOSCRIPT|ioredis|ClickHouse|Code: \d+|DB::Exception/i;

interface Probe {
  readonly what: string;
  readonly method: string;
  /** Bytes of the request target (latin1: raw bytes allowed). */
  readonly target: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body?: Buffer;
  /** uWS's parser may refuse it without an answer, closing the connection or leaving it to its idle timeout (a request HTTP does not allow, or over its size limits). */
  readonly parserMayRefuse?: boolean;
}

/** A WebSocket upgrade keeps its connection (Connection: Upgrade): read one answer, do not wait for a close. */
const isUpgrade = (p: Probe) => p.headers.some(([k]) => k === 'Upgrade');

function build(p: Probe): Buffer {
  const head = [`${p.method} ${p.target} HTTP/1.1`, 'Host: 127.0.0.1', ...p.headers.map(([k, v]) => `${k}: ${v}`)];
  if (p.body !== undefined && !p.headers.some(([k]) => k.toLowerCase() === 'content-length')) head.push(`Content-Length: ${p.body.length}`);
  if (!isUpgrade(p)) head.push('Connection: close');
  head.push('', '');
  return Buffer.concat([Buffer.from(head.join('\r\n'), 'latin1'), p.body ?? Buffer.alloc(0)]);
}

const WRONG_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'];

function probesFor(routes: ReadonlyArray<RouteRecord>, keys: { tenant: string; admin: string }): Probe[] {
  const rand = rng(11);
  const auths: ReadonlyArray<readonly [string, ReadonlyArray<readonly [string, string]>]> = [
    ['tenant', [['Authorization', `Bearer ${keys.tenant}`]]],
    ['admin', [['Authorization', `Bearer ${keys.admin}`]]],
    ['none', []],
  ];
  // Path segments: malformed escapes, bad UTF-8 (escaped and raw), traversal, oversized, random bytes.
  const randomSegment = () => {
    let s = '';
    const n = 1 + Math.floor(rand() * 40);
    for (let i = 0; i < n; i++) {
      const b = Math.floor(rand() * 256);
      // raw printable bytes, escapes of any byte, or a lone %
      const r = rand();
      s += r < 0.4 && b > 0x20 && b < 0x7f && b !== 0x3f && b !== 0x23 && b !== 0x2f ? String.fromCharCode(b) : r < 0.9 ? '%' + b.toString(16).padStart(2, '0') : '%';
    }
    return s;
  };
  const segments = [
    '%', '%E0%A4%A', '%ZZ', '%00', '%C0%80', '%ED%A0%80', '%FF%FE', '..%2F..%2Fetc%2Fpasswd', '%2B4791234567%0D%0A',
    'x'.repeat(60_000),
    '\xff\xfe\xc0\x80', // raw bytes that are not UTF-8
    ...Array.from({ length: 6 }, randomSegment),
  ];
  const queries = [
    '?key=%&limit=%FF&after=%E0%A4%A&cursor=%%%&since=%ZZ&tenant=%00&by=%&bucket=year&status=%&to=-1&from=x',
    '?from=0', // the costly analytics request of issue 11
    '?limit=99999999999999999999&offset=-1&tenant=acme%00',
    '?cursor=' + 'A'.repeat(60_000),
    '?' + '&a'.repeat(5000),
  ];
  const bodies: ReadonlyArray<readonly [string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['truncated JSON', Buffer.from('{"numbers":[')],
    ['null', Buffer.from('null')],
    ['array', Buffer.from('[]')],
    ['string', Buffer.from('"x"')],
    ['wrong types', Buffer.from('{"numbers":"%","ids":{},"items":[{}],"all":"yes","tenant":["acme"],"reason":7}')],
    ['binary', Buffer.from(Array.from({ length: 1024 }, () => Math.floor(rand() * 256)))],
    ['bad UTF-8', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc0, 0x80, 0xff, 0x22, 0x7d])],
    ['2 MB', Buffer.alloc(2 * 1024 * 1024, 0x41)],
    ['deep nesting', Buffer.from('['.repeat(200_000))],
  ];
  const out: Probe[] = [];
  const fill = (pattern: string, seg: string) => pattern.replace(/:[a-z]+/gi, seg).replace(/\*$/, seg);
  const plain = (pattern: string) => fill(pattern, 'fuzz0');
  for (const r of routes) {
    // A GET pattern's HEAD runs the same handler: HEAD is among the other methods sent to every GET route.
    if (r.method === 'head') continue;
    const method = r.method === 'ws' || r.method === 'any' ? 'GET' : r.method === 'del' ? 'DELETE' : r.method.toUpperCase();
    const hasParam = /[:*]/.test(r.pattern);
    const ws: ReadonlyArray<readonly [string, string]> = r.method === 'ws' ? [['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='], ['Sec-WebSocket-Version', '13']] : [];
    for (const [who, auth] of auths) {
      // Malformed and oversized path parameters (routes without one get them appended).
      for (const seg of segments) {
        const target = hasParam ? fill(r.pattern, seg) : `${r.pattern}/${seg}`;
        out.push({ what: `${r.method} ${r.pattern} path ${JSON.stringify(seg.slice(0, 24))} (${who})`, method, target, headers: [...auth, ...ws], ...(method === 'POST' ? { body: Buffer.from('{}') } : {}) });
      }
      // Malformed queries; a WebSocket upgrade with the tenant key and a valid query would be accepted: its ?since= is always bad here.
      for (const q of queries) {
        if (r.method === 'ws' && who !== 'none' && !q.includes('since=')) continue;
        out.push({ what: `${r.method} ${r.pattern} query ${JSON.stringify(q.slice(0, 30))} (${who})`, method, target: plain(r.pattern) + q, headers: [...auth, ...ws], ...(method === 'POST' ? { body: Buffer.from('{}') } : {}) });
      }
      // Bodies, to routes that read one and to the others.
      if (r.method === 'post' || r.method === 'del' || who === 'admin') {
        for (const [name, body] of bodies) out.push({ what: `${r.method} ${r.pattern} body ${name} (${who})`, method: r.method === 'ws' || r.method === 'get' || r.method === 'any' ? 'POST' : method, target: plain(r.pattern), headers: [...auth, ['Content-Type', 'application/json']], body });
      }
    }
    // Wrong methods (tenant key), oversized and malformed headers (admin key: past the auth checks).
    for (const m of WRONG_METHODS) if (m !== method) out.push({ what: `${m} on ${r.method} ${r.pattern}`, method: m, target: plain(r.pattern), headers: auths[0]?.[1] ?? [], ...(m === 'POST' || m === 'PUT' || m === 'PATCH' ? { body: Buffer.from('{"x":1}') } : {}) });
    const base = plain(r.pattern);
    out.push(
      { what: `${r.method} ${r.pattern} 60 KB Authorization`, method, target: base, headers: [['Authorization', `Bearer ${'k'.repeat(60_000)}`]] },
      { what: `${r.method} ${r.pattern} Authorization %`, method, target: base, headers: [['Authorization', 'Bearer %E0%A4%A'], ['Sec-WebSocket-Protocol', 'switchyard.key.%, x']] },
      { what: `${r.method} ${r.pattern} 60 KB header`, method, target: base, headers: [...(auths[1]?.[1] ?? []), ['X-Junk', 'j'.repeat(60_000)]] },
      { what: `${r.method} ${r.pattern} 400 KB header`, method, target: base, headers: [['X-Junk', 'j'.repeat(400_000)]], parserMayRefuse: true },
      { what: `${r.method} ${r.pattern} duplicate Content-Length`, method: 'POST', target: base, headers: [...(auths[1]?.[1] ?? []), ['Content-Length', '2'], ['Content-Length', '12']], body: Buffer.from('{}GET / HTTP') },
      { what: `${r.method} ${r.pattern} Content-Length and chunked`, method: 'POST', target: base, headers: [['Content-Length', '3'], ['Transfer-Encoding', 'chunked']], body: Buffer.from('3\r\n{}a\r\n0\r\n\r\n'), parserMayRefuse: true },
      { what: `${r.method} ${r.pattern} unknown method`, method: 'BREW', target: base, headers: [], parserMayRefuse: true },
      { what: `${r.method} ${r.pattern} control byte in the target`, method, target: base + '\x01', headers: [], parserMayRefuse: true },
    );
  }
  return out;
}

describe('HTTP fuzz of every registered route', () => {
  it('no request kills the engine, every answer is well-formed and documented, RSS stays bounded, and messages still flow', { timeout: 180_000 }, async () => {
    const h = await session.start({ smscs: 1, analyticsDir: join(dir, 'analytics'), env: { SWITCHYARD_ADMIN_KEY: ADMIN, SWITCHYARD_METRICS_KEY: METRICS } });
    await waitFor(() => h.engine.analytics?.ready === true, 30_000, 'analytics ready');
    const port = h.engine.port;
    const routes = h.engine.ingress.routes;
    // Every feature's routes are there (a route registered around the guard would be missing).
    for (const p of ['/v1/messages', '/v1/optouts/:number', '/v1/admin/optouts/:number', '/v1/analytics/*', '/v1/admin/webhooks/:tenant/dead-letters', '/v1/admin/tenants/:id/pause', '/v1/usage', '/metrics', '/healthz', '/v1/ws', '/*'])
      expect(routes.some((r) => r.pattern === p), p).toBe(true);
    const codes = documentedCodes();
    expect(codes.has('INTERNAL') && codes.has('QUERY_TOO_COSTLY') && codes.has('BAD_REQUEST')).toBe(true);

    const probes = probesFor(routes, { tenant: h.apiKey, admin: ADMIN });
    expect(probes.length).toBeGreaterThan(2000);
    // A bound on the fuzz run's size (about 250 probes a route; the tenant and SMPP admin routes took it past 5,000).
    expect(probes.length).toBeLessThan(8000);
    const rss0 = process.memoryUsage().rss;
    const t0 = Date.now();
    let rssMax = rss0;
    const problems: string[] = [];
    const statuses = new Map<number, number>();
    let refusedByParser = 0;
    let upgraded = 0;
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < probes.length; i = next++) {
        const p = probes[i] as Probe;
        const t1 = Date.now();
        const reply = await rawHttp(port, build(p), p.parserMayRefuse === true ? 1_000 : 20_000, isUpgrade(p) ? 1 : Infinity);
        if (process.env.FUZZ_VERBOSE === '1' && Date.now() - t1 > 500) console.log(`slow: ${Date.now() - t1} ms ${p.what}`);
        if (reply.text === '') {
          if (p.parserMayRefuse === true) refusedByParser++;
          else problems.push(`${p.what}: ${reply.closed ? 'connection closed' : 'connection left open'} without an answer`);
          continue;
        }
        // The analytics feed reads no query parameter: with a valid key it upgrades whatever the query held.
        if (isUpgrade(p) && reply.text.startsWith('HTTP/1.1 101 ')) {
          upgraded++;
          continue;
        }
        if (!reply.closed && !isUpgrade(p)) {
          problems.push(`${p.what}: the answer did not end (connection left open)`);
          continue;
        }
        let res;
        try {
          res = parseResponses(reply.text, [p.method === 'HEAD']);
        } catch (err) {
          problems.push(`${p.what}: malformed response (${(err as Error).message})`);
          continue;
        }
        if (res.length !== 1) {
          problems.push(`${p.what}: ${res.length} responses to one request`);
          continue;
        }
        const r = res[0] as (typeof res)[0];
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (!STATUSES.has(r.status)) problems.push(`${p.what}: undocumented status ${r.status} ${r.body.slice(0, 200)}`);
        if (process.env.FUZZ_VERBOSE === '1' && r.status >= 500) console.log(`5xx: ${p.what}: ${r.status} ${r.body.slice(0, 200)}`);
        if ((r.status === 429 || r.status === 503) && !/^[1-9][0-9]*$/.test(r.headers['retry-after'] ?? '')) problems.push(`${p.what}: ${r.status} without a Retry-After of whole seconds`);
        if (r.status >= 500 && LEAK.test(r.body)) problems.push(`${p.what}: ${r.status} leaks internals: ${r.body.slice(0, 300)}`);
        if ((r.headers['content-type'] ?? '').startsWith('application/json') && r.body !== '') {
          try {
            const b = JSON.parse(r.body) as { code?: unknown };
            // /readyz answers 503 {"status":"not ready"} while an SMSC's binds have not had their first chance (README: Metrics, health and logs).
            const readyz = r.status === 503 && (b as { status?: unknown }).status === 'not ready';
            if (r.status >= 400 && !readyz && (typeof b.code !== 'string' || !codes.has(b.code))) problems.push(`${p.what}: ${r.status} with an undocumented code ${JSON.stringify(b.code)}`);
            // Issue 15: one HTTP error body {code, message, details, docs}, no WebSocket leftovers (op, error, ref).
            if (r.status >= 400 && !readyz && !isErrorBody(b)) problems.push(`${p.what}: ${r.status} body is not {code, message, details, docs}: ${r.body.slice(0, 200)}`);
          } catch {
            problems.push(`${p.what}: a JSON content type with a body that is not JSON: ${r.body.slice(0, 100)}`);
          }
        }
        if (i % 50 === 0) rssMax = Math.max(rssMax, process.memoryUsage().rss);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const took = Date.now() - t0;
    rssMax = Math.max(rssMax, process.memoryUsage().rss);
    expect(problems.slice(0, 30)).toEqual([]);
    // Nothing a handler did went wrong: the guard never had to answer for one.
    expect(h.engine.ingress.guardStats.failures).toBe(0);
    expect(h.engine.ingress.guardStats.duplicateContentLength).toBe(probes.filter((p) => p.what.endsWith('duplicate Content-Length')).length);
    // Upgrades are answered only on the analytics feed, whose queries are not read (the ingress's ?since= is always bad here).
    expect(upgraded).toBeLessThanOrEqual(2 * 5);
    // Only the requests HTTP itself does not allow were cut by the parser.
    expect(refusedByParser).toBeLessThanOrEqual(probes.filter((p) => p.parserMayRefuse === true).length);
    // RSS of the engine's process (it hosts the engine, its HTTP server and the test): bounded however many 2 MB bodies and 60 KB headers came.
    expect(rssMax - rss0).toBeLessThan(256 * 2 ** 20);
    expect(h.engine.analytics?.restarts).toBe(0);
    expect(took).toBeLessThan(120_000);

    // The engine goes on: health, and a normal message accepted and delivered.
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    const c = await session.client();
    c.send({ op: 'submit', ref: 'after-fuzz', to: '+4791234567', from: 'Acme', text: 'still here' });
    const ack = await c.next((f) => f.op === 'ack' || f.op === 'nack');
    expect(ack).toMatchObject({ op: 'ack', ref: 'after-fuzz', status: 'queued' });
    await c.next((f) => f.op === 'status' && f.id === ack.id && f.status === 'delivered', 20_000);
    console.log(`http fuzz: ${probes.length} requests to ${routes.length} routes in ${took} ms; statuses ${JSON.stringify(Object.fromEntries(statuses))}; refused by the parser ${refusedByParser}; upgraded ${upgraded}; RSS +${Math.round((rssMax - rss0) / 2 ** 20)} MB`);
  });
});
