/**
 * The SMPP server ingress end to end: a raw-socket ESME (test/helpers/raw-esme.ts,
 * not the engine's connection class) binds to the engine, submits, and gets
 * its receipts back as deliver_sm from the simulated SMSC's receipts; real
 * Redis (single, and the Redis Cluster for the receipt path), real SMPP over
 * loopback.
 */
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { smppCommand } from '../../engine/smpp-server/smpp-cli.js';
import { randomBytes } from 'node:crypto';
import { startHarness, type Harness, type HarnessOptions } from '../../engine/loadgen/harness.js';
import { outboxKey } from '../../engine/smpp-server/index.js';
import { connectRedis, type RedisClient } from '../../engine/redis/connect-redis.js';
import { RawEsme, udh8, type RawResp } from '../helpers/raw-esme.js';
import { Id, cstr, tlv } from '../helpers/raw-smpp.js';
import { waitFor } from '../helpers/wait-for.js';
import { decodeShortMessage, encodeGsm } from '../../engine/text/index.js';
import { api } from '../helpers/http.js';
import { ShardWorld, targetOf, type Mode } from '../helpers/event-shards.js';

const ACME_PW = 'acme-pw1';
const BETA_PW = 'beta-pw1';
const N = 10_000;

let h: Harness | undefined;
let esmes: RawEsme[] = [];
let redis: RedisClient | undefined;
let world: ShardWorld | undefined;

afterEach(async () => {
  for (const e of esmes) e.close();
  esmes = [];
  await h?.stop();
  h = undefined;
  redis?.disconnect();
  redis = undefined;
  await world?.close();
  world = undefined;
  // Stopping an engine with thousands of messages just finished can take over a minute on a loaded machine.
}, 180_000);

interface Opts {
  readonly mode?: Mode;
  readonly acmeTps?: number;
  readonly server?: Record<string, unknown>;
  readonly harness?: Partial<HarnessOptions>;
}

async function start(o: Opts = {}): Promise<Harness> {
  const mode = o.mode ?? 'single';
  world = mode === 'cluster' ? new ShardWorld('cluster') : undefined;
  const prefix = world?.keys(16).prefix ?? `smpps:${randomBytes(4).toString('hex')}:`;
  h = await startHarness({
    redis: mode === 'single' ? { kind: 'single', url: inject('redisUrl') } : targetOf(mode),
    keyPrefix: prefix,
    smscs: 1,
    binds: 2,
    sim: { receiptDelayMs: { min: 0, max: 5 }, capture: true },
    env: { SY_ACME_SMPP: ACME_PW, SY_BETA_SMPP: BETA_PW, SY_BETA_KEY: 'beta-api-key-0123456789' },
    ...o.harness,
    configOverrides: (raw) => {
      raw.smppServer = { enabled: true, port: 0, maxBinds: 3, responseTimeoutMs: 1000, retryMs: { min: 20, max: 200 }, ...o.server };
      const tenants = raw.tenants as Array<Record<string, unknown>>;
      const acme = tenants[0] as Record<string, unknown>;
      acme.smpp = { systemId: 'acme', password: { env: 'SY_ACME_SMPP' } };
      acme.inboundNumbers = ['4790000001'];
      if (o.acmeTps !== undefined) acme.tps = o.acmeTps;
      tenants.push({ id: 'beta', apiKey: { env: 'SY_BETA_KEY' }, tps: 50_000, smpp: { systemId: 'beta', password: { env: 'SY_BETA_SMPP' }, dataCoding0: 'latin1' } });
    },
  });
  redis = connectRedis(h.target, { connectionName: 'smpp-test' });
  return h;
}

const smppPort = (): number => (h as Harness).engine.smpp.port;

async function esme(mode: 'transmitter' | 'receiver' | 'transceiver', systemId = 'acme', password = ACME_PW): Promise<RawEsme> {
  const e = await RawEsme.bound(smppPort(), mode, systemId, password);
  esmes.push(e);
  return e;
}

