/**
 * SMPP 3.4 PDUs written and read byte by byte for the tests, independently of
 * the engine's codec (engine/smpp): a test SMSC built on the engine's own
 * classes would share their bugs. Only what the tests need.
 */

export const Id = {
  generic_nack: 0x80000000,
  bind_receiver: 0x00000001,
  bind_transmitter: 0x00000002,
  query_sm: 0x00000003,
  submit_sm: 0x00000004,
  submit_sm_resp: 0x80000004,
  deliver_sm: 0x00000005,
  deliver_sm_resp: 0x80000005,
  unbind: 0x00000006,
  unbind_resp: 0x80000006,
  replace_sm: 0x00000007,
  cancel_sm: 0x00000008,
  bind_transceiver: 0x00000009,
  bind_transceiver_resp: 0x80000009,
  outbind: 0x0000000b,
  enquire_link: 0x00000015,
  enquire_link_resp: 0x80000015,
  submit_multi: 0x00000021,
  alert_notification: 0x00000102,
  data_sm: 0x00000103,
  data_sm_resp: 0x80000103,
} as const;

export function pdu(commandId: number, status: number, sequence: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32BE(16 + body.length, 0);
  h.writeUInt32BE(commandId >>> 0, 4);
  h.writeUInt32BE(status >>> 0, 8);
  h.writeUInt32BE(sequence >>> 0, 12);
  return Buffer.concat([h, body]);
}

export const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'latin1'), Buffer.from([0])]);
const u8 = (...n: number[]): Buffer => Buffer.from(n);

export function tlv(tag: number, value: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt16BE(tag, 0);
  h.writeUInt16BE(value.length, 2);
  return Buffer.concat([h, value]);
}

export interface RawDeliver {
  readonly source: string;
  readonly sourceTon?: number;
  readonly dest: string;
  readonly destTon?: number;
  readonly esmClass: number;
  readonly dataCoding?: number;
  readonly shortMessage: Buffer;
  readonly tlvs?: Buffer;
}

/** deliver_sm body, field by field (SMPP 3.4 §4.6.1). */
export function deliverSm(sequence: number, d: RawDeliver): Buffer {
  const body = Buffer.concat([
    cstr(''), u8(d.sourceTon ?? 1, 1), cstr(d.source), u8(d.destTon ?? 5, 0), cstr(d.dest),
    u8(d.esmClass, 0, 0), cstr(''), cstr(''), u8(0, 0, d.dataCoding ?? 0, 0, d.shortMessage.length), d.shortMessage, d.tlvs ?? Buffer.alloc(0),
  ]);
  return pdu(Id.deliver_sm, 0, sequence, body);
}

/** data_sm body (§4.7.1): no short_message, TLVs carry everything. */
export function dataSm(sequence: number, d: Omit<RawDeliver, 'shortMessage'>): Buffer {
  const body = Buffer.concat([
    cstr(''), u8(d.sourceTon ?? 1, 1), cstr(d.source), u8(d.destTon ?? 5, 0), cstr(d.dest), u8(d.esmClass, 0, d.dataCoding ?? 0), d.tlvs ?? Buffer.alloc(0),
  ]);
  return pdu(Id.data_sm, 0, sequence, body);
}

export const TAG = { receipted_message_id: 0x001e, message_state: 0x0427, message_payload: 0x0424 } as const;

/** A receipt as deliver_sm: Appendix B text plus the receipted_message_id and message_state TLVs. */
export function receiptDeliverSm(sequence: number, r: { id: string; stat: string; err?: string; source: string; dest: string }): Buffer {
  const states: Record<string, number> = { DELIVRD: 2, EXPIRED: 3, UNDELIV: 5 };
  const text = `id:${r.id} sub:001 dlvrd:${r.stat === 'DELIVRD' ? '001' : '000'} submit date:2612011200 done date:2612011201 stat:${r.stat} err:${r.err ?? '000'} text:`;
  return deliverSm(sequence, {
    source: r.dest, dest: r.source, esmClass: 0x04, shortMessage: Buffer.from(text, 'latin1'),
    tlvs: Buffer.concat([tlv(TAG.receipted_message_id, cstr(r.id)), tlv(TAG.message_state, u8(states[r.stat] ?? 7))]),
  });
}

/** A submit_sm as the test SMSC reads it, and the exact bytes it came in. */
export interface RawSubmit {
  readonly raw: Buffer;
  readonly sequence: number;
  readonly sourceTon: number;
  readonly sourceNpi: number;
  readonly source: string;
  readonly destTon: number;
  readonly destNpi: number;
  readonly dest: string;
  readonly esmClass: number;
  readonly dataCoding: number;
  readonly shortMessage: Buffer;
}

export function readSubmitSm(frame: Buffer): RawSubmit {
  let o = 16;
  const str = () => {
    const nul = frame.indexOf(0, o);
    const s = frame.toString('latin1', o, nul);
    o = nul + 1;
    return s;
  };
  const byte = () => frame[o++] as number;
  str(); // service_type
  const sourceTon = byte();
  const sourceNpi = byte();
  const source = str();
  const destTon = byte();
  const destNpi = byte();
  const dest = str();
  const esmClass = byte();
  byte(); // protocol_id
  byte(); // priority_flag
  str(); // schedule_delivery_time
  str(); // validity_period
  byte(); // registered_delivery
  byte(); // replace_if_present_flag
  const dataCoding = byte();
  byte(); // sm_default_msg_id
  const len = byte();
  const shortMessage = Buffer.from(frame.subarray(o, o + len));
  return { raw: Buffer.from(frame), sequence: frame.readUInt32BE(12), sourceTon, sourceNpi, source, destTon, destNpi, dest, esmClass, dataCoding, shortMessage };
}

/** Splits a byte stream into PDUs; keeps a partial one for the next chunk. */
export class Framer {
  private buf: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    while (this.buf.length >= 16) {
      const len = this.buf.readUInt32BE(0);
      if (len < 16 || this.buf.length < len) break;
      out.push(Buffer.from(this.buf.subarray(0, len)));
      this.buf = this.buf.subarray(len);
    }
    return out;
  }
}

export const header = (f: Buffer) => ({ id: f.readUInt32BE(4), status: f.readUInt32BE(8), sequence: f.readUInt32BE(12) });
