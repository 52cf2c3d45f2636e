/**
 * The submit and the frames of the WebSocket protocol (README "WebSocket
 * protocol (v1)") as zod schemas: the contract the OpenAPI document
 * (POST /v1/messages) and the AsyncAPI document (/v1/ws, webhooks) are
 * generated from (engine/api-spec/).
 *
 * A submit is checked on the hot path by parse-submit.ts (a hand-written
 * parser: specific codes and texts, no allocation per field); SubmitSchema is
 * its description, and test/unit/submit-schema.test.ts holds the two together:
 * the same field names, and a corpus of submits each accepted or refused by
 * both. A field added to parse-submit.ts goes here as well (the test fails
 * until it does).
 */
import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from '../errors.js';

const Code = z.enum(ERROR_CODES as [ErrorCode, ...ErrorCode[]]);
const Ref = z.string().max(64).describe('yours, echoed in the answer (at most 64 characters)');
const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

/** The fields of one submit (parse-submit.ts): every field optional here, for a batch's `common` and items. */
export const SubmitFieldsSchema = z
  .object({
    op: z.literal('submit').optional().describe('WebSocket only'),
    ref: Ref.optional(),
    to: z.string().min(1).describe('E.164 (README "Numbers")'),
    from: z.string().regex(/^(?:[A-Za-z0-9 ._-]{1,11}|\+?[0-9]{1,15})$/).describe('1-11 letters, digits, space, ".", "_" or "-", or a number of up to 15 digits'),
    text: z.string().describe('the message (or give template and vars)'),
    template: z.string().max(8000).describe('a text with {{name}} placeholders, instead of text'),
    vars: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).describe("the recipient's template variables"),
    validity: z.number().int().describe('seconds, messages.minValiditySec..maxValiditySec'),
    dlr: z.boolean().describe('false: no status frames or webhooks for it'),
    sendAt: z.union([z.number().int().min(1e12), z.string().regex(ISO_WITH_ZONE)]).describe('ms since 1970, or ISO 8601 with a zone; at most messages.maxScheduleSec ahead'),
    transliterate: z.boolean().describe("override the tenant's transliteration"),
    idempotencyKey: z.string().regex(/^[\x21-\x7e]{1,255}$/).describe('a repeat within messages.idempotencyWindowSec returns the first ack ("repeat": true); another body with it is IDEMPOTENCY_CONFLICT (HTTP: the Idempotency-Key header)'),
    callbackUrl: z.string().max(2048).describe("http(s) URL for this message's status events instead of the tenant's webhook, signed the same way; no credentials in it"),
  })
  .partial()
  .strict();

/** One submit: `to`, `from` and a text or template are required. */
export const SubmitSchema = SubmitFieldsSchema.required({ to: true, from: true }).refine((s) => (s.text === undefined) !== (s.template === undefined), {
  message: 'give either "text" or "template"',
});

/** A batch (HTTP body or WebSocket frame): `common` fields shared by every item; an item's own fields win. */
export const BatchSchema = z
  .object({
    op: z.literal('batch').optional().describe('WebSocket only'),
    ref: Ref.optional(),
    common: SubmitFieldsSchema.optional(),
    items: z.array(SubmitFieldsSchema).min(1).describe('at most server.maxBatchItems'),
  })
  .strict();

export const AckFrame = z.object({
  op: z.literal('ack'),
  ref: z.string(),
  id: z.string(),
  status: z.enum(['queued', 'scheduled', 'stopped', 'pending_approval', 'paused']),
  parts: z.number().int(),
  encoding: z.string(),
  price: z.number(),
  currency: z.string(),
  repeat: z.literal(true).optional().describe('the answer to a repeated idempotencyKey: the first submit\'s message'),
});
export const NackFrame = z.object({ op: z.literal('nack'), ref: z.string(), code: Code, error: z.string() });
export const BatchAckFrame = z.object({ op: z.literal('batch_ack'), ref: z.string(), results: z.array(z.union([AckFrame, NackFrame])) });

