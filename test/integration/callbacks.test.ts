/**
 * Per-message callbacks (issue 15) end to end (engine, Redis, a simulated SMSC,
 * two webhook receivers on loopback): a submit's `callbackUrl` takes its status
 * events instead of the tenant's webhook, signed with the tenant's secret;
 * the other messages' events still go to the tenant's webhook; every status
 * event carries `to`, `from`, `parts`, `price`, `currency` and `ref`. On a
 * single Redis and on the local Redis Cluster.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { HarnessOptions } from '../../engine/loadgen/harness.js';
import type { RedisTarget } from '../../engine/redis/connect-redis.js';
import { harnessSession } from '../helpers/harness-session.js';
import { clusterTarget } from '../helpers/redis-cluster.js';
import { waitFor } from '../helpers/wait-for.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import type { Frame } from '../helpers/ws-client.js';

const session = harnessSession();
const receivers: WebhookReceiver[] = [];
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.stop();
});
const targets: Array<[string, () => Partial<HarnessOptions>]> = [
  ['a single Redis', () => ({ shards: 4 })],
  ['the Redis Cluster', () => ({ shards: 4, redis: clusterTarget() as RedisTarget })],
];

async function receiver(secret: string): Promise<WebhookReceiver> {
  const r = new WebhookReceiver({ secret });
  await r.up();
  receivers.push(r);
  return r;
}

describe.each(targets)('per-message callbacks on %s', (_name, target) => {
  it('callbackUrl takes the message\'s status events instead of the tenant\'s webhook, signed the same way, with to, from, parts, price, ref', async () => {
    const secret = randomBytes(24).toString('hex');
    const tenantHook = await receiver(secret);
    const perMessage = await receiver(secret);
    await session.start({
      ...target(),
      keyPrefix: `cb:${randomBytes(3).toString('hex')}:`,
      smscs: 1,
      sim: { receiptDelayMs: 0 },
      env: { SY_CB_SECRET: secret },
      configOverrides: (raw) => {
        ((raw.tenants as Array<Record<string, unknown>>)[0] as Record<string, unknown>).webhook = { url: tenantHook.url, secret: { env: 'SY_CB_SECRET' }, backoffMs: { min: 50, max: 400 } };
        // The receivers listen on loopback.
        if (raw.messages === undefined) raw.messages = {};
        (raw.messages as Record<string, unknown>).callbackPrivateAddresses = true;
      },
    });
    const c = await session.client();
    const cbUrl = `${perMessage.url}?order=7`;
    c.send({ op: 'batch', ref: 'b', items: [
      { ref: 'own', to: '+4791234567', from: 'Acme', text: 'with its own callback', callbackUrl: cbUrl },
      { ref: 'plain', to: '+4791234568', from: '4790000000', text: 'to the tenant webhook '.repeat(10) },
    ] });
    await waitFor(() => c.frames.some((f) => f.op === 'batch_ack'), 10_000, 'batch_ack');
    const [own, plain] = c.frames.find((f) => f.op === 'batch_ack')?.results as Frame[];
    expect(own).toMatchObject({ op: 'ack' });
    expect(plain).toMatchObject({ op: 'ack' });
    const delivered = (r: WebhookReceiver, id: string) => r.events.some((e) => e.id === id && e.status === 'delivered');
    await waitFor(() => delivered(perMessage, own?.id as string) && delivered(tenantHook, plain?.id as string), 30_000, 'both messages delivered, each to its URL');
    // Each message's events went to one URL only.
    expect(perMessage.events.filter((e) => e.id === plain?.id)).toEqual([]);
    expect(tenantHook.events.filter((e) => e.id === own?.id)).toEqual([]);
    expect(perMessage.posts.every((p) => p.validSignature)).toBe(true);
    expect(perMessage.events.find((e) => e.status === 'delivered')).toMatchObject({
      id: own?.id, ref: 'own', to: '+4791234567', from: 'Acme', parts: 1, price: own?.price, currency: own?.currency, callbackUrl: cbUrl,
    });
    expect(tenantHook.events.find((e) => e.id === plain?.id && e.status === 'delivered')).toMatchObject({
      ref: 'plain', to: '+4791234568', from: '4790000000', parts: plain?.parts, price: plain?.price, currency: plain?.currency,
    });
    expect(plain?.parts).toBe(2);
  }, 120_000);
});

describe('callbackUrl is checked', () => {
  it('refused: another scheme, credentials, a private address (by default), a tenant without a webhook', async () => {
    await session.start({ keyPrefix: `cbv:${randomBytes(3).toString('hex')}:`, smscs: 1 });
    const c = await session.client();
    const items = ['ftp://example.com/x', 'https://user:pw@example.com/x', 'http://127.0.0.1:9/x', 'http://169.254.169.254/latest', 'https://example.com/hook'].map((u, i) => ({ ref: `v${i}`, to: '+4791234567', from: 'Acme', text: 'x', callbackUrl: u }));
    c.send({ op: 'batch', ref: 'v', items });
    await waitFor(() => c.frames.some((f) => f.op === 'batch_ack'), 10_000, 'batch_ack');
    const res = c.frames.find((f) => f.op === 'batch_ack')?.results as Frame[];
    expect(res.map((r) => r.code)).toEqual(['INVALID_FIELD', 'INVALID_FIELD', 'INVALID_FIELD', 'INVALID_FIELD', 'INVALID_FIELD']);
    expect(res[0]?.error).toContain('http or https');
    expect(res[1]?.error).toContain('credentials');
    expect(res[2]?.error).toContain('private');
    expect(res[3]?.error).toContain('link-local');
    expect(res[4]?.error).toContain('tenant\'s webhook');
  }, 60_000);
});
