/**
 * How a message submitted over SMPP is told apart in the events streams, and
 * what its receipts say. Its `ref` (the client reference a WebSocket submit
 * gives; SMPP has none) is `smpp<registered_delivery>:<parts>:<source_addr>`:
 * the receipt feed reads from it whether and which receipts the customer asked
 * for, how many submit_sm the customer sent for it (a reassembled message's
 * parts: each got the message's id in its resp, and each gets a receipt, as
 * SMSCs do and as Kannel waits for), and the address to send them to, with no
 * lookup of the message.
 *
 * registered_delivery (SMPP 3.4 §5.2.17): bits 0-1 — 0 none, 1 final outcome,
 * 2 failure only; bit 4 (0x10) intermediate notifications (here: `sent`,
 * `unreachable`). Statuses map to the receipt's stat and message_state TLV as
 * SMPP 3.4 Appendix B and §5.3.2.35 name them.
 */

export interface SmppRef {
  readonly registeredDelivery: number;
  /** submit_sm the customer sent for the message (its parts when reassembled). */
  readonly parts: number;
  readonly source: string;
}

export function smppRef(registeredDelivery: number, parts: number, source: string): string {
  return `smpp${registeredDelivery}:${parts}:${source}`;
}

export function readSmppRef(ref: string | undefined): SmppRef | undefined {
  if (ref === undefined || !ref.startsWith('smpp')) return undefined;
  const colon = ref.indexOf(':');
  const colon2 = ref.indexOf(':', colon + 1);
  if (colon < 5 || colon2 < 0) return undefined;
  const rd = Number(ref.slice(4, colon));
  const parts = Number(ref.slice(colon + 1, colon2));
  if (!Number.isInteger(rd) || rd < 0 || rd > 255 || !Number.isInteger(parts) || parts < 1 || parts > 255) return undefined;
  return { registeredDelivery: rd, parts, source: ref.slice(colon2 + 1) };
}

const FINAL_OK = new Set(['delivered']);
const FINAL_FAILED = new Set(['undelivered', 'rejected', 'expired', 'stopped', 'unknown']);
const INTERMEDIATE = new Set(['sent', 'unreachable']);

/** Whether a status change is one the customer's registered_delivery asked a receipt for. */
export function wantsReceipt(registeredDelivery: number, status: string): boolean {
  const final = registeredDelivery & 0x03;
  if (FINAL_OK.has(status)) return final === 1;
  if (FINAL_FAILED.has(status)) return final === 1 || final === 2;
  if (INTERMEDIATE.has(status)) return (registeredDelivery & 0x10) !== 0;
  return false;
}

/** stat of the receipt text and message_state TLV value, by status. */
export const RECEIPT_STATE: Readonly<Record<string, { readonly stat: string; readonly state: number }>> = {
  delivered: { stat: 'DELIVRD', state: 2 },
  expired: { stat: 'EXPIRED', state: 3 },
  stopped: { stat: 'DELETED', state: 4 },
  undelivered: { stat: 'UNDELIV', state: 5 },
  rejected: { stat: 'REJECTD', state: 8 },
  unknown: { stat: 'UNKNOWN', state: 7 },
  sent: { stat: 'ENROUTE', state: 1 },
  unreachable: { stat: 'ENROUTE', state: 1 },
};
