/**
 * Opt-out (STOP) lists end to end: real Redis, the engine, SMPP to simulated
 * SMSCs. Messages to opted-out numbers are acked and end `stopped`
 * (OPTED_OUT) without reaching an SMSC (counted at the simulator), also when
 * the number opts out while they wait in a queue; each tenant sees and
 * manages only its own list; the admin manages the global one; the same
 * operations work as WebSocket ops. What crosses slots (acceptance, queued
 * messages, the race of an opt-out with submits) runs with the state in 4
 * shards on a single Redis and in the default 16 on the local Redis Cluster:
 * an opt-out that answered before a submit was sent stops it at acceptance.
 */
import { describe, expect, it } from 'vitest';
import type { Harness, HarnessOptions } from '../../engine/loadgen/harness.js';
import type { RedisTarget } from '../../engine/redis/connect-redis.js';
import { clusterTarget } from '../helpers/redis-cluster.js';
import { type Frame, type TestClient } from '../helpers/ws-client.js';
import { harnessSession } from '../helpers/harness-session.js';
import { api } from '../helpers/http.js';
import { waitFor } from '../helpers/wait-for.js';

const ADMIN = 'admin-key-optout-0123456789';
const OTHER = 'other-key-optout-0123456789';
const session = harnessSession();

const SINGLE = (): Partial<HarnessOptions> => ({ shards: 4 });
const targets: Array<[string, () => Partial<HarnessOptions>]> = [
  ['a single Redis', SINGLE],
  ['the Redis Cluster (16 shards)', () => ({ redis: clusterTarget() as RedisTarget })],
];

async function start(target: Partial<HarnessOptions> = SINGLE(), sim: Record<string, unknown> = {}): Promise<Harness> {
  return await session.start({
    ...target,
    smscs: 1,
    sim: { capture: true, receiptDelayMs: { min: 0, max: 10 }, ...sim },
    env: { SWITCHYARD_ADMIN_KEY: ADMIN, SY_OTHER_KEY: OTHER },
    configOverrides: (raw) => {
      (raw.tenants as unknown[]).push({ id: 'other', apiKey: { env: 'SY_OTHER_KEY' } });
    },
  });
}

const client = (key: string): Promise<TestClient> => session.client(key);

const sentTo = (hh: Harness, digits: string) => hh.sims.flatMap((s) => s.captured).filter((c) => c.destinationAddr === digits).length;
const finalOf = (c: TestClient, id: string) => c.frames.find((f) => f.op === 'status' && f.id === id && f.status !== 'sent');