/** n submits pipelined `window` at a time; resolves with every resp. */
async function submitMany(e: RawEsme, n: number, window: number, rd = 1, to = (i: number) => `4791${String(i % 1_000_000).padStart(6, '0')}`): Promise<RawResp[]> {
  const out: RawResp[] = new Array<RawResp>(n);
  let next = 0;
  const lane = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await e.submit({ to: to(i), registeredDelivery: rd, shortMessage: Buffer.from(`hello ${i}`, 'latin1') });
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  return out;
}

const outboxLen = async (tenant: string): Promise<number> => Number(await (redis as RedisClient).xlen(outboxKey((h as Harness).config.redis.keyPrefix, tenant)));

describe('SMPP server: binds', () => {
  it('refuses wrong credentials and binds over the cap with 0x0D (the same for each), and submits outside a transmitter bind with 0x04', async () => {
    await start();
    const e = await RawEsme.connect(smppPort());
    esmes.push(e);
    // Before any bind, a submit is refused 0x04 (ESME_RINVBNDSTS).
    expect((await e.submit({ to: '4791000000', shortMessage: Buffer.from('x') })).status).toBe(0x04);
    expect((await e.bind('transceiver', 'acme', 'wrong')).status).toBe(0x0d);
    expect((await e.bind('transceiver', 'nobody', ACME_PW)).status).toBe(0x0d);
    // beta's password does not open acme's account.
    expect((await e.bind('transceiver', 'acme', BETA_PW)).status).toBe(0x0d);
    await waitFor(() => e.closed, 10_000, 'the connection closed after three failed binds');
    const rx = await esme('receiver');
    expect((await rx.submit({ to: '4791000000', shortMessage: Buffer.from('x') })).status).toBe(0x04);
    await esme('transmitter');
    await esme('transceiver');
    // maxBinds 3: the fourth is refused.
    const fourth = await RawEsme.connect(smppPort());
    esmes.push(fourth);
    expect((await fourth.bind('transmitter', 'acme', ACME_PW)).status).toBe(0x0d);
    // Binding twice on one session: 0x05 (ESME_RALYBND).
    expect((await rx.bind('receiver', 'acme', ACME_PW)).status).toBe(0x05);
  });
});

/** Every id got exactly one DELIVRD receipt, with the TLVs and the text naming it. */
function expectOneReceiptEach(rx: RawEsme, ids: ReadonlyArray<string>): void {
  const byId = new Map<string, number>();
  for (const d of rx.deliveries) {
    expect(d.esmClass & 0x04).toBe(0x04);
    expect(d.receipt?.id).toBe(d.receiptedMessageId);
    expect(d.receipt?.stat).toBe('DELIVRD');
    expect(d.messageState).toBe(2);
    byId.set(d.receiptedMessageId as string, (byId.get(d.receiptedMessageId as string) ?? 0) + 1);
  }
  for (const id of ids) expect(byId.get(id)).toBe(1);
  expect(byId.size).toBe(ids.length);
}

describe('SMPP server: submits and receipts', () => {
  it(`${N} submits over a transceiver bind: every submit_sm_resp carries the message id, every message one DELIVRD receipt`, async () => {
    await start();
    const trx = await esme('transceiver');
    const resps = await submitMany(trx, N, 100);
    const ids = resps.map((r) => {
      expect(r.status).toBe(0);
      return r.messageId;
    });
    expect(new Set(ids).size).toBe(N);
    await waitFor(() => trx.deliveries.length >= N, 240_000, `${N} receipts`);
    expectOneReceiptEach(trx, ids);
    // The source of a receipt is the phone, its destination the customer's sender.
    expect(trx.deliveries[0]?.dest).toBe('Acme');
    await waitFor(async () => (await outboxLen('acme')) === 0, 30_000, 'the outbox emptied');
  }, 400_000);

  it(`${N} submits over a transmitter bind, receipts over a separate receiver bind`, async () => {
    await start();
    const rx = await esme('receiver');
    const tx = await esme('transmitter');
    const resps = await submitMany(tx, N, 100);
    const ids = resps.map((r) => r.messageId);
    expect(resps.every((r) => r.status === 0)).toBe(true);
    await waitFor(() => rx.deliveries.length >= N, 240_000, `${N} receipts`);
    expectOneReceiptEach(rx, ids);
    expect(tx.deliveries).toHaveLength(0);
  }, 400_000);
});

