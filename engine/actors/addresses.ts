/**
 * Source and destination addresses of a submit_sm as one SMSC wants them:
 * the sender is classified and each class has its TON/NPI (configured per
 * SMSC, `smscs[].addresses`). Pure.
 *
 *   from                                   class           TON/NPI (default)
 *   has a letter or punctuation ("Acme")   alphanumeric    5/0
 *   ≤ shortCodeMaxDigits digits ("2222")   shortCode       3/0
 *   digits starting with 0 ("090000000")   national        2/1
 *   other digits ("4790000000")            international   1/1
 *   the recipient (always E.164 digits)    destination     1/1
 *
 * The ingress keeps `from` as given without its '+', so a number's class is
 * read from its digits: an international sender is written with its country
 * code, a national one with its trunk prefix 0.
 */

export interface TonNpi {
  readonly ton: number;
  readonly npi: number;
}

export type SenderClass = 'alphanumeric' | 'shortCode' | 'national' | 'international';

export interface AddressPlan extends Readonly<Record<SenderClass, TonNpi>> {
  readonly destination: TonNpi;
  /** All-digit senders of at most this many digits are short codes. */
  readonly shortCodeMaxDigits: number;
}

const DIGITS = /^[0-9]+$/;

export function classifySender(from: string, shortCodeMaxDigits: number): SenderClass {
  if (!DIGITS.test(from)) return 'alphanumeric';
  if (from.length <= shortCodeMaxDigits) return 'shortCode';
  return from.charCodeAt(0) === 48 ? 'national' : 'international';
}

/** The sender's TON/NPI under an SMSC's plan. */
export function senderTonNpi(plan: AddressPlan, from: string): TonNpi {
  return plan[classifySender(from, plan.shortCodeMaxDigits)];
}
