/**
 * The test webhook receiver (engine/loadgen/webhook-receiver.ts: checks every
 * signature, can be switched down, failing, hanging or slow, and up again),
 * with what tests ask of it.
 */
import { randomBytes } from 'node:crypto';
import { WebhookReceiver, type ReceivedEvent } from '../../engine/loadgen/webhook-receiver.js';
import { waitFor } from './wait-for.js';

export { WebhookReceiver, verifyWebhookSignature, type ReceivedEvent, type ReceivedPost } from '../../engine/loadgen/webhook-receiver.js';

/** A receiver with a fresh secret, listening (answers 200) unless `down`. */
export async function startReceiver(o: { down?: boolean } = {}): Promise<{ receiver: WebhookReceiver; secret: string }> {
  const secret = randomBytes(24).toString('hex');
  const receiver = new WebhookReceiver({ secret });
  await receiver.up();
  if (o.down === true) await receiver.down();
  return { receiver, secret };
}

/** Waits until the receiver has accepted `n` distinct events. */
export async function waitForEvents(r: WebhookReceiver, n: number, timeoutMs: number, what = 'webhook events'): Promise<void> {
  await waitFor(() => r.eids.size >= n, timeoutMs, `${what} (${n}; have ${r.eids.size})`);
}

/** Accepted events of one message id, in arrival order. */
export function eventsOf(r: WebhookReceiver, id: string): ReceivedEvent[] {
  return r.events.filter((e) => e.id === id);
}
