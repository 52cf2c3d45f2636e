/**
 * Fast SMPP 3.4 codec for the PDUs on the hot path: submit_sm, submit_sm_resp,
 * deliver_sm (with the receipt TLVs), deliver_sm_resp, enquire_link(_resp) and
 * generic_nack. Everything else goes through the `smpp` package's PDU class,
 * which is also the reference: tests check this codec against it byte by byte.
 *
 * Why: `smpp`'s generic PDU walks its definition tables with closures and
 * filters for every field; on the end-to-end profile that was the largest item
 * (bench/RESULTS.md, bench:smpp). Here a submit_sm is one length computation,
 * one allocation and straight writes.
 *
 * Decoders validate every length against the frame and throw SmppPduError
 * (code SMPP_BAD_PDU) instead of reading past the end; its commandStatus names
 * the faulty field the SMPP 3.4 way (0x0A source address, 0x01 sm_length,
 * 0xC0 TLV stream...), which is what the peer is answered.
 */
import { SmppPduError, SmppStatus, SwitchyardError } from '../errors.js';

export const CommandId = {
  generic_nack: 0x80000000,
  bind_receiver: 0x00000001,
  bind_receiver_resp: 0x80000001,
  bind_transmitter: 0x00000002,
  bind_transmitter_resp: 0x80000002,
  submit_sm: 0x00000004,
  submit_sm_resp: 0x80000004,
  query_sm: 0x00000003,
  query_sm_resp: 0x80000003,
  deliver_sm: 0x00000005,
  deliver_sm_resp: 0x80000005,
  unbind: 0x00000006,
  unbind_resp: 0x80000006,
  replace_sm: 0x00000007,
  replace_sm_resp: 0x80000007,
  cancel_sm: 0x00000008,
  cancel_sm_resp: 0x80000008,
  bind_transceiver: 0x00000009,
  bind_transceiver_resp: 0x80000009,
  outbind: 0x0000000b,
  enquire_link: 0x00000015,
  enquire_link_resp: 0x80000015,
  submit_multi: 0x00000021,
  submit_multi_resp: 0x80000021,
  alert_notification: 0x00000102,
  data_sm: 0x00000103,
  data_sm_resp: 0x80000103,
} as const;

export const HEADER_LEN = 16;

export const Tlv = {
  receipted_message_id: 0x001e,
  sar_msg_ref_num: 0x020c,
  sar_total_segments: 0x020e,
  sar_segment_seqnum: 0x020f,
  network_error_code: 0x0423,
  message_payload: 0x0424,
  message_state: 0x0427,
} as const;

/** Concatenation by SAR TLVs (SMPP 3.4 §5.3.2.22-24) instead of a UDH in short_message. */
export interface SarInfo {
  /** sar_msg_ref_num, 16 bits. */
  readonly ref: number;
  readonly total: number;
  readonly seq: number;
}

/** Octets the three SAR TLVs take: (4 + 2) + (4 + 1) + (4 + 1). */
const SAR_TLV_LEN = 16;

/** Body of submit_sm and deliver_sm (SMPP 3.4 §4.4.1 / §4.6.1). */
export interface ShortMessagePdu {
  readonly sequence: number;
  readonly serviceType: string;
  readonly sourceAddrTon: number;
  readonly sourceAddrNpi: number;
  readonly sourceAddr: string;
  readonly destAddrTon: number;
  readonly destAddrNpi: number;
  readonly destinationAddr: string;
  readonly esmClass: number;
  readonly protocolId: number;
  readonly priorityFlag: number;
  readonly scheduleDeliveryTime: string;
  readonly validityPeriod: string;
  readonly registeredDelivery: number;
  readonly replaceIfPresent: number;
  readonly dataCoding: number;
  readonly smDefaultMsgId: number;
  readonly shortMessage: Buffer;
}

