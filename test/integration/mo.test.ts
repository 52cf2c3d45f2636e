/**
 * Mobile-originated messages end to end: the SMSC simulator originates MO
 * deliver_sm over SMPP; the engine decodes them (GSM-7, UCS-2, Latin-1;
 * concatenated by UDH or SAR, or in message_payload), attributes them to the
 * tenant owning the number, records them on the events stream (k = mo) and
 * pushes an `mo` frame to the tenant's connections. A STOP opts the sender
 * out of that tenant's messages (never sent to again, counted at the
 * simulator), a START opts back in. With the state in 4 shards, on a single
 * Redis and on the local Redis Cluster: an MO event goes to the shard of its
 * sender, a concatenated message's parts wait in that shard's slot, an
 * unattributed one in the control slot.
 */
import { describe, expect, it } from 'vitest';
import type { Harness, HarnessOptions } from '../../engine/loadgen/harness.js';
import { connectRedis, type RedisTarget } from '../../engine/redis/connect-redis.js';
import { clusterTarget } from '../helpers/redis-cluster.js';
import { type TestClient } from '../helpers/ws-client.js';
import { harnessSession } from '../helpers/harness-session.js';
import { api } from '../helpers/http.js';
import { waitFor } from '../helpers/wait-for.js';

const OTHER = 'other-key-mo-0123456789';
const ADMIN = 'admin-key-mo-0123456789';
const session = harnessSession();

const targets: Array<[string, () => Partial<HarnessOptions>]> = [
  ['a single Redis', () => ({ shards: 4 })],
  ['the Redis Cluster', () => ({ shards: 4, redis: clusterTarget() as RedisTarget })],
];

async function start(o: Partial<HarnessOptions>): Promise<Harness> {
  return await session.start({
    ...o,
    smscs: 1,
    sim: { capture: true, receiptDelayMs: { min: 0, max: 10 } },
    env: { SY_OTHER_KEY: OTHER, SWITCHYARD_ADMIN_KEY: ADMIN },
    configOverrides: (raw) => {
      const tenants = raw.tenants as Array<Record<string, unknown>>;
      (tenants[0] as Record<string, unknown>).inboundNumbers = ['2222', '+4790000001'];
      tenants.push({ id: 'other', apiKey: { env: 'SY_OTHER_KEY' }, inboundNumbers: ['3333'] });
    },
  });
}

const client = (key: string): Promise<TestClient> => session.client(key);

const moFrames = (c: TestClient) => c.frames.filter((f) => f.op === 'mo');

