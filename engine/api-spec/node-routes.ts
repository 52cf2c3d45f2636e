/**
 * The contracts of the routes the engine's wiring registers itself (health,
 * metrics, status, routing) and of the ingress's own (POST /v1/messages,
 * the /v1/ws upgrade), whose handlers live in modules that do not declare
 * specs: engine.ts (the feature list) and ingress/ingress-server.ts.
 */
import { z } from 'zod';
import { AckFrame, BatchAckFrame, BatchSchema, SubmitSchema } from '../ingress/frame-schemas.js';
import { route, TenantId, type RouteSpec } from './route-spec.js';

export const NODE_ROUTES: readonly RouteSpec[] = [
  route({
    method: 'post',
    path: '/v1/messages',
    summary: 'Submit a message (202 with its ack), or a batch (200 with an ack or nack per item)',
    description:
      'The same checks as a WebSocket submit. A refused submit is the error body of its code (INVALID_*, NO_ROUTE, ... 400; SENDER_NOT_ALLOWED 403; THROTTLED, QUOTA_EXCEEDED 429 with Retry-After; UNAVAILABLE, REPLICATION_TIMEOUT 503) with the submit\'s ref in details. A batch answers 200 with a result per item (each an ack or a nack frame), or the error body when the batch itself is malformed.',
    tags: ['messages'],
    auth: 'tenant',
    body: z.union([SubmitSchema, BatchSchema]),
    ok: { 202: AckFrame, 200: BatchAckFrame },
    errors: ['INVALID_FIELD', 'INVALID_NUMBER', 'INVALID_TEXT', 'INVALID_TEMPLATE', 'MESSAGE_TOO_LONG', 'NO_ROUTE', 'NUMBER_FLAGGED', 'SENDER_NOT_ALLOWED', 'THROTTLED', 'QUOTA_EXCEEDED', 'UNAVAILABLE', 'REPLICATION_TIMEOUT'],
  }),
  route({
    method: 'get',
    path: '/v1/ws',
    summary: 'The WebSocket protocol (v1): submits, acks, status and MO frames (/v1/asyncapi.json)',
    tags: ['messages'],
    auth: 'tenant',
    upgrade: true,
    query: z.object({
      since: z.string().optional().describe('resume status frames after this event id ($: from now)'),
      statuses: z.enum(['0', '1']).optional().describe('0: a submit-only connection, no status frames'),
    }),
    ok: { 101: z.unknown() },
    errors: ['TOO_MANY_CONNECTIONS'],
  }),
  route({ method: 'get', path: '/healthz', summary: 'The process is alive', tags: ['health'], auth: 'none', ok: { 200: z.object({ status: z.literal('ok') }) } }),
  route({
    method: 'get',
    path: '/metrics',
    summary: "Prometheus exposition of every thread's metrics",
    tags: ['health'],
    auth: 'metrics',
    ok: { 200: { contentType: 'text/plain', schema: z.string(), description: 'Prometheus text format 0.0.4' } },
    errors: ['UNAUTHORIZED', 'UNAVAILABLE'],
  }),
  route({ method: 'get', path: '/v1/status', summary: "This node's ingress, actors, analytics, webhooks and routing figures", tags: ['health'], auth: 'admin', ok: { 200: z.looseObject({ ingress: z.looseObject({}), actors: z.unknown(), routing: z.looseObject({}) }) } }),
  route({
    method: 'get',
    path: '/v1/routes/explain',
    summary: "Why a number goes where it goes: network, every candidate with its price and eligibility, the choice",
    tags: ['routing'],
    auth: 'admin',
    query: z.object({ to: z.string().describe('the number, e.g. +4791234567 (an unencoded + reads as a space and is taken as +)'), tenant: TenantId.optional().describe('default the first tenant') }),
    ok: { 200: z.looseObject({}) },
    errors: ['INVALID_NUMBER'],
  }),
  route({ method: 'post', path: '/v1/admin/routing/reload', summary: 'Re-read the config and plan files and swap the routing in whole', tags: ['routing'], auth: 'admin', ok: { 200: z.looseObject({ ok: z.literal(true) }) }, errors: ['CONFIG_INVALID'] }),
];