export interface SubmitSm extends ShortMessagePdu {
  readonly sar?: SarInfo;
  /** message_payload TLV (a customer's long text when short_message is empty; the SMPP server reads it). */
  readonly messagePayload?: Buffer;
}

export interface DeliverSm extends ShortMessagePdu {
  /** Set when the PDU was a data_sm (SMPP 3.4 §4.7): no short_message, the text (if any) in message_payload. */
  readonly dataSm?: true;
  readonly receiptedMessageId?: string;
  readonly messageState?: number;
  /** network_error_code TLV: type (1 octet) + error code (2 octets). */
  readonly networkErrorCode?: { readonly type: number; readonly code: number };
  /** sar_msg_ref_num / sar_total_segments / sar_segment_seqnum: a concatenated MO part without a UDH. */
  readonly sar?: { readonly ref: number; readonly total: number; readonly seq: number };
  /** message_payload TLV: the text when short_message is empty (long MO messages). */
  readonly messagePayload?: Buffer;
}

export interface PduHeader {
  readonly length: number;
  readonly commandId: number;
  readonly commandStatus: number;
  readonly sequence: number;
}

export function readHeader(frame: Buffer): PduHeader {
  return {
    length: frame.readUInt32BE(0),
    commandId: frame.readUInt32BE(4),
    commandStatus: frame.readUInt32BE(8),
    sequence: frame.readUInt32BE(12),
  };
}

function writeHeader(b: Buffer, commandId: number, status: number, sequence: number): void {
  b.writeUInt32BE(b.length, 0);
  b.writeUInt32BE(commandId >>> 0, 4);
  b.writeUInt32BE(status >>> 0, 8);
  b.writeUInt32BE(sequence >>> 0, 12);
}

function writeCString(b: Buffer, s: string, off: number): number {
  const n = b.write(s, off, 'latin1');
  b[off + n] = 0;
  return off + n + 1;
}

/** Encodes a header-only PDU (enquire_link, its resp, generic_nack, unbind...). */
export function encodeEmpty(commandId: number, status: number, sequence: number): Buffer {
  const b = Buffer.allocUnsafe(HEADER_LEN);
  writeHeader(b, commandId, status, sequence);
  return b;
}

/** A submit_sm/deliver_sm body whose rarely varied fields may be left out (SUBMIT_DEFAULTS). */
export type ShortMessageBody = Omit<ShortMessagePdu, 'sequence' | keyof typeof SUBMIT_DEFAULTS> &
  Partial<Pick<ShortMessagePdu, keyof typeof SUBMIT_DEFAULTS>>;

function shortMessageBodyLength(p: ShortMessageBody): number {
  return (
    (p.serviceType?.length ?? 0) + 1 + 2 + p.sourceAddr.length + 1 + 2 + p.destinationAddr.length + 1 + 3 +
    (p.scheduleDeliveryTime?.length ?? 0) + 1 + p.validityPeriod.length + 1 + 4 + 1 + p.shortMessage.length
  );
}

function writeShortMessageBody(b: Buffer, p: ShortMessageBody, off: number): number {
  let o = writeCString(b, p.serviceType ?? '', off);
  b[o++] = p.sourceAddrTon;
  b[o++] = p.sourceAddrNpi;
  o = writeCString(b, p.sourceAddr, o);
  b[o++] = p.destAddrTon;
  b[o++] = p.destAddrNpi;
  o = writeCString(b, p.destinationAddr, o);
  b[o++] = p.esmClass;
  b[o++] = p.protocolId ?? 0;
  b[o++] = p.priorityFlag ?? 0;
  o = writeCString(b, p.scheduleDeliveryTime ?? '', o);
  o = writeCString(b, p.validityPeriod, o);
  b[o++] = p.registeredDelivery;
  b[o++] = p.replaceIfPresent ?? 0;
  b[o++] = p.dataCoding;
  b[o++] = p.smDefaultMsgId ?? 0;
  b[o++] = p.shortMessage.length;
  o += p.shortMessage.copy(b, o);
  return o;
}

