/**
 * The contracts of the ingress's own routes (POST /v1/messages, the /v1/ws
 * upgrade): their handlers are in ingress/ingress-server.ts, their frames in
 * ingress/frame-schemas.ts.
 */
import { z } from 'zod';
import { AckFrame, BatchAckFrame, BatchSchema, SubmitSchema } from '../ingress/frame-schemas.js';
import { route, type RouteSpec } from './route-spec.js';

export const INGRESS_ROUTES: readonly RouteSpec[] = [
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
];

