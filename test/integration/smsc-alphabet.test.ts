/**
 * Per-SMSC default alphabet and TON/NPI, end to end and byte by byte: four
 * raw test SMSCs (each logs every submit_sm as it came off the wire), each
 * configured differently; every submit_sm is compared whole with the PDU an
 * independent builder makes of the expected fields (test/helpers/raw-smpp.ts).
 * MO text with data_coding 0 is read in the sending SMSC's alphabet, and
 * failover moves a GSM-7 message only to an SMSC whose alphabet carries it.
 */
import { afterEach, describe, expect, inject, it } from 'vitest';
import { RawSmsc } from '../helpers/raw-smsc.js';
import { cstr, pdu, Id, type RawSubmit } from '../helpers/raw-smpp.js';
import { startRawEngine, type RawEngine } from '../helpers/raw-engine.js';
import { connectClient, type Frame } from '../helpers/ws-client.js';
import { api } from '../helpers/http.js';
import { waitFor } from '../helpers/wait-for.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function smscs(n: number): Promise<RawSmsc[]> {
  const out: RawSmsc[] = [];
  for (let i = 0; i < n; i++) {
    const s = new RawSmsc();
    await s.start();
    cleanups.push(() => s.stop());
    out.push(s);
  }
  return out;
}

/** The submit_sm the engine should have written, built field by field (sequence and validity taken from the one it did write). */
function expectedPdu(got: RawSubmit, f: { srcTon: number; srcNpi: number; src: string; dstTon: number; dstNpi: number; dst: string; esm: number; dc: number; sm: string }): string {
  const validity = got.raw.toString('latin1').match(/(\d{12}000\+)\0/)?.[1] ?? '';
  const sm = Buffer.from(f.sm, 'hex');
  const body = Buffer.concat([
    cstr(''), Buffer.from([f.srcTon, f.srcNpi]), cstr(f.src), Buffer.from([f.dstTon, f.dstNpi]), cstr(f.dst),
    Buffer.from([f.esm, 0, 0]), cstr(''), cstr(validity), Buffer.from([1, 0, f.dc, 0, sm.length]), sm,
  ]);
  return pdu(Id.submit_sm, 0, got.sequence, body).toString('hex');
}

const NO = '+4791234567';
const DE = '+4915112345678';
const FR = '+33612345678';
const GB = '+447911123456';

