/**
 * How a webhook POST is signed. The receiver recomputes
 *
 *   HMAC-SHA256(key = the tenant's secret as UTF-8 bytes,
 *               message = "<X-Switchyard-Timestamp>" + "." + <the raw body bytes>)
 *
 * and compares it, in constant time, with the hex after "v1=" in
 * X-Switchyard-Signature; it refuses timestamps more than a few minutes from
 * its own clock (a captured request cannot be replayed later) and drops
 * events whose `eid` it has already processed (deliveries are at least once).
 * The timestamp is in the signed message, so it cannot be changed without
 * breaking the signature; every attempt is signed afresh with the time it is
 * sent. The scheme is versioned ("v1=") so that a later one can be sent next
 * to it (comma-separated) during a migration. README "Webhooks" has the
 * receiver's code; test/unit/webhook-signature.test.ts checks the bytes.
 * The same construction as Stripe's and Svix's webhook signatures.
 */
import { createHmac } from 'node:crypto';

export const TIMESTAMP_HEADER = 'x-switchyard-timestamp';
export const SIGNATURE_HEADER = 'x-switchyard-signature';

/** The X-Switchyard-Signature value for a body sent at `timestampSec` (Unix seconds). */
export function signWebhook(secret: string, timestampSec: number, body: Uint8Array | string): string {
  return 'v1=' + createHmac('sha256', secret).update(`${timestampSec}.`).update(body).digest('hex');
}