/** The text the simulated SMSC got for a destination, its parts put back together. */
function textAt(to: string): { text: string; parts: number } {
  const sim = (h as Harness).sims[0];
  const got = (sim?.captured ?? []).filter((c) => c.destinationAddr === to);
  const decoded = got.map((c) => ({ d: decodeShortMessage(c.shortMessage, c.dataCoding, (c.esmClass & 0x40) !== 0), sar: c.sar }));
  decoded.sort((a, b) => (a.d.concat?.seq ?? a.sar?.seq ?? 0) - (b.d.concat?.seq ?? b.sar?.seq ?? 0));
  return { text: decoded.map((x) => x.d.text).join(''), parts: got.length };
}

describe('SMPP server: encodings and concatenation', () => {
  it('reassembles a UDH multipart GSM-7 message (an escape split over the parts) and a SAR multipart UCS-2 one (a surrogate pair split): one id for every part, one message, a receipt per part that asked (regression: a receipt asked on the first part only was never sent)', async () => {
    await start();
    const trx = await esme('transceiver');
    // GSM-7, unpacked: 152 'a', then '€' (ESC 0x65) whose escape ends part 1, then 60 'b'.
    const gsmText = 'a'.repeat(152) + '€' + 'b'.repeat(60);
    const septets = encodeGsm(gsmText);
    const g1 = trx.submit({ to: '4791100001', registeredDelivery: 1, esmClass: 0x40, shortMessage: Buffer.concat([udh8(42, 2, 1), septets.subarray(0, 153)]) });
    // Part 2 asks for no receipt (as Kannel sends them): the message still gets its one receipt.
    const g2 = trx.submit({ to: '4791100001', registeredDelivery: 0, esmClass: 0x40, shortMessage: Buffer.concat([udh8(42, 2, 2), septets.subarray(153)]) });
    const [r1, r2] = await Promise.all([g1, g2]);
    expect(r1.status).toBe(0);
    expect(r2.messageId).toBe(r1.messageId);
    // UCS-2 with SAR TLVs: 66 'ж', then '😀' (a surrogate pair across the 134-octet boundary), then 'end'.
    const ucsText = 'ж'.repeat(66) + '😀' + 'end';
    const ucs = Buffer.from(ucsText, 'utf16le').swap16();
    const sar = (seq: number) => Buffer.concat([tlv(0x020c, Buffer.from([0x12, 0x34])), tlv(0x020e, Buffer.from([2])), tlv(0x020f, Buffer.from([seq]))]);
    // Sent second part first: order of arrival does not matter.
    const u2 = trx.submit({ to: '4791100002', registeredDelivery: 1, dataCoding: 8, shortMessage: ucs.subarray(134), tlvs: sar(2) });
    const u1 = trx.submit({ to: '4791100002', registeredDelivery: 1, dataCoding: 8, shortMessage: ucs.subarray(0, 134), tlvs: sar(1) });
    const [v2, v1] = await Promise.all([u2, u1]);
    expect(v1.status).toBe(0);
    expect(v2.messageId).toBe(v1.messageId);
    // A receipt per submit_sm that asked for one (each part got the message's id): one for the GSM-7 message, two for the UCS-2 one.
    await waitFor(() => trx.receiptsFor(r1.messageId).length === 1 && trx.receiptsFor(v1.messageId).length === 2, 60_000, 'a receipt per part that asked');
    expect(textAt('4791100001').text).toBe(gsmText);
    expect(textAt('4791100002').text).toBe(ucsText);
    // Tracked and billed as one message each.
    const m = await api((h as Harness).engine.port, (h as Harness).apiKey, 'GET', `/v1/messages/${r1.messageId}`);
    expect(m.body.parts).toBe(2);
    expect(m.body.status).toBe('delivered');
  }, 120_000);

  it('reads data_coding 0 as the tenant declares it (GSM 03.38 or Latin-1), 3, and data_sm with message_payload', async () => {
    await start();
    const acme = await esme('transceiver');
    const beta = await esme('transceiver', 'beta', BETA_PW);
    // acme declares GSM 03.38: 0x1B 0x65 is '€'; beta declares Latin-1: 0xE9 is 'é'.
    expect((await acme.submit({ to: '4791200001', shortMessage: Buffer.from([0x41, 0x1b, 0x65]) })).status).toBe(0);
    expect((await beta.submit({ to: '4791200002', shortMessage: Buffer.from([0x41, 0xe9]) })).status).toBe(0);
    expect((await acme.submit({ to: '4791200003', dataCoding: 3, shortMessage: Buffer.from('Ça va', 'latin1') })).status).toBe(0);
    const long = 'x'.repeat(300);
    const d = await acme.submit({ to: '4791200004', dataSm: true, dataCoding: 3, shortMessage: Buffer.from(long, 'latin1') });
    expect(d.id).toBe(Id.data_sm_resp);
    expect(d.status).toBe(0);
    expect(d.messageId).not.toBe('');
    // Binary data_coding is refused, with the status saying the submit failed.
    expect((await acme.submit({ to: '4791200005', dataCoding: 4, shortMessage: Buffer.from([1, 2, 3]) })).status).toBe(0x45);
    await waitFor(() => textAt('4791200004').parts === 2, 30_000, 'the data_sm message sent in 2 parts');
    expect(textAt('4791200001').text).toBe('A€');
    expect(textAt('4791200002').text).toBe('Aé');
    expect(textAt('4791200003').text).toBe('Ça va');
    expect(textAt('4791200004').text).toBe(long);
  }, 120_000);
});

