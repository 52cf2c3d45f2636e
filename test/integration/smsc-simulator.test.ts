/**
 * The SMSC simulator's own behaviour (the tests and benchmarks rely on it):
 * TPS limit answered 0x58, window violations, the seeded outcome mix,
 * receipts re-sent when their deliver_sm_resp never came, and early receipts
 * (before their submit_sm_resp, which waits for the receipt's answer).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SmscSimulator } from '../../engine/simulator/index.js';
import { SmppConnection, type DeliverSm } from '../../engine/smpp/index.js';
import { waitFor } from '../helpers/wait-for.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup(opts: Partial<ConstructorParameters<typeof SmscSimulator>[0]>, window = 100): Promise<{ sim: SmscSimulator; conn: SmppConnection }> {
  const sim = new SmscSimulator({ systemId: 'sy', password: 'pw', ...opts });
  await sim.start();
  cleanups.push(() => sim.stop());
  const conn = await SmppConnection.bind({ host: '127.0.0.1', port: sim.port, systemId: 'sy', password: 'pw', window, responseTimeoutMs: 5000 });
  cleanups.push(() => conn.destroy());
  return { sim, conn };
}

const sm = (i: number, registeredDelivery = 1) => ({
  sourceAddrTon: 5, sourceAddrNpi: 0, sourceAddr: 'Acme', destAddrTon: 1, destAddrNpi: 1, destinationAddr: '4791234567',
  esmClass: 0, registeredDelivery, dataCoding: 0, validityPeriod: '', shortMessage: Buffer.from('m' + i),
});

function submitAll(conn: SmppConnection, n: number, registeredDelivery = 1): Promise<number[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => new Promise<number>((ok) => {
    conn.submit(sm(i, registeredDelivery), (_e, r) => ok(r?.commandStatus ?? -1));
  })));
}

describe('SmscSimulator', () => {
  it('answers submits beyond its TPS limit with ESME_RTHROTTLED (0x58) and counts them', async () => {
    const { sim, conn } = await setup({ tps: 20 });
    const statuses = await submitAll(conn, 50, 0);
    expect(statuses.filter((s) => s === 0)).toHaveLength(20);
    expect(statuses.filter((s) => s === 0x58)).toHaveLength(30);
    expect(sim.stats.throttled).toBe(30);
    expect(sim.stats.maxSubmitsPerSecond).toBe(20);
  });

  it('counts window violations when a bind has more unanswered requests than allowed', async () => {
    const { sim, conn } = await setup({ window: 5, responseLatencyMs: 20 }, 50);
    const statuses = await submitAll(conn, 12, 0);
    expect(sim.stats.windowViolations).toBe(7);
    expect(statuses.filter((s) => s === 0x58)).toHaveLength(7);
  });

  it('produces the seeded outcome mix as receipts (and rejects at submit)', async () => {
    const { sim, conn } = await setup({ outcomes: { delivered: 50, undelivered: 30, expired: 10, rejected: 10 }, receiptDelayMs: 0, seed: 3 }, 500);
    const receipts: DeliverSm[] = [];
    conn.on('deliver_sm', (d: DeliverSm) => {
      receipts.push(d);
      conn.replyDeliverSm(d.sequence, 0);
    });
    const statuses = await submitAll(conn, 400);
    const rejected = statuses.filter((s) => s === 0x45).length;
    expect(rejected).toBe(sim.stats.outcomes.rejected);
    await waitFor(() => receipts.length === 400 - rejected, 10_000, 'receipts');
    const byStat: Record<string, number> = {};
    for (const r of receipts) {
      const stat = /stat:(\w+)/.exec(r.shortMessage.toString())?.[1] as string;
      byStat[stat] = (byStat[stat] ?? 0) + 1;
    }
    expect(byStat).toEqual({ DELIVRD: sim.stats.outcomes.delivered, UNDELIV: sim.stats.outcomes.undelivered, EXPIRED: sim.stats.outcomes.expired });
    // the mix is roughly as weighted
    expect(sim.stats.outcomes.delivered).toBeGreaterThan(150);
    expect(sim.stats.outcomes.undelivered).toBeGreaterThan(80);
    expect(receipts.every((r) => r.esmClass === 4 && r.receiptedMessageId !== undefined && r.messageState !== undefined)).toBe(true);
  });

  it('re-sends a receipt whose deliver_sm_resp never came, on a new session', async () => {
    const { sim, conn } = await setup({ receiptDelayMs: 0 });
    const first: DeliverSm[] = [];
    conn.on('deliver_sm', (d: DeliverSm) => first.push(d)); // never answered
    await submitAll(conn, 3);
    await waitFor(() => first.length === 3, 5000, 'first receipts');
    conn.destroy();
    const conn2 = await SmppConnection.bind({ host: '127.0.0.1', port: sim.port, systemId: 'sy', password: 'pw', window: 10, responseTimeoutMs: 5000 });
    cleanups.push(() => conn2.destroy());
    const second: DeliverSm[] = [];
    conn2.on('deliver_sm', (d: DeliverSm) => {
      second.push(d);
      conn2.replyDeliverSm(d.sequence, 0);
    });
    await waitFor(() => second.length === 3, 5000, 'receipts again');
    expect(second.map((d) => d.receiptedMessageId).sort()).toEqual(first.map((d) => d.receiptedMessageId).sort());
    await waitFor(() => sim.stats.receiptsAcked === 3, 5000, 'acked');
    expect(sim.stats.receiptsRetried).toBeGreaterThanOrEqual(3);
  });

  it('gives receipt ids in another radix than the submit_sm_resp when asked', async () => {
    const { conn } = await setup({ messageIdFormat: 'hex', receiptIdFormat: 'dec', receiptDelayMs: 0 });
    const receipts: DeliverSm[] = [];
    conn.on('deliver_sm', (d: DeliverSm) => {
      receipts.push(d);
      conn.replyDeliverSm(d.sequence, 0);
    });
    const id = await new Promise<string>((ok) => conn.submit(sm(1), (_e, r) => ok(r?.messageId ?? '')));
    await waitFor(() => receipts.length === 1, 5000, 'receipt');
    expect(id).toMatch(/^[0-9A-F]{10}$/);
    expect(receipts[0]?.receiptedMessageId).toBe(String(parseInt(id, 16)));
  });
  it('sends an early receipt before its submit_sm_resp, and the resp only once the receipt was answered', async () => {
    const { sim, conn } = await setup({ earlyReceipts: 1, receiptDelayMs: 0, responseLatencyMs: 1 });
    const order: string[] = [];
    let answer: (() => void) | undefined;
    conn.on('deliver_sm', (d: DeliverSm) => {
      order.push(`receipt ${d.receiptedMessageId ?? ''}`);
      answer = () => conn.replyDeliverSm(d.sequence, 0);
    });
    const resp = new Promise<string>((ok) => conn.submit(sm(1), (_e, r) => ok(r?.messageId ?? '')));
    void resp.then((id) => order.push(`resp ${id}`));
    await waitFor(() => answer !== undefined, 5000, 'the receipt');
    // Unanswered, the receipt holds its resp back.
    expect(order).toHaveLength(1);
    answer!();
    const id = await resp;
    expect(order).toEqual([`receipt ${id}`, `resp ${id}`]);
    expect(sim.stats.earlyReceipts).toBe(1);
  });
});
