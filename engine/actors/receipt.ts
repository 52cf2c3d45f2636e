/**
 * Delivery receipts: from a deliver_sm (TLVs or the SMPP 3.4 Appendix B text)
 * to the part state the state scripts apply, and the key to match it by. Pure.
 *
 * SMSCs disagree on the id: the submit_sm_resp may carry "00A1B2" while the
 * receipt says "41394" (the same number in decimal), with or without leading
 * zeros and in either letter case. Ids are normalised (lower case, no leading
 * zeros) and converted by the SMSC's configured receiptIdMatch.
 */
export type PartState = 'D' | 'U' | 'E' | 'K' | 'u';

export interface ReceiptInfo {
  readonly id: string;
  /** undefined: ENROUTE/ACCEPTD without an error, nothing to record. */
  readonly state: PartState | undefined;
  readonly stat: string;
  readonly err: string;
}

/** SMPP message_state TLV values (SMPP 3.4 §5.2.28). */
const MESSAGE_STATE: Readonly<Record<number, string>> = {
  1: 'ENROUTE', 2: 'DELIVRD', 3: 'EXPIRED', 4: 'DELETED', 5: 'UNDELIV', 6: 'ACCEPTD', 7: 'UNKNOWN', 8: 'REJECTD',
};

/** DESIGN.md §6: receipt stat → part state. */
export function stateOfStat(stat: string, err: string): PartState | undefined {
  switch (stat) {
    case 'DELIVRD':
      return 'D';
    case 'UNDELIV':
    case 'REJECTD':
    case 'DELETED':
      return 'U';
    case 'EXPIRED':
      return 'E';
    case 'UNKNOWN':
      return 'K';
    case 'ENROUTE':
    case 'ACCEPTD':
      return err !== '' && Number(err) !== 0 ? 'u' : undefined;
    default:
      return 'K';
  }
}

export function normalizeSmscId(id: string): string {
  const s = id.trim().toLowerCase();
  let i = 0;
  while (i < s.length - 1 && s.charCodeAt(i) === 48) i++;
  return s.slice(i);
}

const DEC = /^[0-9]+$/;
const HEX = /^[0-9a-f]+$/;

/**
 * How an SMSC writes the id in its receipts compared with its submit_sm_resp
 * (Kannel calls this msg-id-type). It is a property of the SMSC, configured,
 * never guessed: trying both radixes on every receipt would match a receipt
 * to the wrong message whenever one id's digits read as another id in the
 * other radix (decimal "16" is also hex "16", the id of message 22).
 */
export type ReceiptIdMatch = 'exact' | 'hex-resp-dec-receipt' | 'dec-resp-hex-receipt';

/**
 * The one key a receipt is matched by: the receipt's id normalised and, when
 * the SMSC writes receipts in the other radix, converted to the radix of its
 * submit_sm_resp ids (which are stored normalised). An id that does not read
 * in the configured radix is used as it is.
 */
export function receiptKey(id: string, mode: ReceiptIdMatch): string {
  const n = normalizeSmscId(id);
  if (mode === 'hex-resp-dec-receipt' && DEC.test(n) && n.length <= 30) return BigInt(n).toString(16);
  if (mode === 'dec-resp-hex-receipt' && HEX.test(n) && n.length <= 24) return BigInt('0x' + n).toString(10);
  return n;
}

const FIELD = /\b(id|stat|err)\s*:\s*(\S*)/gi;

/** Reads id, stat and err from an Appendix B receipt text (tolerant of case and spacing). */
export function parseReceiptText(text: string): { id?: string; stat?: string; err?: string } {
  const out: { id?: string; stat?: string; err?: string } = {};
  const cut = text.search(/\btext\s*:/i);
  const head = cut >= 0 ? text.slice(0, cut) : text;
  FIELD.lastIndex = 0;
  for (let m = FIELD.exec(head); m !== null; m = FIELD.exec(head)) {
    const k = (m[1] as string).toLowerCase() as 'id' | 'stat' | 'err';
    if (out[k] === undefined) out[k] = m[2] as string;
  }
  return out;
}

/**
 * Builds the receipt from a deliver_sm's parts. TLVs win over the text, as
 * SMPP 3.4 says they should. Returns undefined when there is no id at all.
 */
export function readReceipt(p: { receiptedMessageId?: string; messageState?: number; networkErrorCode?: Buffer | number; text: string }): ReceiptInfo | undefined {
  const t = parseReceiptText(p.text);
  const id = p.receiptedMessageId ?? t.id;
  if (id === undefined || id === '') return undefined;
  const stat = (p.messageState !== undefined ? MESSAGE_STATE[p.messageState] : undefined) ?? (t.stat ?? 'UNKNOWN').toUpperCase();
  const err = t.err ?? '';
  return { id, state: stateOfStat(stat, err), stat, err };
}