/** Encodes a submit_sm (with the SAR TLVs when `sar` is given); `sequence` overrides p.sequence (so callers need not copy the body). */
export function encodeSubmitSm(p: ShortMessageBody & { readonly sequence?: number; readonly sar?: SarInfo }, sequence = p.sequence ?? 0): Buffer {
  if (p.shortMessage.length > 254) throw new SwitchyardError('SMPP_BAD_PDU', `short_message of ${p.shortMessage.length} octets exceeds 254`);
  const sar = p.sar;
  const b = Buffer.allocUnsafe(HEADER_LEN + shortMessageBodyLength(p) + (sar === undefined ? 0 : SAR_TLV_LEN));
  writeHeader(b, CommandId.submit_sm, 0, sequence);
  let o = writeShortMessageBody(b, p, HEADER_LEN);
  if (sar !== undefined) {
    o = b.writeUInt16BE(Tlv.sar_msg_ref_num, o);
    o = b.writeUInt16BE(2, o);
    o = b.writeUInt16BE(sar.ref & 0xffff, o);
    o = b.writeUInt16BE(Tlv.sar_total_segments, o);
    o = b.writeUInt16BE(1, o);
    b[o++] = sar.total;
    o = b.writeUInt16BE(Tlv.sar_segment_seqnum, o);
    o = b.writeUInt16BE(1, o);
    b[o] = sar.seq;
  }
  return b;
}

export function encodeDeliverSm(p: ShortMessageBody & Omit<DeliverSm, keyof ShortMessagePdu> & { readonly sequence: number }): Buffer {
  let tlvLen = 0;
  if (p.receiptedMessageId !== undefined) tlvLen += 4 + p.receiptedMessageId.length + 1;
  if (p.messageState !== undefined) tlvLen += 5;
  if (p.networkErrorCode !== undefined) tlvLen += 7;
  if (p.sar !== undefined) tlvLen += 6 + 5 + 5;
  if (p.messagePayload !== undefined) tlvLen += 4 + p.messagePayload.length;
  const b = Buffer.allocUnsafe(HEADER_LEN + shortMessageBodyLength(p) + tlvLen);
  writeHeader(b, CommandId.deliver_sm, 0, p.sequence);
  let o = writeShortMessageBody(b, p, HEADER_LEN);
  if (p.receiptedMessageId !== undefined) {
    o = b.writeUInt16BE(Tlv.receipted_message_id, o);
    o = b.writeUInt16BE(p.receiptedMessageId.length + 1, o);
    o = writeCString(b, p.receiptedMessageId, o);
  }
  if (p.messageState !== undefined) {
    o = b.writeUInt16BE(Tlv.message_state, o);
    o = b.writeUInt16BE(1, o);
    b[o++] = p.messageState;
  }
  if (p.networkErrorCode !== undefined) {
    o = b.writeUInt16BE(Tlv.network_error_code, o);
    o = b.writeUInt16BE(3, o);
    b[o++] = p.networkErrorCode.type;
    o = b.writeUInt16BE(p.networkErrorCode.code, o);
  }
  if (p.sar !== undefined) {
    o = b.writeUInt16BE(Tlv.sar_msg_ref_num, o);
    o = b.writeUInt16BE(2, o);
    o = b.writeUInt16BE(p.sar.ref & 0xffff, o);
    o = b.writeUInt16BE(Tlv.sar_total_segments, o);
    o = b.writeUInt16BE(1, o);
    b[o++] = p.sar.total;
    o = b.writeUInt16BE(Tlv.sar_segment_seqnum, o);
    o = b.writeUInt16BE(1, o);
    b[o++] = p.sar.seq;
  }
  if (p.messagePayload !== undefined) {
    o = b.writeUInt16BE(Tlv.message_payload, o);
    o = b.writeUInt16BE(p.messagePayload.length, o);
    p.messagePayload.copy(b, o);
  }
  return b;
}

