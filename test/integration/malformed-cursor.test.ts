/**
 * A malformed cursor (issue 11): anything a client gives that becomes a Redis
 * stream id (`since` on /v1/ws, `after` of the held list) or a page cursor
 * (GET /v1/messages) is refused 400 BAD_REQUEST with a clear text; it was a
 * 503 UNAVAILABLE carrying Redis's error ("ERR Invalid stream ID ...").
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { harnessSession } from '../helpers/harness-session.js';

const session = harnessSession();
const ADMIN = 'malformed-cursor-admin-key';

async function get(port: number, path: string, key: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The HTTP status of a WebSocket upgrade refused before it happens (or 101). */
async function upgradeStatus(url: string, key: string): Promise<number> {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${key}` } });
  return await new Promise<number>((ok) => {
    ws.once('open', () => {
      ws.close();
      ok(101);
    });
    ws.once('unexpected-response', (_req, res) => ok(res.statusCode ?? 0));
    ws.once('error', () => ok(0));
  });
}

describe('malformed cursors', () => {
  it('a malformed cursor was a 503 with Redis error text: it is 400 BAD_REQUEST', async () => {
    const h = await session.start({ smscs: 1, env: { SWITCHYARD_ADMIN_KEY: ADMIN } });
    const port = h.engine.port;
    const bad = [
      '/v1/admin/held?tenant=acme&after=abc',
      '/v1/admin/held?tenant=acme&after=1-2-3',
      '/v1/admin/held?tenant=acme&after=99999999999999999999999-0',
      '/v1/admin/held?after=acme:abc',
      '/v1/admin/held?after=nobody:1-0',
      '/v1/admin/held?after=1-0',
      // the stream id alone was the cursor before the hold streams were sharded
      '/v1/admin/held?tenant=acme&after=1732290000000-0',
      '/v1/admin/held?tenant=acme&after=1732290000000-0.x',
    ];
    for (const path of bad) {
      const r = await get(port, path, ADMIN);
      expect({ path, status: r.status, code: r.body.code }).toEqual({ path, status: 400, code: 'BAD_REQUEST' });
      expect(String(r.body.message)).toContain('"after"');
      expect(String(r.body.message)).not.toMatch(/ERR|stream ID/);
    }
    // the cursors it gives out still work
    for (const path of ['/v1/admin/held?tenant=acme&after=1732290000000-0.3', '/v1/admin/held?after=acme:', '/v1/admin/held?after=acme:1732290000000-0.0']) {
      expect((await get(port, path, ADMIN)).status).toBe(200);
    }
    const list = await get(port, '/v1/messages?cursor=%25%25not-a-cursor', h.apiKey);
    expect(list).toMatchObject({ status: 400, body: { code: 'BAD_REQUEST' } });
    for (const since of ['abc', '1-2-3', '99999999999999999999-0', '-1-0']) {
      expect(await upgradeStatus(`${h.wsUrl}?since=${encodeURIComponent(since)}`, h.apiKey)).toBe(400);
    }
    expect(await upgradeStatus(`${h.wsUrl}?since=1732290000000-0`, h.apiKey)).toBe(101);
  });
});