describe('SMPP server: flow control and bad input', () => {
  it("throttles at the tenant's TPS with 0x58 and the customer's window with 0x58", async () => {
    await start({ acmeTps: 20, server: { window: 10 } });
    const tx = await esme('transmitter');
    const t0 = Date.now();
    const resps = await submitMany(tx, 200, 10, 0);
    const secs = (Date.now() - t0) / 1000;
    const ok = resps.filter((r) => r.status === 0).length;
    const throttled = resps.filter((r) => r.status === 0x58).length;
    expect(ok + throttled).toBe(200);
    expect(throttled).toBeGreaterThan(0);
    // At most the bucket's burst (one second) plus its rate over the time taken.
    expect(ok).toBeLessThanOrEqual(Math.ceil(20 + 20 * secs) + 1);
    // More unanswered submits than the window: the excess gets 0x58 at once. The queue is held
    // behind a concatenated part that waits for its companion, so the window stays full.
    const e = await esme('transmitter');
    const held = Array.from({ length: 10 }, (_, i) => e.submit({ to: '4791300001', esmClass: 0x40, shortMessage: Buffer.concat([udh8(i, 2, 1), Buffer.from('part')]) }));
    const over = await e.submit({ to: '4791300001', shortMessage: Buffer.from('over') });
    expect(over.status).toBe(0x58);
    void held;
  }, 120_000);

  it('answers a malformed PDU mid-stream with generic_nack and the session goes on', async () => {
    await start();
    const trx = await esme('transceiver');
    expect((await trx.submit({ to: '4791400001', registeredDelivery: 1, shortMessage: Buffer.from('before') })).status).toBe(0);
    // A submit_sm whose sm_length runs past the end of the PDU.
    const good = Buffer.concat([cstr(''), Buffer.from([5, 0]), cstr('Acme'), Buffer.from([1, 1]), cstr('4791400002'), Buffer.from([0, 0, 0]), cstr(''), cstr(''), Buffer.from([0, 0, 0, 0, 200]), Buffer.from('short')]);
    const nack = await trx.request(Id.submit_sm, good);
    expect(nack.id).toBe(Id.generic_nack);
    expect(nack.status).toBe(0x01);
    // An unknown command: generic_nack 0x03.
    const unknown = await trx.request(0x00000077);
    expect(unknown.id).toBe(Id.generic_nack);
    expect(unknown.status).toBe(0x03);
    // query_sm is not offered: its own resp with 0x03.
    expect((await trx.request(Id.query_sm, Buffer.concat([cstr('x'), Buffer.from([1, 1]), cstr('1')]))).status).toBe(0x03);
    const after = await trx.submit({ to: '4791400003', registeredDelivery: 1, shortMessage: Buffer.from('after') });
    expect(after.status).toBe(0);
    await waitFor(() => trx.receiptsFor(after.messageId).length === 1, 30_000, 'the receipt after the bad PDUs');
    // enquire_link from the customer is answered.
    expect((await trx.request(Id.enquire_link)).status).toBe(0);
  }, 120_000);

  it('refuses a bad destination with 0x0B and an unknown sender format with 0x0A', async () => {
    await start();
    const tx = await esme('transmitter');
    expect((await tx.submit({ to: '12', shortMessage: Buffer.from('x') })).status).toBe(0x0b);
    expect((await tx.submit({ to: '4791500001', from: 'far-too-long-sender', shortMessage: Buffer.from('x') })).status).toBe(0x0a);
  }, 60_000);
});