/** submit_sm_resp / deliver_sm_resp: message_id C-string body (empty for deliver_sm_resp). */
export function encodeResp(commandId: number, status: number, sequence: number, messageId = ''): Buffer {
  // SMPP 3.4 §4.4.2: the body is omitted when command_status is non-zero.
  if (status !== 0) return encodeEmpty(commandId, status, sequence);
  const b = Buffer.allocUnsafe(HEADER_LEN + messageId.length + 1);
  writeHeader(b, commandId, status, sequence);
  writeCString(b, messageId, HEADER_LEN);
  return b;
}

function bad(what: string, status: number = SmppStatus.ESME_RINVCMDLEN): never {
  throw new SmppPduError(what, status);
}

class Reader {
  o = HEADER_LEN;
  constructor(
    readonly b: Buffer,
    readonly end: number,
    readonly name: string,
  ) {}
  /** A fixed field past the end: the PDU is shorter than its body needs (ESME_RINVCMDLEN). */
  u8(field: string): number {
    if (this.o >= this.end) bad(`${this.name}: ${field} is past the end of the PDU`);
    return this.b[this.o++] as number;
  }
  /** A C-Octet String; `status` is the SMPP error that names this field. */
  cstr(field: string, max: number, status: number): string {
    const nul = this.b.indexOf(0, this.o);
    if (nul < 0 || nul >= this.end) bad(`${this.name}: ${field} has no NUL terminator within the PDU`, status);
    if (nul - this.o > max) bad(`${this.name}: ${field} is longer than ${max} octets`, status);
    const s = this.b.toString('latin1', this.o, nul);
    this.o = nul + 1;
    return s;
  }
}

function frameReader(frame: Buffer, name: string): Reader {
  const end = frame.readUInt32BE(0);
  if (end !== frame.length) bad(`${name}: command_length ${end} does not match the frame length ${frame.length}`);
  return new Reader(frame, end, name);
}

function readShortMessageBody(frame: Buffer, name: string): { r: Reader; p: ShortMessagePdu } {
  const r = frameReader(frame, name);
  const end = r.end;
  const sequence = frame.readUInt32BE(12);
  const serviceType = r.cstr('service_type', 5, SmppStatus.ESME_RINVSERTYP);
  const sourceAddrTon = r.u8('source_addr_ton');
  const sourceAddrNpi = r.u8('source_addr_npi');
  const sourceAddr = r.cstr('source_addr', 20, SmppStatus.ESME_RINVSRCADR);
  const destAddrTon = r.u8('dest_addr_ton');
  const destAddrNpi = r.u8('dest_addr_npi');
  const destinationAddr = r.cstr('destination_addr', 20, SmppStatus.ESME_RINVDSTADR);
  const esmClass = r.u8('esm_class');
  const protocolId = r.u8('protocol_id');
  const priorityFlag = r.u8('priority_flag');
  const scheduleDeliveryTime = r.cstr('schedule_delivery_time', 16, SmppStatus.ESME_RINVSCHED);
  const validityPeriod = r.cstr('validity_period', 16, SmppStatus.ESME_RINVEXPIRY);
  const registeredDelivery = r.u8('registered_delivery');
  const replaceIfPresent = r.u8('replace_if_present_flag');
  const dataCoding = r.u8('data_coding');
  const smDefaultMsgId = r.u8('sm_default_msg_id');
  const smLength = r.u8('sm_length');
  if (r.o + smLength > end) bad(`${name}: sm_length ${smLength} runs past the end of the PDU`, SmppStatus.ESME_RINVMSGLEN);
  const shortMessage = frame.subarray(r.o, r.o + smLength);
  r.o += smLength;
  return {
    r,
    p: {
      sequence, serviceType, sourceAddrTon, sourceAddrNpi, sourceAddr, destAddrTon, destAddrNpi, destinationAddr,
      esmClass, protocolId, priorityFlag, scheduleDeliveryTime, validityPeriod, registeredDelivery, replaceIfPresent,
      dataCoding, smDefaultMsgId, shortMessage,
    },
  };
}