describe('per-SMSC alphabet and addresses', () => {
  it('regression (every all-digit sender went out 1/1, every text as unpacked GSM with data_coding 0): each SMSC gets its own encoding and TON/NPI, byte by byte', async () => {
    const [a, b, c, d] = (await smscs(4)) as [RawSmsc, RawSmsc, RawSmsc, RawSmsc];
    const e: RawEngine = await startRawEngine({
      redisUrl: inject('redisUrl'),
      smscs: [
        { port: a.port }, // defaults: gsm7, 5/0 3/0 2/1 1/1, destination 1/1
        { port: b.port, extra: { alphabet: 'gsm7-packed', addresses: { shortCodeMaxDigits: 4, shortCode: { ton: 3, npi: 1 } } } },
        { port: c.port, extra: { alphabet: 'latin1', addresses: { destination: { ton: 0, npi: 1 }, national: { ton: 2, npi: 9 } } } },
        { port: d.port, extra: { alphabet: 'ia5', alphabetDataCoding: 0, addresses: { alphanumeric: { ton: 5, npi: 9 } } } },
      ],
    });
    cleanups.push(() => e.stop());
    await e.bound();
    const ws = await connectClient(e.wsUrl, e.apiKey);
    cleanups.push(() => ws.close());
    const items = [
      { ref: 'a1', to: NO, from: 'Acme', text: 'Hé {x}' },
      { ref: 'a2', to: NO, from: '2222', text: 'Hi' },
      { ref: 'a3', to: NO, from: '4790000000', text: 'Hi' },
      { ref: 'a4', to: NO, from: '090000000', text: 'Hi' },
      { ref: 'b1', to: DE, from: 'Acme', text: 'Hé {x}' },
      { ref: 'b2', to: DE, from: '2222', text: 'hello' },
      { ref: 'b3', to: DE, from: '12345', text: 'a'.repeat(200) },
      { ref: 'c1', to: FR, from: 'Acme', text: 'Hé {x}' },
      { ref: 'c2', to: FR, from: '090000000', text: 'ΩΔ' }, // Latin-1 has no Greek: UCS-2
      { ref: 'd1', to: GB, from: 'Acme', text: 'Hi {x}' },
      { ref: 'd2', to: GB, from: '2222', text: 'Hé' }, // ASCII has no é: UCS-2
    ];
    ws.send({ op: 'batch', ref: 'x', items });
    const ack = await ws.next((f) => f.op === 'batch_ack');
    const results = ack.results as Frame[];
    expect(results.map((r) => `${r.ref}:${r.op}:${r.encoding}:${r.parts}`)).toEqual([
      'a1:ack:gsm7:1', 'a2:ack:gsm7:1', 'a3:ack:gsm7:1', 'a4:ack:gsm7:1', 'b1:ack:gsm7:1', 'b2:ack:gsm7:1', 'b3:ack:gsm7:2',
      'c1:ack:gsm7:1', 'c2:ack:ucs2:1', 'd1:ack:gsm7:1', 'd2:ack:ucs2:1',
    ]);
    await waitFor(() => a.submits.length === 4 && b.submits.length === 4 && c.submits.length === 2 && d.submits.length === 2, 20_000, 'every submit at its SMSC');
    const by = (s: RawSmsc, dst: string, src: string, n = 0) => s.submits.filter((x) => x.dest === dst && x.source === src)[n] as RawSubmit;
    const check = (got: RawSubmit, f: Parameters<typeof expectedPdu>[1]) => expect(got.raw.toString('hex')).toBe(expectedPdu(got, f));
    const no = NO.slice(1);
    // A: GSM 03.38 unpacked, data_coding 0; H é space ESC ( x ESC ) — and each sender class its TON/NPI.
    check(by(a, no, 'Acme'), { srcTon: 5, srcNpi: 0, src: 'Acme', dstTon: 1, dstNpi: 1, dst: no, esm: 0, dc: 0, sm: '480520' + '1b28781b29' });
    check(by(a, no, '2222'), { srcTon: 3, srcNpi: 0, src: '2222', dstTon: 1, dstNpi: 1, dst: no, esm: 0, dc: 0, sm: '4869' });
    check(by(a, no, '4790000000'), { srcTon: 1, srcNpi: 1, src: '4790000000', dstTon: 1, dstNpi: 1, dst: no, esm: 0, dc: 0, sm: '4869' });
    check(by(a, no, '090000000'), { srcTon: 2, srcNpi: 1, src: '090000000', dstTon: 1, dstNpi: 1, dst: no, esm: 0, dc: 0, sm: '4869' });
    // B: packed septets; short codes up to 4 digits as 3/1, so 12345 is international.
    const de = DE.slice(1);
    check(by(b, de, 'Acme'), { srcTon: 5, srcNpi: 0, src: 'Acme', dstTon: 1, dstNpi: 1, dst: de, esm: 0, dc: 0, sm: 'c8026883c26f52' });
    check(by(b, de, '2222'), { srcTon: 3, srcNpi: 1, src: '2222', dstTon: 1, dstNpi: 1, dst: de, esm: 0, dc: 0, sm: 'e8329bfd06' });
    const long = [by(b, de, '12345', 0), by(b, de, '12345', 1)];
    expect(long.map((p) => p.shortMessage.length)).toEqual([140, 48]); // 153 septets in 134 octets after the UDH; 47 in 42
    const ref = (long[0] as RawSubmit).shortMessage[3] as number;
    const udh = (seq: number) => `050003${ref.toString(16).padStart(2, '0')}02${seq.toString(16).padStart(2, '0')}`;
    // after the 6-octet UDH, one fill bit: 'a' (0x61) septets shifted by one
    check(long[0] as RawSubmit, { srcTon: 1, srcNpi: 1, src: '12345', dstTon: 1, dstNpi: 1, dst: de, esm: 0x40, dc: 0, sm: udh(1) +
      'c2e170381c0e87c3e170381c0e87c3e170381c0e87c3e170381c0e87c3e170381c0e87c3e170381c0e87c3e170381c0e87c3e170381c0e87c3e170381c0e87c3e170381c0e87c3e170381c0e87c3e170381c0e87c3e170381c0e87c3e170381c0e87c3e170381c0e87c3e170381c0e87c3e170381c0e87c3e170381c0e87c3e170381c0e87c3' });
    check(long[1] as RawSubmit, { srcTon: 1, srcNpi: 1, src: '12345', dstTon: 1, dstNpi: 1, dst: de, esm: 0x40, dc: 0, sm: udh(2) + 'c2e170381c0e87c3e170381c0e87c3e170381c0e87c3e170381c0e87c3e170381c0e87c3e170381c0e03' });
    // C: Latin-1 with data_coding 3; destination 0/1 and national 2/9 as configured; Greek in UCS-2.
    const fr = FR.slice(1);
    check(by(c, fr, 'Acme'), { srcTon: 5, srcNpi: 0, src: 'Acme', dstTon: 0, dstNpi: 1, dst: fr, esm: 0, dc: 3, sm: '48e9207b787d' });
    check(by(c, fr, '090000000'), { srcTon: 2, srcNpi: 9, src: '090000000', dstTon: 0, dstNpi: 1, dst: fr, esm: 0, dc: 8, sm: '03a90394' });
    // D: IA5 sent as data_coding 0 (configured), alphanumeric 5/9; é in UCS-2 (data_coding 8).
    const gb = GB.slice(1);
    check(by(d, gb, 'Acme'), { srcTon: 5, srcNpi: 9, src: 'Acme', dstTon: 1, dstNpi: 1, dst: gb, esm: 0, dc: 0, sm: '4869207b787d' });
    check(by(d, gb, '2222'), { srcTon: 3, srcNpi: 0, src: '2222', dstTon: 1, dstNpi: 1, dst: gb, esm: 0, dc: 8, sm: '004800e9' });
  }, 60_000);

  it('reads MO data_coding 0 in the sending SMSC\'s alphabet', async () => {
    const [a, b, c] = (await smscs(3)) as [RawSmsc, RawSmsc, RawSmsc];
    const e = await startRawEngine({
      redisUrl: inject('redisUrl'),
      smscs: [{ port: a.port }, { port: b.port, extra: { alphabet: 'gsm7-packed' } }, { port: c.port, extra: { alphabet: 'latin1' } }],
    });
    cleanups.push(() => e.stop());
    await e.bound();
    a.queueMo('4791000001', '2222', { octets: Buffer.from('4805', 'hex'), dataCoding: 0 }); // GSM unpacked "Hé"
    b.queueMo('4791000002', '2222', { octets: Buffer.from('e8329bfd06', 'hex'), dataCoding: 0 }); // packed "hello"
    c.queueMo('4791000003', '2222', { octets: Buffer.from('48e9', 'hex'), dataCoding: 0 }); // Latin-1 "Hé"
    c.queueMo('4791000004', '2222', { octets: Buffer.from('004800e9', 'hex'), dataCoding: 8 }); // UCS-2 whatever the default
    await waitFor(() => a.stats.moAnswered + b.stats.moAnswered + c.stats.moAnswered === 4, 20_000, 'every MO answered');
    const mo = await api(e.port, e.env.SWITCHYARD_ADMIN_KEY as string, 'GET', '/v1/admin/mo/unattributed?limit=10');
    const texts = Object.fromEntries((mo.body.items as Array<{ from: string; text: string; smsc: string }>).map((m) => [m.from, `${m.smsc}:${m.text}`]));
    expect(texts).toEqual({ '+4791000001': 'smsc-a:Hé', '+4791000002': 'smsc-b:hello', '+4791000003': 'smsc-c:Hé', '+4791000004': 'smsc-c:Hé' });
  }, 60_000);

  it('failover moves a GSM-7 message only to an SMSC whose alphabet carries its text', async () => {
    const [a, b, c] = (await smscs(3)) as [RawSmsc, RawSmsc, RawSmsc];
    const e = await startRawEngine({
      redisUrl: inject('redisUrl'),
      smscs: [
        { port: a.port, extra: { tps: 1, window: 1 } }, // drains one a second: a backlog waits in its queue
        { port: b.port, extra: { alphabet: 'ia5' } },
        { port: c.port },
      ],
      configOverrides: (raw) => {
        const routing = raw.routing as { failoverAfterSec: number; downAfterMs: number; plans: Array<{ routes: Array<{ network: string; candidates: unknown[] }> }> };
        routing.failoverAfterSec = 1;
        routing.downAfterMs = 300;
        // Norway: smsc-a, then the IA5 smsc-b (cheaper), then smsc-c.
        (routing.plans[0]?.routes.find((r) => r.network === '242') as { candidates: unknown[] }).candidates = [
          { smsc: 'smsc-a', price: 0.03 }, { smsc: 'smsc-b', price: 0.04 }, { smsc: 'smsc-c', price: 0.05 },
        ];
      },
    });
    cleanups.push(() => e.stop());
    await e.bound();
    const ws = await connectClient(e.wsUrl, e.apiKey);
    cleanups.push(() => ws.close());
    const items = Array.from({ length: 20 }, (_, i) => ({ ref: String(i), to: `+4791${String(200000 + i)}`, from: 'Acme', text: i % 2 === 0 ? `plain ${i}` : `accént ${i}` }));
    ws.send({ op: 'batch', ref: 'f', items });
    const ack = await ws.next((f) => f.op === 'batch_ack');
    expect((ack.results as Frame[]).every((r) => r.op === 'ack' && r.encoding === 'gsm7')).toBe(true);
    await a.stop(); // smsc-a goes away with its backlog
    // Everything but what smsc-a's actor had read (its window) moves and is sent.
    await waitFor(() => a.submits.length + e.engine.routing.failoverMoved >= 18 && b.submits.length + c.submits.length === e.engine.routing.failoverMoved, 20_000, 'the backlog moved and sent');
    // Only plain ASCII texts went to the IA5 SMSC (as IA5, data_coding 1); the accented ones to smsc-c, in GSM-7.
    const accented = (x: RawSubmit) => x.shortMessage.includes(0x05); // GSM 'é' is 0x05
    expect(b.submits.length).toBeGreaterThan(0);
    expect(b.submits.map((x) => `${x.dataCoding}:${x.shortMessage.toString('latin1')}`).filter((t) => !/^1:plain \d+$/.test(t))).toEqual([]);
    expect(c.submits.filter(accented).length).toBeGreaterThan(0);
    expect(c.submits.every((x) => x.dataCoding === 0 && accented(x))).toBe(true);
  }, 60_000);
});
