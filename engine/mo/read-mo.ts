/**
 * A mobile-originated deliver_sm as Switchyard sees it: the text decoded by
 * data_coding (GSM-7, UCS-2, Latin-1/IA5 and the GSM message-class group;
 * engine/text decodeShortMessage; data_coding 0 in the SMSC's default alphabet), the concatenation of a multipart message
 * from its UDH (8- or 16-bit reference) or its SAR TLVs, the text of a long
 * message carried in message_payload, and the two addresses in the form the
 * rest of the engine uses. Pure.
 */
import { decodeShortMessage, type SmscAlphabet } from '../text/index.js';
import { normalizeNumber } from '../ingress/normalize-number.js';

export interface MoDeliver {
  readonly esmClass: number;
  readonly shortMessage: Buffer;
  readonly dataCoding?: number;
  readonly sourceAddr?: string;
  readonly sourceAddrTon?: number;
  readonly destinationAddr?: string;
  readonly destAddrTon?: number;
  readonly sar?: { readonly ref: number; readonly total: number; readonly seq: number };
  readonly messagePayload?: Buffer;
}

export interface MoMessage {
  /** The sender as E.164 digits (no '+') when it reads as an international number, else as sent. */
  readonly from: string;
  /** True when `from` is E.164 digits (opt-out lists hold those). */
  readonly fromE164: boolean;
  /** The number or short code it was sent to, digits as sent ('+' and a leading 00 dropped). */
  readonly to: string;
  readonly text: string;
  /** Present for one part of a concatenated message. */
  readonly concat?: { readonly ref: number; readonly total: number; readonly seq: number };
}

const UDHI = 0x40;
const TON_INTERNATIONAL = 1;
const TON_ALPHANUMERIC = 5;

function digits(addr: string): string {
  const a = addr.trim();
  if (a.startsWith('+')) return a.slice(1);
  return a.startsWith('00') ? a.slice(2) : a;
}

/** Reads the sender: international (TON 1, or a leading + / 00) numbers are validated to E.164. */
export function readSender(addr: string, ton: number | undefined): { from: string; e164: boolean } {
  if (ton === TON_ALPHANUMERIC || !/^\+?[0-9]{3,20}$/.test(addr.trim())) return { from: addr.trim(), e164: false };
  const d = digits(addr);
  const international = ton === TON_INTERNATIONAL || addr.trim().startsWith('+') || addr.trim().startsWith('00') || ton === undefined || ton === 0;
  if (international) {
    const n = normalizeNumber('+' + d);
    if (n.ok) return { from: n.e164, e164: true };
  }
  return { from: d, e164: false };
}

/** `alphabet`: the SMSC's default alphabet, which its data_coding 0 is read in (smscs[].alphabet). */
export function readMo(d: MoDeliver, alphabet: SmscAlphabet = 'gsm7'): MoMessage {
  const dcs = d.dataCoding ?? 0;
  const body = d.shortMessage.length === 0 && d.messagePayload !== undefined ? d.messagePayload : d.shortMessage;
  const decoded = decodeShortMessage(body, dcs, (d.esmClass & UDHI) !== 0, alphabet);
  const concat = decoded.concat ?? d.sar;
  const sender = readSender(d.sourceAddr ?? '', d.sourceAddrTon);
  const m = { from: sender.from, fromE164: sender.e164, to: digits(d.destinationAddr ?? ''), text: decoded.text };
  return concat !== undefined && concat.total > 1 ? { ...m, concat } : m;
}

/** Normalises a configured inbound number or short code the way readMo writes `to`. */
export function inboundKey(n: string): string {
  return digits(n.replace(/[\s()-]/g, ''));
}