/** Decodes a submit_sm; of its TLVs, the SAR ones are read (others skipped). */
export function decodeSubmitSm(frame: Buffer): SubmitSm {
  const { r, p } = readShortMessageBody(frame, 'submit_sm');
  let ref: number | undefined;
  let total: number | undefined;
  let seq: number | undefined;
  let payload: Buffer | undefined;
  while (r.o + 4 <= r.end) {
    const tag = frame.readUInt16BE(r.o);
    const len = frame.readUInt16BE(r.o + 2);
    const v = r.o + 4;
    if (v + len > r.end) bad(`submit_sm: TLV 0x${tag.toString(16).padStart(4, '0')} of length ${len} runs past the end of the PDU`, SmppStatus.ESME_RINVOPTPARSTREAM);
    if (tag === Tlv.sar_msg_ref_num && len === 2) ref = frame.readUInt16BE(v);
    else if (tag === Tlv.sar_total_segments && len === 1) total = frame[v];
    else if (tag === Tlv.sar_segment_seqnum && len === 1) seq = frame[v];
    else if (tag === Tlv.message_payload) payload = frame.subarray(v, v + len);
    r.o = v + len;
  }
  const withPayload = payload === undefined ? p : { ...p, messagePayload: payload };
  if (ref === undefined || total === undefined || seq === undefined) return withPayload;
  return { ...withPayload, sar: { ref, total, seq } };
}

