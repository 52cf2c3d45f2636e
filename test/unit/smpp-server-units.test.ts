/**
 * The SMPP server's pure parts: reading a customer's submit (encodings, UDH
 * and SAR concatenation, message_payload), SMPP time fields, the receipt
 * marker ref and which statuses a registered_delivery asks for, refusal
 * codes to command_status, reassembly, and the scrypt credential check.
 */
import { describe, expect, it } from 'vitest';
import { decodeBody, isSubmitRefusal, readSubmit } from '../../engine/smpp-server/read-short-message.js';
import { readSmppTime } from '../../engine/smpp-server/smpp-time.js';
import { readSmppRef, smppRef, wantsReceipt } from '../../engine/smpp-server/smpp-ref.js';
import { statusOfRefusal } from '../../engine/smpp-server/smpp-server.js';
import { ConcatBuffer } from '../../engine/smpp-server/concat-buffer.js';
import { ConfigSmppCredentials } from '../../engine/smpp-server/smpp-credentials.js';
import { deliverOf } from '../../engine/smpp-server/receipt-outbox.js';
import { recordOf } from '../../engine/smpp-server/receipt-feed.js';
import type { SubmitSm } from '../../engine/smpp/pdu-codec.js';

const base: SubmitSm = {
  sequence: 1, serviceType: '', sourceAddrTon: 5, sourceAddrNpi: 0, sourceAddr: 'Acme', destAddrTon: 1, destAddrNpi: 1, destinationAddr: '4791234567',
  esmClass: 0, protocolId: 0, priorityFlag: 0, scheduleDeliveryTime: '', validityPeriod: '', registeredDelivery: 1, replaceIfPresent: 0, dataCoding: 0, smDefaultMsgId: 0, shortMessage: Buffer.from('hi'),
};

describe('readSubmit', () => {
  it('reads a UDH concatenation IE (8- and 16-bit) and strips the UDH', () => {
    const r = readSubmit({ ...base, esmClass: 0x40, shortMessage: Buffer.from([5, 0, 3, 9, 2, 1, 0x41]) });
    expect(isSubmitRefusal(r)).toBe(false);
    expect(r).toMatchObject({ concat: { ref: 9, total: 2, seq: 1 }, body: Buffer.from([0x41]) });
    expect(readSubmit({ ...base, esmClass: 0x40, shortMessage: Buffer.from([6, 8, 4, 1, 2, 3, 3, 0x41]) })).toMatchObject({ concat: { ref: 258, total: 3, seq: 3 } });
  });

  it('reads the SAR TLVs and message_payload', () => {
    expect(readSubmit({ ...base, sar: { ref: 7, total: 2, seq: 2 } })).toMatchObject({ concat: { ref: 7, total: 2, seq: 2 } });
    const p = readSubmit({ ...base, shortMessage: Buffer.alloc(0), messagePayload: Buffer.from('long') } as SubmitSm);
    expect(p).toMatchObject({ body: Buffer.from('long') });
  });

  it('refuses what it cannot read with the status naming it', () => {
    expect(readSubmit({ ...base, destinationAddr: '' })).toMatchObject({ status: 0x0b });
    expect(readSubmit({ ...base, sourceAddr: '' })).toMatchObject({ status: 0x0a });
    expect(readSubmit({ ...base, dataCoding: 4 })).toMatchObject({ status: 0x45 });
    expect(readSubmit({ ...base, esmClass: 0x40, shortMessage: Buffer.from([9, 0]) })).toMatchObject({ status: 0x01 });
    expect(readSubmit({ ...base, sar: { ref: 1, total: 2, seq: 3 } })).toMatchObject({ status: 0x01 });
    expect(readSubmit({ ...base, messagePayload: Buffer.from('x') } as SubmitSm)).toMatchObject({ status: 0x01 });
  });

  it('decodes data_coding 0 as the tenant declares, 1 and 3 as Latin-1, 8 as UCS-2', () => {
    expect(decodeBody(Buffer.from([0x1b, 0x65, 0x00]), 0, 'gsm7')).toBe('€@');
    expect(decodeBody(Buffer.from([0xe9]), 0, 'latin1')).toBe('é');
    expect(decodeBody(Buffer.from([0xe9]), 3, 'gsm7')).toBe('é');
    expect(decodeBody(Buffer.from('ok', 'latin1'), 1, 'gsm7')).toBe('ok');
    expect(decodeBody(Buffer.from('жж', 'utf16le').swap16(), 8, 'gsm7')).toBe('жж');
  });
});

describe('readSmppTime', () => {
  const now = Date.UTC(2026, 11, 7, 12, 0, 0);
  it('reads relative and absolute times (with the quarter-hour offset)', () => {
    expect(readSmppTime('', now)).toEqual({ ok: true, ms: undefined });
    expect(readSmppTime('000000010000000R', now)).toEqual({ ok: true, ms: now + 3_600_000 });
    expect(readSmppTime('000001000000000R', now)).toEqual({ ok: true, ms: now + 86_400_000 });
    expect(readSmppTime('261207130000004+', now)).toEqual({ ok: true, ms: Date.UTC(2026, 11, 7, 12, 0, 0) });
    expect(readSmppTime('261207110000004-', now)).toEqual({ ok: true, ms: Date.UTC(2026, 11, 7, 12, 0, 0) });
  });
  it('refuses other shapes', () => {
    expect(readSmppTime('tomorrow', now).ok).toBe(false);
    expect(readSmppTime('261307130000004+', now).ok).toBe(false);
  });
});