describe('SMPP server: receipts wait in Redis', () => {
  it('holds receipts while the tenant has no receiver bind and delivers them in order after the rebind', async () => {
    await start();
    const tx = await esme('transmitter');
    const resps = await submitMany(tx, 300, 50);
    expect(resps.every((r) => r.status === 0)).toBe(true);
    await waitFor(async () => (await outboxLen('acme')) === 300, 60_000, '300 receipts waiting in the outbox');
    const order = ((await (redis as RedisClient).xrange(outboxKey((h as Harness).config.redis.keyPrefix, 'acme'), '-', '+')) as Array<[string, string[]]>).map(([, f]) => (JSON.parse(f[1] as string) as { id: string }).id);
    const rx = await esme('receiver');
    await waitFor(() => rx.deliveries.length >= 300, 60_000, '300 receipts after the bind');
    expect(rx.deliveries.map((d) => d.receiptedMessageId)).toEqual(order);
    await waitFor(async () => (await outboxLen('acme')) === 0, 30_000, 'the outbox emptied');
  }, 120_000);

  it('a customer that never answers deliver_sm: its receipts stay in Redis, nothing lost, other tenants unaffected', async () => {
    await start();
    const deaf = await esme('receiver', 'beta', BETA_PW);
    deaf.answerDeliver = undefined;
    const betaTx = await esme('transmitter', 'beta', BETA_PW);
    const acme = await esme('transceiver');
    const betaIds = (await submitMany(betaTx, 100, 50)).map((r) => r.messageId);
    const acmeIds = (await submitMany(acme, 500, 50)).map((r) => r.messageId);
    await waitFor(() => acme.deliveries.length >= 500, 60_000, "acme's 500 receipts");
    expectOneReceiptEach(acme, acmeIds);
    // beta got at most its window of deliver_sm, unanswered; everything is still in its outbox.
    await waitFor(async () => (await outboxLen('beta')) === 100, 60_000, "beta's 100 receipts in Redis");
    await waitFor(() => ((h as Harness).engine.smpp.outbox('beta')?.retries ?? 0) > 0, 30_000, 'the unanswered deliver_sm timed out and were retried');
    expect(await outboxLen('beta')).toBe(100);
    deaf.close();
    const rx = await esme('receiver', 'beta', BETA_PW);
    await waitFor(() => new Set(rx.deliveries.map((d) => d.receiptedMessageId)).size >= 100, 60_000, "beta's receipts after the rebind");
    expect(new Set(rx.deliveries.map((d) => d.receiptedMessageId))).toEqual(new Set(betaIds));
    await waitFor(async () => (await outboxLen('beta')) === 0, 30_000, "beta's outbox emptied");
  }, 180_000);

  it("MO messages to the tenant's inbound number go out as deliver_sm", async () => {
    await start();
    const rx = await esme('receiver');
    await (h as Harness).sims[0]?.sendMo({ from: '4791234567', to: '4790000001', text: 'Hei fra mobilen' });
    await waitFor(() => rx.deliveries.some((d) => (d.esmClass & 0x04) === 0), 30_000, 'the MO deliver_sm');
    const mo = rx.deliveries.find((d) => (d.esmClass & 0x04) === 0);
    expect(mo?.source).toBe('4791234567');
    expect(mo?.dest).toBe('4790000001');
    expect(mo?.shortMessage.toString('latin1')).toBe('Hei fra mobilen');
  }, 60_000);
});