// ── the rest of the WebSocket protocol (AsyncAPI: engine/api-spec/asyncapi.ts) ──

const Id = z.string().describe('message id');
const Eid = z.string().regex(/^(s[0-9]+-)?[0-9]+-[0-9]+$/).describe('event id s<K>-<ms>-<seq>: resume with ?since=');
const Reason = z.object({ code: z.string(), text: z.string() });

export const CancelFrame = z.object({ op: z.literal('cancel'), ref: Ref.optional(), id: Id });
export const PingFrame = z.object({ op: z.literal('ping'), ref: z.string().optional() });
export const OptOutAddFrame = z.object({ op: z.literal('optout_add'), ref: Ref.optional(), numbers: z.array(z.string()).min(1).max(1000).optional(), number: z.string().optional() });
export const OptOutRemoveFrame = z.object({ op: z.literal('optout_remove'), ref: Ref.optional(), number: z.string() });
export const OptOutCheckFrame = z.object({ op: z.literal('optout_check'), ref: Ref.optional(), number: z.string() });
export const OptOutListFrame = z.object({ op: z.literal('optout_list'), ref: Ref.optional(), after: z.string().optional(), limit: z.number().int().min(1).max(1000).optional() });

export const HelloFrame = z.object({ op: z.literal('hello'), v: z.literal(1), tenant: z.string(), window: z.number().int(), maxFrameBytes: z.number().int(), maxBatchItems: z.number().int() });
export const CancelAckFrame = z.object({ op: z.literal('cancel_ack'), ref: z.string(), id: z.string(), status: z.literal('stopped') });
export const CancelNackFrame = z.object({ op: z.literal('cancel_nack'), ref: z.string(), id: z.string(), code: Code, status: z.string().optional().describe('NOT_CANCELLABLE: where the message is'), error: z.string() });
export const PongFrame = z.object({ op: z.literal('pong'), ref: z.string().optional() });
/** A frame that could not be handled, an opt-out op's refusal, or the RESUME_LIMITED notice (with `from`). */
export const ErrorFrame = z.object({ op: z.literal('error'), code: Code, error: z.string(), ref: z.string().optional(), from: Eid.optional() });
export const OptOutResultFrame = z.looseObject({ op: z.literal('optout_result'), ref: z.string() });
/** A status event (also a webhook event). Fields beyond these may be added; clients ignore what they do not know. */
export const StatusFrame = z.looseObject({
  eid: Eid,
  op: z.literal('status'),
  id: Id,
  ref: z.string(),
  status: z.string().describe('scheduled, queued, sent, unreachable, delivered, undelivered, rejected, expired, unknown, pending_approval, paused, stopped (new ones may come)'),
  at: z.number().describe('ms since 1970'),
  error: Reason.optional().describe('failures only: the operator\'s code and text, or the engine\'s reason (README "Status reasons")'),
});
/** An inbound (MO) message (also a webhook event). */
export const MoFrame = z.looseObject({
  eid: Eid,
  op: z.literal('mo'),
  id: Id,
  from: z.string(),
  to: z.string(),
  text: z.string(),
  at: z.number(),
  smsc: z.string(),
  optOut: z.boolean().optional(),
});

/** The body of a webhook POST (engine/webhooks/webhook-batch.ts). */
export const WebhookBatch = z.object({ v: z.literal(1), tenant: z.string(), events: z.array(z.union([StatusFrame, MoFrame])) });

/** The analytics feed (/v1/analytics/ws, engine/http/analytics-routes.ts). */
export const FeedHelloFrame = z.object({ op: z.literal('hello'), v: z.literal(1), scope: z.string().describe('"*" for the admin key, else the tenant'), interval: z.number().int() });
export const FeedTickFrame = z.object({ op: z.literal('tick'), t: z.number() });
export const FeedRollupFrame = z.looseObject({ op: z.literal('rollup'), t: z.number(), smsc: z.unknown(), country: z.unknown() });
