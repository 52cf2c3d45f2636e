/**
 * The AsyncAPI 3.0 document of what is not request/response: the WebSocket
 * protocol (/v1/ws: ops, frames both ways, close codes), the analytics feed
 * (/v1/analytics/ws) and the webhook POSTs a tenant's receiver gets. Every
 * payload is the JSON Schema (draft-07, AsyncAPI's schema dialect) of a zod
 * schema in engine/ingress/frame-schemas.ts. Served at /v1/asyncapi.json.
 *
 * Close codes have no AsyncAPI field: they are the channel's
 * `x-close-codes` (the same table as README "WebSocket protocol").
 */
import { z } from 'zod';
import * as F from '../ingress/frame-schemas.js';

type Json = Record<string, unknown>;

function schema(s: z.ZodType): Json {
  const j = z.toJSONSchema(s, { target: 'draft-7', io: 'output', unrepresentable: 'any' }) as Json;
  delete j.$schema;
  return j;
}

/** Message name → [title, zod schema]: the components of the document. */
const MESSAGES: Readonly<Record<string, readonly [string, z.ZodType]>> = {
  submit: ['Submit one message', F.SubmitSchema],
  batch: ['Submit many messages (common fields + items)', F.BatchSchema],
  cancel: ['Cancel a message', F.CancelFrame],
  ping: ['Ping', F.PingFrame],
  optoutAdd: ["Add numbers to the tenant's opt-out list", F.OptOutAddFrame],
  optoutRemove: ["Remove a number from the tenant's opt-out list", F.OptOutRemoveFrame],
  optoutCheck: ['Whether a number opted out', F.OptOutCheckFrame],
  optoutList: ["A page of the tenant's opt-out list", F.OptOutListFrame],
  hello: ['Sent on open: the connection\'s limits', F.HelloFrame],
  ack: ['A submit accepted (only after Redis confirmed it)', F.AckFrame],
  nack: ['A submit refused, with its code', F.NackFrame],
  batchAck: ['An ack or nack per batch item, in item order', F.BatchAckFrame],
  cancelAck: ['A cancel done: the message is stopped', F.CancelAckFrame],
  cancelNack: ['A cancel refused', F.CancelNackFrame],
  pong: ['Answer to ping', F.PongFrame],
  error: ['A frame that could not be handled, an opt-out refusal, or the RESUME_LIMITED notice', F.ErrorFrame],
  optoutResult: ['Answer to an optout_* op', F.OptOutResultFrame],
  status: ['A status event of a message (at least once; drop repeats by eid)', F.StatusFrame],
  mo: ['An inbound message to one of the tenant\'s numbers', F.MoFrame],
  feedHello: ['Sent on open: the feed\'s scope and interval', F.FeedHelloFrame],
  feedTick: ['Every second', F.FeedTickFrame],
  feedRollup: ['Per-second rollups per SMSC and country', F.FeedRollupFrame],
  webhookBatch: ['A webhook POST body (signed: README "Webhooks")', F.WebhookBatch],
};

/** Close codes the server ends a /v1/ws connection with (ingress-server.ts WS_CLOSE, README). */
export const WS_CLOSE_CODES: ReadonlyArray<{ readonly code: number; readonly reason: string }> = [
  { code: 1001, reason: 'the engine is shutting down' },
  { code: 1009, reason: 'a frame over 4 × server.maxFrameBytes' },
  { code: 4008, reason: 'slow consumer: unread output over server.maxBufferedBytes, or over maxBackpressureBytes for slowConsumerCloseSec' },
  { code: 4029, reason: "flooding: 1,000 frames in a row while the tenant was over its share of server.ingressCpuMsPerSec" },
];

const refs = (names: readonly string[], channel: string) => names.map((n) => ({ $ref: `#/channels/${channel}/messages/${n}` }));
const channelMessages = (names: readonly string[]) => Object.fromEntries(names.map((n) => [n, { $ref: `#/components/messages/${n}` }]));

const WS_IN = ['submit', 'batch', 'cancel', 'ping', 'optoutAdd', 'optoutRemove', 'optoutCheck', 'optoutList'];
const WS_OUT = ['hello', 'ack', 'nack', 'batchAck', 'cancelAck', 'cancelNack', 'pong', 'error', 'optoutResult', 'status', 'mo'];
const FEED_OUT = ['feedHello', 'feedTick', 'feedRollup', 'pong'];

/** The AsyncAPI 3.0 document. */
export function buildAsyncApi(version: string): Json {
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Switchyard WebSocket protocol and webhooks',
      version,
      description: 'Generated from the zod schemas in engine/ingress/frame-schemas.ts. README "WebSocket protocol (v1)" and "Webhooks" say the rest (keys, resume, signatures).',
    },
    defaultContentType: 'application/json',
    channels: {
      ws: {
        address: '/v1/ws',
        title: 'submits, acks, status and MO frames of one tenant',
        messages: channelMessages([...WS_IN, ...WS_OUT]),
        'x-close-codes': WS_CLOSE_CODES,
      },
      analyticsFeed: { address: '/v1/analytics/ws', title: 'live analytics rollups', messages: channelMessages(FEED_OUT) },
      webhook: { address: null, title: "a tenant's webhook URL (tenants[].webhook.url)", messages: channelMessages(['webhookBatch']) },
    },
    operations: {
      clientSends: { action: 'receive', channel: { $ref: '#/channels/ws' }, summary: 'frames a client sends', messages: refs(WS_IN, 'ws') },
      serverSends: { action: 'send', channel: { $ref: '#/channels/ws' }, summary: 'frames the engine sends', messages: refs(WS_OUT, 'ws') },
      feed: { action: 'send', channel: { $ref: '#/channels/analyticsFeed' }, messages: refs(FEED_OUT, 'analyticsFeed') },
      postWebhook: { action: 'send', channel: { $ref: '#/channels/webhook' }, summary: 'POSTed to the tenant\'s receiver', messages: refs(['webhookBatch'], 'webhook') },
    },
    components: {
      messages: Object.fromEntries(Object.entries(MESSAGES).map(([name, [title, s]]) => [name, { name, title, payload: schema(s) }])),
    },
  };
}
