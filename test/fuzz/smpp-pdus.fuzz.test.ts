/**
 * SMPP fuzz: a raw-socket SMSC (test/helpers/raw-smsc.ts, not the engine's
 * SMPP classes) sends the engine valid, truncated, oversized, unknown-id and
 * out-of-place PDUs, random bodies, and floods. Asserted: no actor crash, no
 * deaf session (every case is followed by an enquire_link that must be
 * answered, on the same session or, where the case must end it, on the
 * engine's next bind), bounded RSS, every refusal with the right
 * command_status, and a normal message delivered afterwards. Seeded and
 * bounded (a few hundred cases, two floods; well under a minute).
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
import { RawSmsc, type RawSession } from '../helpers/raw-smsc.js';
import { cstr, dataSm, deliverSm, header, Id, pdu, receiptDeliverSm, TAG, tlv } from '../helpers/raw-smpp.js';
import { startRawEngine, type RawEngine } from '../helpers/raw-engine.js';
import { connectClient, type TestClient } from '../helpers/ws-client.js';
import { waitFor } from '../helpers/wait-for.js';
import { prng as rng } from '../../engine/prng.js';

let smsc: RawSmsc | undefined;
let e: RawEngine | undefined;
let client: TestClient | undefined;
afterAll(async () => {
  await client?.close();
  await e?.stop();
  await smsc?.stop();
});

type Field = { kind: 'cstr'; status: number; bytes: Buffer } | { kind: 'u8'; bytes: Buffer } | { kind: 'sm'; bytes: Buffer } | { kind: 'tlv'; bytes: Buffer };

/** A receipt deliver_sm as a list of fields, so that a cut can be judged by the field it falls in. */
function receiptFields(id: string): Field[] {
  const text = Buffer.from(`id:${id} sub:001 dlvrd:001 submit date:2612011200 done date:2612011201 stat:DELIVRD err:000 text:`, 'latin1');
  const u8 = (n: number): Field => ({ kind: 'u8', bytes: Buffer.from([n]) });
  return [
    { kind: 'cstr', status: 0x15, bytes: cstr('') }, u8(1), u8(1), { kind: 'cstr', status: 0x0a, bytes: cstr('4791234567') },
    u8(5), u8(0), { kind: 'cstr', status: 0x0b, bytes: cstr('Acme') }, u8(0x04), u8(0), u8(0),
    { kind: 'cstr', status: 0x61, bytes: cstr('') }, { kind: 'cstr', status: 0x62, bytes: cstr('') },
    u8(0), u8(0), u8(0), u8(0), u8(text.length), { kind: 'sm', bytes: text },
    { kind: 'tlv', bytes: tlv(TAG.receipted_message_id, cstr(id)) }, { kind: 'tlv', bytes: tlv(TAG.message_state, Buffer.from([2])) },
  ];
}

/** The body cut after `k` octets, and the status SMPP 3.4 gives that fault (0: what is left is a valid PDU). */
function cut(fields: Field[], k: number): { body: Buffer; status: number } {
  const body = Buffer.concat(fields.map((f) => f.bytes)).subarray(0, k);
  let start = 0;
  for (const f of fields) {
    const end = start + f.bytes.length;
    if (k < end) {
      if (f.kind === 'cstr') return { body, status: f.status }; // its NUL is gone
      if (f.kind === 'u8') return { body, status: 0x02 }; // the body is shorter than its fixed fields
      if (f.kind === 'sm') return { body, status: 0x01 }; // sm_length runs past the end
      return { body, status: k === start ? 0 : 0xc0 }; // a TLV boundary is a valid end; a piece of a TLV is not
    }
    start = end;
  }
  return { body, status: 0 };
}