describe('receipts wanted', () => {
  it('round-trips the marker ref', () => {
    expect(readSmppRef(smppRef(17, 2, 'Ac:me'))).toEqual({ registeredDelivery: 17, parts: 2, source: 'Ac:me' });
    expect(readSmppRef('smpp1:Acme')).toBeUndefined();
    expect(readSmppRef('client-ref')).toBeUndefined();
    expect(readSmppRef(undefined)).toBeUndefined();
  });
  it('follows registered_delivery: 1 final, 2 failure only, 0x10 intermediate', () => {
    expect(wantsReceipt(1, 'delivered')).toBe(true);
    expect(wantsReceipt(2, 'delivered')).toBe(false);
    expect(wantsReceipt(2, 'undelivered')).toBe(true);
    expect(wantsReceipt(0, 'undelivered')).toBe(false);
    expect(wantsReceipt(1, 'sent')).toBe(false);
    expect(wantsReceipt(0x11, 'sent')).toBe(true);
    expect(wantsReceipt(1, 'queued')).toBe(false);
  });
  it('builds a receipt record from an events entry and its deliver_sm', () => {
    const fields = ['t', 'acme', 'f', JSON.stringify({ op: 'status', id: 'm1', ref: smppRef(1, 3, 'Acme'), status: 'undelivered', at: 1_765_108_800_000, error: { code: '1', text: 'absent' } }), 'x', 'sim|4791234567|2|1765108700000|NO|242|01|0.01|EUR||'];
    const r = recordOf(fields, new Set(['acme']));
    expect(r?.copies).toBe(3);
    expect(r?.record).toMatchObject({ k: 'r', id: 'm1', st: 'undelivered', ph: '4791234567', cu: 'Acme', n: 2, err: '1' });
    expect(recordOf(fields, new Set(['beta']))).toBeUndefined();
    const d = deliverOf(r?.record as NonNullable<typeof r>['record'], 'gsm7');
    expect(d.receiptedMessageId).toBe('m1');
    expect(d.messageState).toBe(5);
    expect(d.esmClass).toBe(0x04);
    expect(d.shortMessage.toString('latin1')).toMatch(/^id:m1 sub:001 dlvrd:000 submit date:\d{10} done date:\d{10} stat:UNDELIV err:001 text:$/);
    // A WebSocket submit's status (no marker) gives the SMPP customer nothing.
    expect(recordOf(['t', 'acme', 'f', JSON.stringify({ op: 'status', id: 'm2', ref: 'r', status: 'delivered', at: 1 })], new Set(['acme']))).toBeUndefined();
  });
  it('puts a long MO text in message_payload, UCS-2 when GSM-7 cannot carry it', () => {
    const d = deliverOf({ k: 'm', id: 'mo1', at: 1, ph: '+4791234567', cu: '4790000001', tx: 'ж'.repeat(200) }, 'gsm7');
    expect(d.dataCoding).toBe(8);
    expect(d.sourceAddr).toBe('4791234567');
    expect((d as { messagePayload?: Buffer }).messagePayload?.length).toBe(400);
  });
});

describe('statusOfRefusal', () => {
  it('maps accept-path codes to command_status', () => {
    expect(statusOfRefusal('THROTTLED', '')).toBe(0x58);
    expect(statusOfRefusal('QUOTA_EXCEEDED', '')).toBe(0x14);
    expect(statusOfRefusal('INVALID_NUMBER', '')).toBe(0x0b);
    expect(statusOfRefusal('NO_ROUTE', '')).toBe(0x0b);
    expect(statusOfRefusal('UNAVAILABLE', '')).toBe(0x08);
    expect(statusOfRefusal('INVALID_FIELD', '"from" must be')).toBe(0x0a);
    expect(statusOfRefusal('INVALID_TEXT', '')).toBe(0x45);
  });
});

describe('ConcatBuffer', () => {
  it('completes when every part came, answers a resent part and times out the rest with 0x45', () => {
    const b = new ConcatBuffer(1000);
    const answers: Array<[string, number]> = [];
    const part = (name: string, at = 0) => ({ body: Buffer.from(name), dataCoding: 0, registeredDelivery: 1, at, answer: (s: number) => answers.push([name, s]) });
    expect(b.add('k', { ref: 1, total: 2, seq: 2 }, part('B')).kind).toBe('held');
    expect(b.add('k', { ref: 1, total: 2, seq: 2 }, part('B2')).kind).toBe('held');
    expect(answers).toEqual([['B', 0x45]]);
    const done = b.add('k', { ref: 1, total: 2, seq: 1 }, part('A'));
    expect(done.kind === 'complete' && done.body.toString()).toBe('AB2');
    expect(b.add('j', { ref: 2, total: 3, seq: 1 }, part('X', 0)).kind).toBe('held');
    expect(b.add('j', { ref: 2, total: 3, seq: 2 }, { ...part('Y', 0), dataCoding: 8 }).kind).toBe('refused');
    expect(b.sweep(999)).toBe(0);
    expect(b.sweep(1000)).toBe(1);
    expect(answers).toContainEqual(['X', 0x45]);
    expect(b.size).toBe(0);
  });
});

describe('ConfigSmppCredentials', () => {
  it('verifies the system_id and password pair and nothing else', async () => {
    const c = await ConfigSmppCredentials.load([{ tenant: 'acme', systemId: 'acme', password: 'secret1', maxBinds: 2, dataCoding0: 'gsm7' }]);
    expect(await c.verify('acme', 'secret1')).toMatchObject({ tenant: 'acme', maxBinds: 2 });
    expect(await c.verify('acme', 'secret2')).toBeUndefined();
    expect(await c.verify('other', 'secret1')).toBeUndefined();
    expect(await c.verify('acme', '')).toBeUndefined();
  });
});