describe.each(targets)('MO messages on %s', (_name, target) => {
  it('a STOP to the tenant\'s short code opts the sender out: mo frame with optOut, later messages stopped and never sent; START opts back in', async () => {
    const hh = await start(target());
    const c = await client(hh.apiKey);
    const o = await client(OTHER);
    await hh.sims[0]!.sendMo({ from: '+4791000041', to: '2222', text: '  Stop! ' });
    const mo = await c.next((f) => f.op === 'mo');
    expect(mo).toMatchObject({ op: 'mo', from: '+4791000041', to: '2222', text: '  Stop! ', smsc: 'sim-a', optOut: true });
    expect(typeof mo.id).toBe('string');
    expect(typeof mo.eid).toBe('string');
    // On acme's list (source mo), not on other's.
    expect((await api(hh.engine.port, hh.apiKey, 'GET', '/v1/optouts/+4791000041')).body).toMatchObject({ optedOut: true, scope: 'tenant', source: 'mo' });
    expect((await api(hh.engine.port, OTHER, 'GET', '/v1/optouts/+4791000041')).body).toMatchObject({ optedOut: false });
    const r = await api(hh.engine.port, hh.apiKey, 'POST', '/v1/messages', { to: '+4791000041', from: 'Acme', text: 'not to be sent' });
    expect(r.body).toMatchObject({ op: 'ack', status: 'stopped' });
    const sent = await api(hh.engine.port, OTHER, 'POST', '/v1/messages', { to: '+4791000041', from: 'Other', text: 'other tenant may send' });
    expect(sent.body.status).toBe('queued');
    await waitFor(() => hh.sims[0]!.captured.length === 1, 10_000, "other's message at the SMSC");
    expect(hh.sims[0]!.captured[0]!.shortMessage.toString('latin1')).toBe('other tenant may send');
    // Other tenants never see acme's MO messages.
    expect(moFrames(o)).toEqual([]);
    // French, with an accent, also opts out; START opts back in.
    await hh.sims[0]!.sendMo({ from: '+4791000042', to: '+4790000001', text: 'arrêt' });
    await waitFor(() => moFrames(c).length === 2, 10_000, 'second mo');
    expect(moFrames(c)[1]).toMatchObject({ from: '+4791000042', to: '4790000001', optOut: true });
    await hh.sims[0]!.sendMo({ from: '+4791000041', to: '2222', text: 'START' });
    await waitFor(() => moFrames(c).length === 3, 10_000, 'start mo');
    expect(moFrames(c)[2]).toMatchObject({ text: 'START', optOut: false });
    expect((await api(hh.engine.port, hh.apiKey, 'GET', '/v1/optouts/+4791000041')).body.optedOut).toBe(false);
    const again = await api(hh.engine.port, hh.apiKey, 'POST', '/v1/messages', { to: '+4791000041', from: 'Acme', text: 'welcome back' });
    expect(again.body.status).toBe('queued');
    await waitFor(() => hh.sims[0]!.captured.length === 2, 10_000, 'sent after START');
  });

  it('other MO messages are forwarded as mo frames with their text: UCS-2, concatenated by UDH (out of order), SAR and message_payload, Latin-1', async () => {
    const hh = await start(target());
    const c = await client(hh.apiKey);
    const long = 'Hei! Kan jeg flytte timen min til fredag? Jeg kommer ikke på torsdag likevel, beklager så mye. Takk for svar og ha en fin dag videre. Hilsen Kari';
    const ucs = 'Привет! Можно перенести встречу на пятницу? 🙂 Спасибо большое за помощь, до встречи!';
    await hh.sims[0]!.sendMo({ from: '+4791000051', to: '2222', text: 'Hello, is the shop open on Sunday?' });
    await hh.sims[0]!.sendMo({ from: '+4791000051', to: '2222', text: 'Ваш ответ: да 🙂' });
    await hh.sims[0]!.sendMo({ from: '+4791000051', to: '2222', text: long + ' ' + long, reverse: true });
    await hh.sims[0]!.sendMo({ from: '+4791000051', to: '2222', text: ucs, concat: 'sar' });
    await hh.sims[0]!.sendMo({ from: '+4791000051', to: '2222', text: long + ' (payload)', concat: 'payload' });
    await hh.sims[0]!.sendMo({ from: '+4791000051', to: '2222', text: 'Café ouvert?', encoding: 'latin1' });
    await waitFor(() => moFrames(c).length === 6, 10_000, 'six mo frames');
    expect(moFrames(c).map((f) => f.text)).toEqual(['Hello, is the shop open on Sunday?', 'Ваш ответ: да 🙂', long + ' ' + long, ucs, long + ' (payload)', 'Café ouvert?']);
    expect(moFrames(c).every((f) => f.optOut === false && f.from === '+4791000051')).toBe(true);
    // Each is one entry of the events stream of the sender's shard, kind mo, for tenant acme.
    const keys = hh.engine.store.keys;
    const r = connectRedis(hh.target, { connectionName: 'sy-test' });
    const ev = await r.xrange(keys.eventsOf(keys.shards.byHash('4791000051')), '-', '+');
    r.disconnect();
    const mos = ev.map(([, f]) => f).filter((f) => f[f.indexOf('k') + 1] === 'mo');
    expect(mos).toHaveLength(6);
    for (const f of mos) {
      expect(f[f.indexOf('t') + 1]).toBe('acme');
      expect(JSON.parse(f[f.indexOf('f') + 1] as string)).toMatchObject({ op: 'mo', from: '+4791000051', to: '2222', smsc: 'sim-a' });
    }
    // A "stop" inside a sentence is not a keyword.
    await hh.sims[0]!.sendMo({ from: '+4791000052', to: '2222', text: 'stop sending me offers please' });
    await waitFor(() => moFrames(c).length === 7, 10_000, 'seventh');
    expect(moFrames(c)[6]!.optOut).toBe(false);
    expect((await api(hh.engine.port, hh.apiKey, 'GET', '/v1/optouts/+4791000052')).body.optedOut).toBe(false);
  });

  it('an MO to a number no tenant owns reaches no tenant; a STOP to it goes on the global list', async () => {
    const hh = await start(target());
    const c = await client(hh.apiKey);
    await hh.sims[0]!.sendMo({ from: '+4791000061', to: '9999', text: 'hello?' });
    await hh.sims[0]!.sendMo({ from: '+4791000062', to: '9999', text: 'STOP' });
    await hh.sims[0]!.sendMo({ from: '+4791000063', to: '2222', text: 'marker' });
    await waitFor(() => moFrames(c).length === 1, 10_000, 'marker');
    expect(moFrames(c)[0]!.text).toBe('marker');
    expect((await api(hh.engine.port, ADMIN, 'GET', '/v1/admin/optouts/+4791000062')).body).toMatchObject({ optedOut: true, scope: 'global', source: 'mo' });
    const r = connectRedis(hh.target, { connectionName: 'sy-test' });
    expect(await r.xlen(hh.engine.store.keys.control('mou'))).toBe(2);
    r.disconnect();
    // The admin sees them, newest first; tenants cannot.
    const un = await api(hh.engine.port, ADMIN, 'GET', '/v1/admin/mo/unattributed');
    expect(un.body.items).toEqual([expect.objectContaining({ op: 'mo', from: '+4791000062', to: '9999', text: 'STOP', optOut: true }), expect.objectContaining({ text: 'hello?' })]);
    expect((await api(hh.engine.port, hh.apiKey, 'GET', '/v1/admin/mo/unattributed')).status).toBe(401);
  });
});
