/**
 * What a customer's submit_sm (or data_sm) says, read into the fields of the
 * accept path: destination, sender, the registered_delivery it asked for, its
 * concatenation (UDH 8- or 16-bit reference IE, or the SAR TLVs) and its
 * body octets, which are decoded to text once the message is whole
 * (decodeBody): a UCS-2 character or a GSM-7 escape split over two parts
 * would be garbled by decoding each part alone. Pure; no I/O.
 *
 * Encodings (README "SMPP server"):
 *   data_coding 0           the tenant's declared default: GSM 03.38 unpacked
 *                           (one septet per octet) or Latin-1 (tenants[].smpp.dataCoding0)
 *   1 (IA5/ASCII), 3        Latin-1
 *   8                       UCS-2 (big-endian)
 *   0xF0-0xF3               GSM 03.38 (message class bits ignored)
 *   anything else (binary)  refused 0x00000045 (ESME_RSUBMITFAIL): the accept
 *                           path carries text, and binary would be re-encoded as it
 * The text is in short_message, or in the message_payload TLV when
 * short_message is empty (SMPP 3.4 §5.3.2.32: never both).
 */
import { SmppStatus } from '../errors.js';
import type { DeliverSm, SubmitSm } from '../smpp/pdu-codec.js';
import { decodeShortMessage } from '../text/index.js';

export type DataCoding0 = 'gsm7' | 'latin1';

export interface Concat {
  readonly ref: number;
  readonly total: number;
  readonly seq: number;
}

export interface ReadSubmit {
  readonly to: string;
  readonly from: string;
  /** registered_delivery: bits 0-1 receipt (1 final, 2 failure only), bit 4 intermediate notifications. */
  readonly registeredDelivery: number;
  readonly dataCoding: number;
  /** The text octets of this PDU (the UDH removed). */
  readonly body: Buffer;
  readonly concat?: Concat;
}

export interface SubmitRefusal {
  readonly status: number;
  readonly error: string;
}

const UDHI = 0x40;

export function isSubmitRefusal(x: ReadSubmit | SubmitRefusal): x is SubmitRefusal {
  return (x as SubmitRefusal).status !== undefined;
}

/** data_coding values whose text we read (see the header); others are refused. */
export function readableDataCoding(dcs: number): boolean {
  return dcs === 0 || dcs === 1 || dcs === 3 || dcs === 8 || (dcs >= 0xf0 && dcs <= 0xf3);
}

/** Reads a submit_sm or a data_sm (DeliverSm shape with dataSm set) of a customer. */
export function readSubmit(sm: SubmitSm | DeliverSm): ReadSubmit | SubmitRefusal {
  if (sm.destinationAddr === '') return { status: SmppStatus.ESME_RINVDSTADR, error: 'destination_addr is empty' };
  if (sm.sourceAddr === '') return { status: SmppStatus.ESME_RINVSRCADR, error: 'source_addr is empty' };
  if (!readableDataCoding(sm.dataCoding))
    return { status: SmppStatus.ESME_RSUBMITFAIL, error: `data_coding 0x${sm.dataCoding.toString(16).padStart(2, '0')} is not taken (0, 1, 3, 8 and 0xF0-0xF3 are)` };
  const payload = (sm as DeliverSm).messagePayload ?? (sm as SubmitSm & { messagePayload?: Buffer }).messagePayload;
  if (payload !== undefined && sm.shortMessage.length > 0)
    return { status: SmppStatus.ESME_RINVMSGLEN, error: 'both short_message and message_payload carry text (SMPP 3.4 allows one)' };
  let octets = payload ?? sm.shortMessage;
  let concat: Concat | undefined;
  if ((sm.esmClass & UDHI) !== 0) {
    if (octets.length === 0 || 1 + (octets[0] as number) > octets.length)
      return { status: SmppStatus.ESME_RINVMSGLEN, error: 'esm_class says a UDH comes first but the message is shorter than its UDH length' };
    // decodeShortMessage walks the UDH's IEs; only its concatenation IE is of use here.
    concat = decodeShortMessage(octets.subarray(0, 1 + (octets[0] as number)), 0x03, true).concat;
    octets = octets.subarray(1 + (octets[0] as number));
  }
  if (concat === undefined && sm.sar !== undefined) concat = sm.sar;
  if (concat !== undefined && (concat.total < 1 || concat.seq < 1 || concat.seq > concat.total))
    return { status: SmppStatus.ESME_RINVMSGLEN, error: `concatenation part ${concat.seq} of ${concat.total} is out of range` };
  const base = { to: sm.destinationAddr, from: sm.sourceAddr, registeredDelivery: sm.registeredDelivery, dataCoding: sm.dataCoding, body: octets };
  return concat === undefined || concat.total === 1 ? base : { ...base, concat };
}

/** The text of a whole message's body octets in its data_coding (0: the tenant's declared alphabet). */
export function decodeBody(body: Buffer, dataCoding: number, dc0: DataCoding0): string {
  if (dataCoding === 0 && dc0 === 'latin1') return body.toString('latin1');
  if (dataCoding === 1) return body.toString('latin1');
  return decodeShortMessage(body, dataCoding, false).text;
}
