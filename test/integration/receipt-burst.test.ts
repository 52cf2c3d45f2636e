/**
 * Receipts an SMSC held while the engine was down, flushed the moment the
 * bind succeeds: in the same TCP read as the bind_resp, with MO messages in the
 * same burst, at most `deliverWindow` unanswered per bind. The SMSC is the raw
 * test SMSC (not the project's simulator, which shares the engine's SMPP
 * connection class). After the restart every receipt is applied (the message
 * ends with the status the SMSC reported) and every deliver_sm answered 0.
 */
import { afterEach, describe, expect, inject, it } from 'vitest';
import { RawSmsc, type Stat } from '../helpers/raw-smsc.js';
import { startRawEngine, type RawEngine } from '../helpers/raw-engine.js';
import { connectClient, type Frame, type TestClient } from '../helpers/ws-client.js';
import { api } from '../helpers/http.js';
import { waitFor } from '../helpers/wait-for.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const STATUS: Record<Stat, string> = { DELIVRD: 'delivered', UNDELIV: 'undelivered', EXPIRED: 'expired' };
/** The SMSC's verdict per message, by its text "burst N". */
const outcome = (n: number): Stat => (n % 10 < 7 ? 'DELIVRD' : n % 10 < 9 ? 'UNDELIV' : 'EXPIRED');

describe('receipts and MO flushed with the bind response', () => {
  it('regression (receipts in the same TCP read as the bind response were dropped): after an engine restart every held receipt and MO is applied and answered', async () => {
    const total = 200;
    const mos = 5;
    const smsc = new RawSmsc({ deliverWindow: 20, outcome: (s) => outcome(Number(s.shortMessage.toString('latin1').split(' ')[1])) });
    await smsc.start();
    cleanups.push(() => smsc.stop());
    smsc.pause(); // submits are answered, receipts wait at the SMSC
    const e: RawEngine = await startRawEngine({ redisUrl: inject('redisUrl'), smscs: [{ port: smsc.port, extra: { binds: 2 } }] });
    cleanups.push(() => e.stop());
    await e.bound();
    const c: TestClient = await connectClient(e.wsUrl, e.apiKey);
    cleanups.push(() => c.close());
    c.send({ op: 'batch', ref: 'b', items: Array.from({ length: total }, (_, i) => ({ ref: String(i), to: `+4791${String(100000 + i)}`, from: 'Acme', text: `burst ${i}` })) });
    const ack = await c.next((f) => f.op === 'batch_ack');
    const ids = (ack.results as Frame[]).map((r) => r.id as string);
    expect(ids.filter((id) => typeof id === 'string')).toHaveLength(total);
    await waitFor(() => smsc.submits.length >= total, 20_000, 'every message submitted');
    await waitFor(() => smsc.outboxSize === total, 10_000, 'every receipt waiting at the SMSC');

    // The engine goes down; the SMSC keeps the receipts and gets MO messages for the tenant too.
    await e.stop();
    for (let i = 0; i < mos; i++) smsc.queueMo(`4791000${100 + i}`, '2222', `mo ${i}`);
    smsc.resume();
    await e.restart();

    // The SMSC wrote bind_resp and a window of deliver_sm in one write...
    await waitFor(() => smsc.stats.burstWrites >= 1, 10_000, 'a burst with the bind response');
    expect(smsc.stats.burstDelivers).toBeGreaterThanOrEqual(20);
    // ...and every receipt and MO is answered 0, none left at the SMSC.
    await waitFor(() => smsc.stats.answeredOk === total && smsc.stats.moAnswered === mos, 30_000, 'every deliver_sm answered 0');
    expect(smsc.undelivered).toBe(0);
    expect(smsc.stats.answeredError).toBe(0);
    // Every message ends with the status the SMSC reported.
    await waitFor(async () => [...(await e.statuses(ids)).values()].every((s) => s !== 'sent'), 20_000, 'final statuses');
    const statuses = await e.statuses(ids);
    ids.forEach((id, i) => expect(`${i}:${statuses.get(id)}`).toBe(`${i}:${STATUS[outcome(i)]}`));
    // The MO messages are recorded (unattributed: no tenant lists 2222 here).
    const mo = await api(e.port, e.env.SWITCHYARD_ADMIN_KEY as string, 'GET', '/v1/admin/mo/unattributed?limit=100');
    expect(((mo.body.items as Array<{ text: string }>).map((m) => m.text)).sort()).toEqual(Array.from({ length: mos }, (_, i) => `mo ${i}`).sort());
  }, 90_000);

  it('regression (data_sm from an SMSC got no reply): receipts and MO sent as data_sm are applied and answered data_sm_resp 0', async () => {
    const total = 30;
    const smsc = new RawSmsc({ receiptsAs: 'data_sm', outcome: (s) => outcome(Number(s.shortMessage.toString('latin1').split(' ')[1])) });
    await smsc.start();
    cleanups.push(() => smsc.stop());
    const e = await startRawEngine({ redisUrl: inject('redisUrl'), smscs: [{ port: smsc.port }] });
    cleanups.push(() => e.stop());
    await e.bound();
    const c = await connectClient(e.wsUrl, e.apiKey);
    cleanups.push(() => c.close());
    c.send({ op: 'batch', ref: 'd', items: Array.from({ length: total }, (_, i) => ({ ref: String(i), to: `+4791${String(400000 + i)}`, from: 'Acme', text: `data ${i}` })) });
    const ids = ((await c.next((f) => f.op === 'batch_ack')).results as Frame[]).map((r) => r.id as string);
    smsc.queueDataSmMo('4791000200', '2222', 'Hei på deg');
    await waitFor(() => smsc.stats.answeredOk === total && smsc.stats.moAnswered === 1, 20_000, 'every data_sm answered 0');
    expect(smsc.stats.responses.get(0x80000103)).toBe(total + 1); // data_sm_resp, not deliver_sm_resp
    const statuses = await e.statuses(ids);
    ids.forEach((id, i) => expect(`${i}:${statuses.get(id)}`).toBe(`${i}:${STATUS[outcome(i)]}`));
    const mo = await api(e.port, e.env.SWITCHYARD_ADMIN_KEY as string, 'GET', '/v1/admin/mo/unattributed?limit=10');
    expect((mo.body.items as Array<{ text: string; from: string }>).map((m) => `${m.from}:${m.text}`)).toEqual(['+4791000200:Hei på deg']);
  }, 60_000);
});