describe('opt-out lists', () => {
  it('tenant isolation: each tenant has its own list and cannot see or change another\'s; the admin global list applies to all', async () => {
    const hh = await start();
    const port = hh.engine.port;
    await api(port, OTHER, 'POST', '/v1/optouts', { numbers: ['+4791000011'] });
    // acme does not see other's entry and its messages to that number go out.
    expect((await api(port, hh.apiKey, 'GET', '/v1/optouts/+4791000011')).body).toMatchObject({ optedOut: false, scope: null });
    expect((await api(port, OTHER, 'GET', '/v1/optouts/+4791000011')).body).toMatchObject({ optedOut: true, scope: 'tenant', source: 'api' });
    expect((await api(port, hh.apiKey, 'GET', '/v1/optouts')).body).toMatchObject({ items: [], total: 0 });
    expect((await api(port, hh.apiKey, 'DELETE', '/v1/optouts/+4791000011')).status).toBe(404);
    const a = await api(port, hh.apiKey, 'POST', '/v1/messages', { to: '+4791000011', from: 'Acme', text: 'acme may send' });
    const o = await api(port, OTHER, 'POST', '/v1/messages', { to: '+4791000011', from: 'Other', text: 'other may not' });
    expect(a.body.status).toBe('queued');
    expect(o.body.status).toBe('stopped');
    // Tenants cannot touch the global list; the admin can.
    expect((await api(port, hh.apiKey, 'POST', '/v1/admin/optouts', { numbers: ['+4791000012'] })).status).toBe(401);
    expect((await api(port, ADMIN, 'POST', '/v1/admin/optouts', { numbers: ['+4791000012'] })).body).toMatchObject({ scope: 'global', added: 1 });
    expect((await api(port, hh.apiKey, 'GET', '/v1/optouts/+4791000012')).body).toMatchObject({ optedOut: true, scope: 'global', source: 'admin' });
    expect((await api(port, ADMIN, 'GET', '/v1/admin/optouts?tenant=other')).body).toMatchObject({ total: 1, items: [{ number: '+4791000011' }] });
    const g1 = await api(port, hh.apiKey, 'POST', '/v1/messages', { to: '+4791000012', from: 'Acme', text: 'global' });
    const g2 = await api(port, OTHER, 'POST', '/v1/messages', { to: '+4791000012', from: 'Other', text: 'global' });
    expect([g1.body.status, g2.body.status]).toEqual(['stopped', 'stopped']);
    await waitFor(() => sentTo(hh, '4791000011') === 1, 10_000, "acme's message sent");
    expect(sentTo(hh, '4791000012')).toBe(0);
    // Bad input: a clear code, nothing added.
    const bad = await api(port, hh.apiKey, 'POST', '/v1/optouts', { numbers: ['+4791000013', 'not a number'] });
    expect(bad).toMatchObject({ status: 400, body: { code: 'INVALID_NUMBER' } });
    expect((await api(port, hh.apiKey, 'GET', '/v1/optouts/+4791000013')).body.optedOut).toBe(false);
  });

  it('pagination: 250 numbers in pages of 100, each exactly once, in order', async () => {
    const hh = await start();
    const numbers = Array.from({ length: 250 }, (_, i) => `+47910${String(10000 + i)}`);
    await api(hh.engine.port, hh.apiKey, 'POST', '/v1/optouts', { numbers });
    const seen: string[] = [];
    let after = '';
    for (let page = 0; page < 5; page++) {
      const r = await api(hh.engine.port, hh.apiKey, 'GET', `/v1/optouts?limit=100${after ? `&after=${after}` : ''}`);
      expect(r.body.total).toBe(250);
      seen.push(...(r.body.items as Array<{ number: string }>).map((x) => x.number));
      if (r.body.next === null) break;
      after = r.body.next as string;
    }
    expect(seen).toEqual(numbers);
  });

  it('WebSocket ops: optout_add, optout_check, optout_list, optout_remove', async () => {
    const hh = await start();
    const c = await client(hh.apiKey);
    c.send({ op: 'optout_add', ref: 'a', numbers: ['+4791000031', '+4791000032'] });
    expect(await c.next((f) => f.ref === 'a')).toMatchObject({ op: 'optout_result', added: 2 });
    c.send({ op: 'optout_check', ref: 'c', number: '+4791000031' });
    expect(await c.next((f) => f.ref === 'c')).toMatchObject({ op: 'optout_result', optedOut: true, scope: 'tenant', source: 'api' });
    c.send({ op: 'optout_list', ref: 'l', limit: 1 });
    expect(await c.next((f) => f.ref === 'l')).toMatchObject({ op: 'optout_result', items: [{ number: '+4791000031' }], next: '4791000031', total: 2 });
    c.send({ op: 'optout_remove', ref: 'r', number: '+4791000031' });
    expect(await c.next((f) => f.ref === 'r')).toMatchObject({ op: 'optout_result', removed: 1 });
    c.send({ op: 'optout_add', ref: 'bad', numbers: ['12'] });
    expect(await c.next((f) => f.ref === 'bad')).toMatchObject({ op: 'error', code: 'INVALID_NUMBER' });
    // The other tenant's WS sees nothing of it.
    const o = await client(OTHER);
    o.send({ op: 'optout_check', ref: 'oc', number: '+4791000032' });
    expect(await o.next((f) => f.ref === 'oc')).toMatchObject({ optedOut: false });
  });
});

