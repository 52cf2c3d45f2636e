import smpp from 'smpp';
import { describe, expect, it } from 'vitest';
import {
  CommandId, decodeDeliverSm, decodeSubmitSm, decodeSubmitSmResp, encodeDeliverSm, encodeResp, encodeSubmitSm, formatReceiptText,
} from '../../engine/smpp/index.js';
import { parseReceiptText } from '../../engine/actors/receipt.js';
import { errorOf } from '../helpers/error-of.js';

const base = {
  serviceType: '', sourceAddrTon: 5, sourceAddrNpi: 0, sourceAddr: 'Acme', destAddrTon: 1, destAddrNpi: 1,
  destinationAddr: '4791234567', esmClass: 0, protocolId: 0, priorityFlag: 0, scheduleDeliveryTime: '',
  validityPeriod: '261124153000000+', registeredDelivery: 1, replaceIfPresent: 0, dataCoding: 0, smDefaultMsgId: 0,
};

function reference(p: typeof base & { sequence: number; shortMessage: Buffer }): Buffer {
  return new smpp.PDU('submit_sm', {
    sequence_number: p.sequence, service_type: p.serviceType, source_addr_ton: p.sourceAddrTon, source_addr_npi: p.sourceAddrNpi,
    source_addr: p.sourceAddr, dest_addr_ton: p.destAddrTon, dest_addr_npi: p.destAddrNpi, destination_addr: p.destinationAddr,
    esm_class: p.esmClass, protocol_id: p.protocolId, priority_flag: p.priorityFlag, schedule_delivery_time: p.scheduleDeliveryTime,
    validity_period: p.validityPeriod, registered_delivery: p.registeredDelivery, replace_if_present_flag: p.replaceIfPresent,
    data_coding: p.dataCoding, sm_default_msg_id: p.smDefaultMsgId, short_message: p.shortMessage,
  }).toBuffer();
}