describe('SMPP fuzz', () => {
  it('valid, truncated, oversized, unknown, out-of-place PDUs, random bodies and floods: no crash, no deaf session, bounded RSS, right statuses, then a message goes through', async () => {
    const rand = rng(0x5eed);
    // Set to have the next bind_resp come AFTER these PDUs (wrong order).
    let beforeNextBindResp: Buffer | undefined;
    smsc = new RawSmsc({
      deliverWindow: 10,
      onFrame: (x, f) => {
        const h = header(f);
        if (h.id !== Id.bind_transceiver || beforeNextBindResp === undefined) return false;
        x.bound = true;
        s.stats.binds++;
        x.write(Buffer.concat([beforeNextBindResp, pdu(0x80000009, 0, h.sequence, cstr('RAW'))]));
        beforeNextBindResp = undefined;
        return true;
      },
    });
    await smsc.start();
    const s = smsc;
    const logs: string[] = [];
    e = await startRawEngine({ redisUrl: inject('redisUrl'), smscs: [{ port: s.port, extra: { responseTimeoutMs: 2000, reconnectMs: { min: 50, max: 400 } } }], log: (_l, m) => logs.push(m) });
    const eng = e;
    await eng.bound();
    const crashes: string[] = [];
    eng.engine.supervisor.on('crash', (smscId: string) => crashes.push(smscId));

    let seq = 1_000_000;
    const session = async (): Promise<RawSession> => {
      let found: RawSession | undefined;
      await waitFor(() => {
        found = [...s.sessions].find((x) => x.bound && !x.sock.destroyed);
        return found !== undefined;
      }, 15_000, 'a bound session');
      return found as RawSession;
    };
    const answer = async (x: RawSession, sequence: number) => {
      let f: Buffer | undefined;
      await waitFor(() => (f = x.frames.find((fr) => header(fr).sequence === sequence && (header(fr).id & 0x80000000) !== 0)) !== undefined, 10_000, `the answer to ${sequence}`);
      return header(f as Buffer);
    };
    /** The session (or, if the case ended it, the next one) still answers. */
    const alive = async () => {
      const x = await session();
      const q = ++seq;
      x.write(pdu(Id.enquire_link, 0, q));
      expect(await answer(x, q)).toEqual({ id: Id.enquire_link_resp, status: 0, sequence: q });
    };
    const expectAnswer = async (build: (q: number) => Buffer, id: number, status: number) => {
      const x = await session();
      const q = ++seq;
      x.write(build(q));
      expect(await answer(x, q)).toEqual({ id: id >>> 0, status, sequence: q });
    };
    const rssStart = process.memoryUsage().rss;
    let rssMax = rssStart;
    const sampler = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage().rss)), 20);

    try {
      // 1. Valid: receipts (matching nothing) and MO, as deliver_sm and data_sm.
      for (let i = 0; i < 20; i++) {
        await expectAnswer((q) => receiptDeliverSm(q, { id: `Z${i}`, stat: 'DELIVRD', source: 'Acme', dest: '4791234567' }), Id.deliver_sm_resp, 0);
        await expectAnswer((q) => deliverSm(q, { source: `4791${String(300000 + i)}`, dest: '2222', esmClass: 0, shortMessage: Buffer.from(`fuzz ${i}`) }), Id.deliver_sm_resp, 0);
        await expectAnswer((q) => dataSm(q, { source: 'Acme', dest: '4791234567', esmClass: 0x04, tlvs: Buffer.concat([tlv(TAG.receipted_message_id, cstr(`Y${i}`)), tlv(TAG.message_state, Buffer.from([5]))]) }), Id.data_sm_resp, 0);
      }
      // 2. Truncated at every kind of place: the status names the field that broke.
      const fields = receiptFields('T1');
      const total = fields.reduce((n, f) => n + f.bytes.length, 0);
      const cuts = new Set<number>([0, 1, 2, 3, 12, 13, 20, 22, total - 9, total - 8, total - 7, total - 5, total - 1]);
      while (cuts.size < 60) cuts.add(Math.floor(rand() * total));
      for (const k of cuts) {
        const c = cut(fields, k);
        await expectAnswer((q) => pdu(Id.deliver_sm, 0, q, c.body), Id.deliver_sm_resp, c.status);
      }
      await alive();
      // 3. Oversized fields and TLVs.
      await expectAnswer((q) => deliverSm(q, { source: '4'.repeat(30), dest: '2222', esmClass: 0, shortMessage: Buffer.from('x') }), Id.deliver_sm_resp, 0x0a);
      await expectAnswer((q) => deliverSm(q, { source: '4791234567', dest: '2'.repeat(25), esmClass: 0, shortMessage: Buffer.from('x') }), Id.deliver_sm_resp, 0x0b);
      await expectAnswer((q) => {
        const b = receiptDeliverSm(q, { id: 'O1', stat: 'DELIVRD', source: 'Acme', dest: '4791234567' });
        b.writeUInt16BE(0xffff, b.length - 3); // message_state TLV claims 65535 octets
        return b;
      }, Id.deliver_sm_resp, 0xc0);
      // 4. Unknown command ids, and requests an SMSC may not make.
      for (let i = 0; i < 30; i++) {
        let id = 0;
        do id = Math.floor(rand() * 0x7fffffff);
        while ([1, 2, 3, 4, 5, 6, 7, 8, 9, 0x0b, 0x15, 0x21, 0x102, 0x103].includes(id));
        await expectAnswer((q) => pdu(id, 0, q, Buffer.alloc(Math.floor(rand() * 40), 0x41)), Id.generic_nack, 0x03);
      }
      await expectAnswer((q) => pdu(Id.bind_transceiver, 0, q, Buffer.concat([cstr('x'), cstr('y'), cstr(''), Buffer.from([0x34, 0, 0]), cstr('')])), 0x80000009, 0x05);
      await expectAnswer((q) => pdu(Id.bind_receiver, 0, q), 0x80000001, 0x05);
      await expectAnswer((q) => pdu(Id.bind_transmitter, 0, q), 0x80000002, 0x05);
      await expectAnswer((q) => pdu(Id.submit_sm, 0, q), 0x80000004, 0x03);
      await expectAnswer((q) => pdu(Id.submit_multi, 0, q), 0x80000021, 0x03);
      await expectAnswer((q) => pdu(Id.query_sm, 0, q, Buffer.concat([cstr('1'), Buffer.from([0, 0]), cstr('')])), 0x80000003, 0x03);
      await expectAnswer((q) => pdu(Id.cancel_sm, 0, q), 0x80000008, 0x03);
      await expectAnswer((q) => pdu(Id.replace_sm, 0, q), 0x80000007, 0x03);
      await expectAnswer((q) => pdu(Id.outbind, 0, q, Buffer.concat([cstr('x'), cstr('')])), Id.generic_nack, 0x03);
      // 5. Wrong order: responses nobody asked for, alert_notification (no response exists): ignored, the session lives.
      const x = await session();
      x.write(Buffer.concat([pdu(Id.submit_sm_resp, 0, 424242, cstr('ZZ')), pdu(Id.deliver_sm_resp, 0, 434343), pdu(Id.unbind_resp, 0, 444444), pdu(Id.alert_notification, 0, 454545)]));
      await alive();
      expect(x.frames.filter((f) => [424242, 434343, 444444, 454545].includes(header(f).sequence))).toEqual([]);
      // 6. Random bodies for the ids the engine reads: exactly one answer each, of the right kind, and no crash.
      for (let i = 0; i < 100; i++) {
        const id = rand() < 0.5 ? Id.deliver_sm : Id.data_sm;
        const body = Buffer.from(Array.from({ length: Math.floor(rand() * 120) }, () => Math.floor(rand() * 256)));
        const w = await session();
        const q = ++seq;
        w.write(pdu(id, 0, q, body));
        const a = await answer(w, q);
        expect(a.id).toBe((id | 0x80000000) >>> 0);
        expect(w.frames.filter((f) => header(f).sequence === q && (header(f).id & 0x80000000) !== 0)).toHaveLength(1);
      }
      await alive();
      // 7. Framing errors: command_length below 16 or above the engine's bound: generic_nack 0x02, the session ends, the engine binds again.
      // 8. ...and the next bind gets a deliver_sm BEFORE its bind_resp (wrong order): answered once the bind completes.
      for (const len of [8, 15, 70_000, 0x7fffffff]) {
        const w = await session();
        const bindsBefore = s.stats.binds;
        const q = ++seq;
        const bad = pdu(Id.deliver_sm, 0, q, Buffer.alloc(8));
        bad.writeUInt32BE(len, 0);
        const early = ++seq;
        beforeNextBindResp = receiptDeliverSm(early, { id: `E${len}`, stat: 'DELIVRD', source: 'Acme', dest: '4791234567' });
        w.write(bad);
        expect(await answer(w, q)).toEqual({ id: Id.generic_nack, status: 0x02, sequence: q });
        await waitFor(() => w.sock.destroyed || w.sock.readableEnded, 10_000, 'the session closed');
        await waitFor(() => s.stats.binds > bindsBefore, 15_000, 'a new bind');
        expect(await answer(await session(), early)).toEqual({ id: Id.deliver_sm_resp, status: 0, sequence: early });
        await alive();
      }
      // 9. Flood: 20,000 receipts at once, far beyond any window: every one answered, memory bounded.
      const w = await session();
      const first = seq + 1;
      const flood: Buffer[] = [];
      for (let i = 0; i < 20_000; i++) flood.push(receiptDeliverSm(++seq, { id: `FL${i}`, stat: 'DELIVRD', source: 'Acme', dest: '4791234567' }));
      w.write(Buffer.concat(flood));
      await waitFor(() => w.frames.filter((f) => header(f).id === Id.deliver_sm_resp && header(f).sequence >= first).length === 20_000, 40_000, 'every flooded receipt answered');
      expect(new Set(w.frames.filter((f) => header(f).id === Id.deliver_sm_resp && header(f).sequence >= first).map((f) => header(f).status))).toEqual(new Set([0]));
      // 10. Flood of enquire_link from an SMSC that never reads: its output is bounded, it is dropped, and the engine binds again.
      const v = await session();
      const bindsBefore = s.stats.binds;
      v.sock.pause();
      const chunk = Buffer.concat(Array.from({ length: 4096 }, (_, i) => pdu(Id.enquire_link, 0, i + 1)));
      for (let written = 0; !v.sock.destroyed && written < 48 * 1024 * 1024; written += chunk.length) {
        if (!v.sock.write(chunk)) await new Promise<void>((ok) => { v.sock.once('drain', () => ok()); v.sock.once('close', () => ok()); });
      }
      await waitFor(() => v.sock.destroyed, 15_000, 'the non-reading SMSC dropped');
      await waitFor(() => s.stats.binds > bindsBefore, 15_000, 'a new bind');
      await alive();
    } finally {
      clearInterval(sampler);
    }

    // No crash, bounded memory, reasons logged (rate-limited: a handful of lines for hundreds of refusals).
    expect(crashes).toEqual([]);
    expect(eng.engine.supervisor.actorState('smsc-a')?.restarts).toBe(0);
    expect(rssMax - rssStart).toBeLessThan(200 * 1024 * 1024);
    expect(logs.some((m) => m.includes('left') && m.includes('bytes of output unread'))).toBe(true);
    const refusalLines = logs.filter((m) => m.includes('refused a PDU from the SMSC'));
    expect(refusalLines.length).toBeGreaterThan(0);
    expect(refusalLines.length).toBeLessThan(20);

    // A normal message still goes through, receipt and all.
    client = await connectClient(eng.wsUrl, eng.apiKey);
    client.send({ op: 'submit', ref: 'after', to: '+4791234567', from: 'Acme', text: 'after the storm' });
    const ack = await client.next((f) => f.op === 'ack' || f.op === 'nack');
    expect(ack.op).toBe('ack');
    await waitFor(async () => (await eng.statuses([ack.id as string])).get(ack.id as string) === 'delivered', 20_000, 'delivered');
    expect(s.submits.some((x) => x.shortMessage.toString('latin1') === 'after the storm')).toBe(true);
  }, 120_000);
});