describe.each(targets)('opt-out across slots on %s', (_name, target) => {
  it('a number on the tenant list is acked, ends stopped (OPTED_OUT) and never reaches the SMSC; others are sent', async () => {
    const hh = await start(target());
    const port = hh.engine.port;
    const add = await api(port, hh.apiKey, 'POST', '/v1/optouts', { numbers: ['+4791000001', '4791000002'] });
    expect(add).toMatchObject({ status: 200, body: { added: 2, numbers: ['+4791000001', '+4791000002'] } });
    // Adding again changes nothing.
    expect((await api(port, hh.apiKey, 'POST', '/v1/optouts', { numbers: ['+4791000001'] })).body.added).toBe(0);
    const c = await client(hh.apiKey);
    c.send({ op: 'batch', ref: 'b', items: [
      { ref: 'x1', to: '+4791000001', from: 'Acme', text: 'to an opted-out number' },
      { ref: 'x2', to: '+4791000002', from: 'Acme', text: 'to another one' },
      { ref: 'ok', to: '+4791000003', from: 'Acme', text: 'to a number that may get it' },
    ] });
    const ack = await c.next((f) => f.op === 'batch_ack');
    const [r1, r2, r3] = ack.results as Frame[];
    expect(r1).toMatchObject({ op: 'ack', status: 'stopped' });
    expect(r2).toMatchObject({ op: 'ack', status: 'stopped' });
    expect(r3).toMatchObject({ op: 'ack', status: 'queued' });
    await waitFor(() => finalOf(c, r3!.id as string)?.status === 'delivered', 10_000, 'delivered');
    await waitFor(() => finalOf(c, r1!.id as string) !== undefined && finalOf(c, r2!.id as string) !== undefined, 10_000, 'stopped frames');
    expect(finalOf(c, r1!.id as string)).toMatchObject({ status: 'stopped', ref: 'x1', error: { code: 'OPTED_OUT' } });
    const look = await api(port, hh.apiKey, 'GET', `/v1/messages/${r1!.id as string}`);
    expect(look.body).toMatchObject({ status: 'stopped', error: { code: 'OPTED_OUT' } });
    expect(sentTo(hh, '4791000001')).toBe(0);
    expect(sentTo(hh, '4791000002')).toBe(0);
    expect(sentTo(hh, '4791000003')).toBe(1);
    // HTTP submit: the same answer.
    const http = await api(port, hh.apiKey, 'POST', '/v1/messages', { to: '+4791000001', from: 'Acme', text: 'over http' });
    expect(http).toMatchObject({ status: 202, body: { op: 'ack', status: 'stopped' } });
    // Removed: it is sent again.
    expect((await api(port, hh.apiKey, 'DELETE', '/v1/optouts/+4791000001')).body).toMatchObject({ removed: 1 });
    expect((await api(port, hh.apiKey, 'DELETE', '/v1/optouts/+4791000001')).status).toBe(404);
    const again = await api(port, hh.apiKey, 'POST', '/v1/messages', { to: '+4791000001', from: 'Acme', text: 'after the removal' });
    expect(again.body).toMatchObject({ status: 'queued' });
    await waitFor(() => sentTo(hh, '4791000001') === 1, 10_000, 'sent after removal');
  });

  it('messages already queued when their number opts out are stopped, not sent', async () => {
    // Binds refused: the messages wait in the queue.
    const hh = await start(target());
    const sim = hh.sims[0]!;
    sim.setRefuseBinds(true);
    sim.dropAllConnections();
    await waitFor(() => sim.boundSessions === 0 && sim.stats.bindRefusals > 0, 10_000, 'binds down');
    const c = await client(hh.apiKey);
    c.send({ op: 'batch', ref: 'b', items: Array.from({ length: 40 }, (_, i) => ({ ref: 'q' + i, to: i % 2 === 0 ? '+4791000021' : '+4791000022', from: 'Acme', text: 'queued ' + i })) });
    const ack = await c.next((f) => f.op === 'batch_ack');
    expect((ack.results as Frame[]).every((r) => r.status === 'queued')).toBe(true);
    await api(hh.engine.port, hh.apiKey, 'POST', '/v1/optouts', { numbers: ['+4791000021'] });
    sim.setRefuseBinds(false);
    const ids = (ack.results as Frame[]).map((r) => r.id as string);
    await waitFor(() => ids.every((id) => finalOf(c, id) !== undefined), 20_000, 'all final');
    const stopped = ids.filter((id) => finalOf(c, id)?.status === 'stopped');
    expect(stopped).toHaveLength(20);
    for (const id of stopped) expect(finalOf(c, id)).toMatchObject({ error: { code: 'OPTED_OUT' } });
    expect(sentTo(hh, '4791000021')).toBe(0);
    expect(sentTo(hh, '4791000022')).toBe(20);
  });

  it('an opt-out that answered before a submit was sent stops it at acceptance, while submits race with it', async () => {
    const hh = await start(target(), { receiptDelayMs: { min: 0, max: 5 } });
    const c = await client(hh.apiKey);
    const port = hh.engine.port;
    for (let round = 0; round < 4; round++) {
      const to = `+47910001${round}0`;
      const sent: Array<{ ref: string; at: number }> = [];
      let answeredAt = Infinity;
      const opt = api(port, hh.apiKey, 'POST', '/v1/optouts', { numbers: [to] }).then((r) => {
        answeredAt = performance.now();
        return r;
      });
      // A submit every 2 ms or so until 20 were sent after the opt-out answered (at most 3,000: the
      // answer waits for the actors' poll, a few hundred ms; the bound leaves 6 s and more on a busy machine).
      for (let i = 0, after = 0; after < 20 && i < 3000; i++) {
        const at = performance.now();
        const ref = `r${round}-${i}`;
        c.send({ op: 'submit', ref, to, from: 'Acme', text: `race ${ref}` });
        sent.push({ ref, at });
        if (at > answeredAt) after++;
        await new Promise((ok) => setTimeout(ok, 2));
      }
      expect((await opt).body).toMatchObject({ added: 1 });
      await waitFor(() => sent.every((x) => c.frames.some((f) => f.op === 'ack' && f.ref === x.ref)), 20_000, 'every ack');
      const ackOf = (ref: string) => c.frames.find((f) => f.op === 'ack' && f.ref === ref) as Frame;
      const late = sent.filter((x) => x.at > answeredAt);
      expect(late.length, 'submits sent after the opt-out answered').toBe(20);
      expect(late.map((x) => ackOf(x.ref).status)).toEqual(late.map(() => 'stopped'));
      // The earlier ones raced with it: each ends final, stopped or delivered (none is lost or left waiting).
      const early = sent.filter((x) => x.at <= answeredAt).map((x) => ackOf(x.ref).id as string);
      await waitFor(() => early.every((id) => finalOf(c, id) !== undefined), 20_000, 'earlier ones final');
      expect(early.every((id) => ['stopped', 'delivered'].includes(finalOf(c, id)?.status as string))).toBe(true);
    }
  });
});