export function decodeDeliverSm(frame: Buffer): DeliverSm {
  const { r, p } = readShortMessageBody(frame, 'deliver_sm');
  // p is a fresh object: extend it rather than copy its 18 fields.
  return readDeliverTlvs(frame, r, p as Mutable<DeliverSm>);
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * A data_sm (SMPP 3.4 §4.7.1), which SMSCs use for receipts and MO messages
 * as deliver_sm is used: its fixed fields, then the same TLVs. It has no
 * short_message (the text, if any, is in message_payload) and addresses of
 * up to 64 octets. Read into the DeliverSm shape with `dataSm` set, so one
 * path handles both.
 */
export function decodeDataSm(frame: Buffer): DeliverSm {
  const r = frameReader(frame, 'data_sm');
  const p: Mutable<DeliverSm> = {
    sequence: frame.readUInt32BE(12),
    serviceType: r.cstr('service_type', 5, SmppStatus.ESME_RINVSERTYP),
    sourceAddrTon: r.u8('source_addr_ton'),
    sourceAddrNpi: r.u8('source_addr_npi'),
    sourceAddr: r.cstr('source_addr', 64, SmppStatus.ESME_RINVSRCADR),
    destAddrTon: r.u8('dest_addr_ton'),
    destAddrNpi: r.u8('dest_addr_npi'),
    destinationAddr: r.cstr('destination_addr', 64, SmppStatus.ESME_RINVDSTADR),
    esmClass: r.u8('esm_class'),
    registeredDelivery: r.u8('registered_delivery'),
    dataCoding: r.u8('data_coding'),
    protocolId: 0, priorityFlag: 0, scheduleDeliveryTime: '', validityPeriod: '', replaceIfPresent: 0, smDefaultMsgId: 0,
    shortMessage: EMPTY,
    dataSm: true,
  };
  return readDeliverTlvs(frame, r, p);
}

const EMPTY = Buffer.alloc(0);

function readDeliverTlvs(frame: Buffer, r: Reader, out: Mutable<DeliverSm>): DeliverSm {
  let sarRef: number | undefined;
  let sarTotal: number | undefined;
  let sarSeq: number | undefined;
  while (r.o + 4 <= r.end) {
    const tag = frame.readUInt16BE(r.o);
    const len = frame.readUInt16BE(r.o + 2);
    const v = r.o + 4;
    if (v + len > r.end) bad(`${r.name}: TLV 0x${tag.toString(16).padStart(4, '0')} of length ${len} runs past the end of the PDU`, SmppStatus.ESME_RINVOPTPARSTREAM);
    if (tag === Tlv.receipted_message_id) {
      let e = v + len;
      if (len > 0 && frame[e - 1] === 0) e--;
      out.receiptedMessageId = frame.toString('latin1', v, e);
    } else if (tag === Tlv.message_state && len >= 1) out.messageState = frame[v] as number;
    else if (tag === Tlv.network_error_code && len >= 3) out.networkErrorCode = { type: frame[v] as number, code: frame.readUInt16BE(v + 1) };
    else if (tag === Tlv.sar_msg_ref_num && len === 2) sarRef = frame.readUInt16BE(v);
    else if (tag === Tlv.sar_total_segments && len === 1) sarTotal = frame[v] as number;
    else if (tag === Tlv.sar_segment_seqnum && len === 1) sarSeq = frame[v] as number;
    else if (tag === Tlv.message_payload) out.messagePayload = frame.subarray(v, v + len);
    r.o = v + len;
  }
  if (r.o !== r.end) bad(`${r.name}: ${r.end - r.o} stray octets after the TLVs`, SmppStatus.ESME_RINVOPTPARSTREAM);
  if (sarRef !== undefined && sarTotal !== undefined && sarSeq !== undefined) out.sar = { ref: sarRef, total: sarTotal, seq: sarSeq };
  return out;
}

/** message_id of a submit_sm_resp ('' when the body is absent, as after an error). */
/**
 * The message_id of a submit_sm_resp. Lenient on purpose: SMSCs exist that omit
 * the NUL terminator or send ids longer than SMPP 3.4's 65 octets, and refusing
 * the resp would leave a message that the SMSC accepted without its id (its
 * receipts could never match). The id ends at the NUL or at the end of the PDU.
 */
export function decodeSubmitSmResp(frame: Buffer): string {
  if (frame.length <= HEADER_LEN) return '';
  const nul = frame.indexOf(0, HEADER_LEN);
  return frame.toString('latin1', HEADER_LEN, nul < 0 ? frame.length : nul);
}

/** Defaults for the fields Switchyard does not vary. */
export const SUBMIT_DEFAULTS = {
  serviceType: '',
  protocolId: 0,
  priorityFlag: 0,
  scheduleDeliveryTime: '',
  replaceIfPresent: 0,
  smDefaultMsgId: 0,
} as const;

// ---- delivery receipt text (SMPP 3.4 Appendix B) ---------------------------------

// Receipt dates have minute resolution: remember the last few formatted minutes.
const minuteCache = new Map<number, string>();
function yymmddhhmm(d: Date): string {
  const minute = Math.floor(d.getTime() / 60_000);
  let s = minuteCache.get(minute);
  if (s === undefined) {
    const p = (n: number) => (n < 10 ? '0' + n : String(n));
    s = p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) + p(d.getUTCHours()) + p(d.getUTCMinutes());
    if (minuteCache.size > 64) minuteCache.clear();
    minuteCache.set(minute, s);
  }
  return s;
}

export interface ReceiptText {
  readonly id: string;
  readonly sub?: number;
  readonly dlvrd?: number;
  readonly submitDate: Date;
  readonly doneDate: Date;
  readonly stat: string;
  readonly err: string;
  readonly text?: string;
}

export function formatReceiptText(r: ReceiptText): string {
  const n3 = (n: number) => String(n).padStart(3, '0');
  return `id:${r.id} sub:${n3(r.sub ?? 1)} dlvrd:${n3(r.dlvrd ?? (r.stat === 'DELIVRD' ? 1 : 0))} submit date:${yymmddhhmm(r.submitDate)} done date:${yymmddhhmm(r.doneDate)} stat:${r.stat} err:${r.err} text:${(r.text ?? '').slice(0, 20)}`;
}