describe('SMPP server: sessions', () => {
  it('sends enquire_link after silence, unbinds an idle bind, and an admin lists and kicks binds', async () => {
    const ADMIN = 'smpp-admin-key-0123456789';
    await start({ server: { enquireLinkSec: 1, idleTimeoutSec: 4 }, harness: { env: { SY_ACME_SMPP: ACME_PW, SY_BETA_SMPP: BETA_PW, SY_BETA_KEY: 'beta-api-key-0123456789', SWITCHYARD_ADMIN_KEY: ADMIN } } });
    const idle = await esme('transceiver');
    const busy = await esme('transmitter');
    await waitFor(() => idle.enquireLinks > 0, 30_000, "the server's enquire_link");
    const port = (h as Harness).engine.port;
    const list = await api(port, ADMIN, 'GET', '/v1/admin/smpp/binds?tenant=acme');
    const binds = list.body.binds as Array<{ id: string; mode: string; tenant: string }>;
    expect(binds.map((b) => b.mode).sort()).toEqual(['transceiver', 'transmitter']);
    expect((await api(port, (h as Harness).apiKey, 'GET', '/v1/admin/smpp/binds')).status).toBe(401);
    // The idle bind (answers enquire_link, sends nothing) is unbound; the busy one keeps sending enquire_link.
    const keepBusy = setInterval(() => void busy.request(Id.enquire_link), 500);
    try {
      await waitFor(() => idle.others.some((o) => o.id === Id.unbind), 30_000, 'the unbind of the idle bind');
      expect(busy.closed).toBe(false);
    } finally {
      clearInterval(keepBusy);
    }
    const tx = binds.find((b) => b.mode === 'transmitter') as { id: string };
    // The CLI lists and kicks over the same routes.
    const printed: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((x: unknown) => void printed.push(String(x)));
    const prevKey = process.env.SWITCHYARD_ADMIN_KEY;
    process.env.SWITCHYARD_ADMIN_KEY = ADMIN;
    try {
      await smppCommand(['binds', '--url', `http://127.0.0.1:${port}`]);
      expect(printed.join('\n')).toContain(`${tx.id}`);
      expect(printed.join('\n')).toContain('transmitter');
      await smppCommand(['kick', tx.id, '--url', `http://127.0.0.1:${port}`]);
    } finally {
      log.mockRestore();
      if (prevKey === undefined) delete process.env.SWITCHYARD_ADMIN_KEY;
      else process.env.SWITCHYARD_ADMIN_KEY = prevKey;
    }
    await waitFor(() => busy.others.some((o) => o.id === Id.unbind), 30_000, 'the unbind of the kicked bind');
    expect((await api(port, ADMIN, 'POST', '/v1/admin/smpp/binds/b999/kick')).status).toBe(404);
  }, 120_000);
});

describe('SMPP server on the Redis Cluster', () => {
  it('submits and receipts over a transceiver bind', async () => {
    await start({ mode: 'cluster' });
    const trx = await esme('transceiver');
    const ids = (await submitMany(trx, 500, 50)).map((r) => r.messageId);
    await waitFor(() => trx.deliveries.length >= 500, 120_000, '500 receipts');
    expectOneReceiptEach(trx, ids);
  }, 180_000);
});