describe('fast SMPP codec', () => {
  it('encodes submit_sm byte for byte as the smpp package does', () => {
    const cases = [
      { ...base, sequence: 1, shortMessage: Buffer.from('48656c6c6f', 'hex') },
      { ...base, sequence: 0x7fffffff, esmClass: 0x40, dataCoding: 8, shortMessage: Buffer.from('0500032a0201' + '0416'.repeat(67), 'hex') },
      { ...base, sequence: 42, sourceAddrTon: 1, sourceAddrNpi: 1, sourceAddr: '4790000000', validityPeriod: '', shortMessage: Buffer.alloc(0) },
      { ...base, sequence: 7, serviceType: 'CMT', priorityFlag: 1, shortMessage: Buffer.from([0x00, 0x1b, 0x65, 0xff]) },
    ];
    for (const c of cases) expect(encodeSubmitSm(c).toString('hex')).toBe(reference(c).toString('hex'));
  });

  it('encodes and decodes the SAR concatenation TLVs byte for byte as the smpp package does', () => {
    const c = { ...base, sequence: 5, dataCoding: 8, shortMessage: Buffer.from('0416'.repeat(67), 'hex') };
    const sar = { ref: 0x2a, total: 3, seq: 2 };
    const ref = new smpp.PDU('submit_sm', {
      sequence_number: c.sequence, service_type: c.serviceType, source_addr_ton: c.sourceAddrTon, source_addr_npi: c.sourceAddrNpi,
      source_addr: c.sourceAddr, dest_addr_ton: c.destAddrTon, dest_addr_npi: c.destAddrNpi, destination_addr: c.destinationAddr,
      esm_class: c.esmClass, protocol_id: c.protocolId, priority_flag: c.priorityFlag, schedule_delivery_time: c.scheduleDeliveryTime,
      validity_period: c.validityPeriod, registered_delivery: c.registeredDelivery, replace_if_present_flag: c.replaceIfPresent,
      data_coding: c.dataCoding, sm_default_msg_id: c.smDefaultMsgId, short_message: c.shortMessage,
      sar_msg_ref_num: sar.ref, sar_total_segments: sar.total, sar_segment_seqnum: sar.seq,
    }).toBuffer();
    const mine = encodeSubmitSm({ ...c, sar });
    expect(mine.toString('hex')).toBe(ref.toString('hex'));
    const d = decodeSubmitSm(mine);
    expect(d.sar).toEqual(sar);
    expect(d.shortMessage).toEqual(c.shortMessage);
    // without the TLVs there is no sar; a TLV running past the end is refused
    expect(decodeSubmitSm(encodeSubmitSm(c)).sar).toBeUndefined();
    const broken = Buffer.concat([encodeSubmitSm(c), Buffer.from([0x02, 0x0c, 0x00, 0x09, 0x00])]);
    broken.writeUInt32BE(broken.length, 0);
    expect(errorOf(() => decodeSubmitSm(broken)).code).toBe('SMPP_BAD_PDU');
  });

  it('decodes a submit_sm the smpp package encoded', () => {
    const sm = Buffer.from('0500030a0302' + '41'.repeat(100), 'hex');
    const frame = reference({ ...base, sequence: 9, esmClass: 0x40, shortMessage: sm });
    const d = decodeSubmitSm(frame);
    expect(d).toMatchObject({ ...base, sequence: 9, esmClass: 0x40 });
    expect(d.shortMessage.equals(sm)).toBe(true);
  });

  it('decodes deliver_sm receipts with TLVs from the smpp package', () => {
    const text = 'id:00A1B2 sub:001 dlvrd:001 submit date:2611221530 done date:2611221531 stat:DELIVRD err:000 text:hi';
    const frame = new smpp.PDU('deliver_sm', {
      sequence_number: 5, source_addr: '4791234567', destination_addr: 'Acme', esm_class: 4, data_coding: 0,
      short_message: Buffer.from(text), receipted_message_id: '00A1B2', message_state: 2,
    }).toBuffer();
    const d = decodeDeliverSm(frame);
    expect(d).toMatchObject({ sequence: 5, esmClass: 4, receiptedMessageId: '00A1B2', messageState: 2, sourceAddr: '4791234567' });
    expect(d.shortMessage.toString()).toBe(text);
    // and our encoder produces what smpp decodes
    const ours = encodeDeliverSm({ ...base, sequence: 6, esmClass: 4, shortMessage: Buffer.from(text), receiptedMessageId: '41394', messageState: 5, networkErrorCode: { type: 3, code: 11 } });
    const theirs = new smpp.PDU(ours);
    expect(theirs.command).toBe('deliver_sm');
    expect(theirs.receipted_message_id).toBe('41394');
    expect(theirs.message_state).toBe(5);
    expect(decodeDeliverSm(ours).networkErrorCode).toEqual({ type: 3, code: 11 });
  });

  it('MO deliver_sm: SAR and message_payload TLVs, read from and written like the smpp package', () => {
    const frame = new smpp.PDU('deliver_sm', {
      sequence_number: 9, source_addr: '4791234567', destination_addr: '2222', esm_class: 0, data_coding: 8,
      short_message: Buffer.from('0048', 'hex'), sar_msg_ref_num: 300, sar_total_segments: 3, sar_segment_seqnum: 2,
    }).toBuffer();
    expect(decodeDeliverSm(frame).sar).toEqual({ ref: 300, total: 3, seq: 2 });
    const payload = new smpp.PDU('deliver_sm', { sequence_number: 10, source_addr: '4791234567', destination_addr: '2222', short_message: '', message_payload: Buffer.from('a long text') }).toBuffer();
    expect(decodeDeliverSm(payload).messagePayload?.toString()).toBe('a long text');
    const ours = encodeDeliverSm({ ...base, sequence: 11, shortMessage: Buffer.alloc(0), sar: { ref: 7, total: 2, seq: 1 }, messagePayload: Buffer.from('xyz') });
    const theirs = new smpp.PDU(ours);
    expect([theirs.sar_msg_ref_num, theirs.sar_total_segments, theirs.sar_segment_seqnum]).toEqual([7, 2, 1]);
    expect(theirs.message_payload).toEqual({ message: 'xyz' }); // the smpp package decodes it as text
  });

  it('encodes and decodes submit_sm_resp like the smpp package', () => {
    const ours = encodeResp(CommandId.submit_sm_resp, 0, 77, 'ABC123');
    expect(ours.toString('hex')).toBe(new smpp.PDU('submit_sm_resp', { sequence_number: 77, message_id: 'ABC123' }).toBuffer().toString('hex'));
    expect(decodeSubmitSmResp(ours)).toBe('ABC123');
    // an error resp carries no body
    expect(encodeResp(CommandId.submit_sm_resp, 0x58, 3).length).toBe(16);
    expect(decodeSubmitSmResp(encodeResp(CommandId.submit_sm_resp, 0x58, 3))).toBe('');
  });

  it('refuses malformed PDUs with SMPP_BAD_PDU instead of reading past the end', () => {
    const good = encodeSubmitSm({ ...base, sequence: 1, shortMessage: Buffer.from('hello') });
    // sm_length says 200 but only 5 octets follow
    const longSm = Buffer.from(good);
    longSm[longSm.length - 6] = 200;
    expect(errorOf(() => decodeSubmitSm(longSm))).toMatchObject({ code: 'SMPP_BAD_PDU', message: expect.stringContaining('sm_length 200 runs past the end') });
    // a C-string without its NUL
    const noNul = Buffer.from(good.subarray(0, 20));
    noNul.writeUInt32BE(20, 0);
    expect(errorOf(() => decodeSubmitSm(noNul)).message).toMatch(/has no NUL terminator|past the end/);
    // a TLV that runs past the end
    const d = encodeDeliverSm({ ...base, sequence: 2, esmClass: 4, shortMessage: Buffer.from('x'), messageState: 2 });
    const cut = Buffer.from(d.subarray(0, d.length - 1));
    cut.writeUInt32BE(cut.length, 0);
    expect(errorOf(() => decodeDeliverSm(cut)).message).toContain('runs past the end');
  });

  it('formats the Appendix B receipt text that the receipt parser reads back', () => {
    const t = formatReceiptText({ id: '0000A1B2', submitDate: new Date(Date.UTC(2026, 10, 22, 15, 30)), doneDate: new Date(Date.UTC(2026, 10, 22, 15, 31)), stat: 'UNDELIV', err: '011', text: 'Hello: world' });
    expect(t).toBe('id:0000A1B2 sub:001 dlvrd:000 submit date:2611221530 done date:2611221531 stat:UNDELIV err:011 text:Hello: world');
    expect(parseReceiptText(t)).toEqual({ id: '0000A1B2', stat: 'UNDELIV', err: '011' });
  });
});
