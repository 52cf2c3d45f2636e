/**
 * The SMPP server ingress end to end: a raw-socket ESME (test/helpers/raw-esme.ts,
 * not the engine's connection class) binds to the engine, submits, and gets
 * its receipts back as deliver_sm from the simulated SMSC's receipts; real
 * Redis (single, and the Redis Cluster for the receipt path), real SMPP over
 * loopback.
 */
import { afterEach, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startHarness, type Harness, type HarnessOptions } from '../../engine/loadgen/harness.js';
import { outboxKey } from '../../engine/smpp-server/index.js';
import { connectRedis, type RedisClient } from '../../engine/redis/connect-redis.js';
import { RawEsme, udh8, type RawResp } from '../helpers/raw-esme.js';
import { Id, cstr, pdu, tlv } from '../helpers/raw-smpp.js';
import { waitFor } from '../helpers/wait-for.js';
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
});

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
      tenants.push({ id: 'beta', apiKey: { env: 'SY_BETA_KEY' }, tps: 50_000, smpp: { systemId: 'beta', password: { env: 'SY_BETA_SMPP' } } });
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
