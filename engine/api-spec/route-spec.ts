/**
 * What an HTTP route is, for its contract: method, path, who may call it,
 * its path parameters, query, body and answers as zod schemas. Route modules
 * declare their routes' specs next to their handlers (an exported array of
 * `route({...})`); engine/api-spec/api-routes.ts lists those arrays, and
 * openapi.ts builds the OpenAPI 3.1 document served at /v1/openapi.json from
 * them (zod 4's own JSON Schema output, no second hand-written copy).
 *
 * Adding a route: one `route({...})` entry beside its handler. The contract
 * test (test/integration/openapi.test.ts) fails while a registered route has
 * no spec, or a spec no route, and checks real answers against the schemas.
 *
 * Errors are declared by code only (`errors: ['NOT_FOUND', ...]`): the status
 * comes from errors.ts HTTP_STATUS and the body is the one HTTP error body
 * (ErrorBody below), so neither can be declared differently per route.
 */
import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from '../errors.js';

/** Who may call a route: no key, a tenant's API key, the admin key (SWITCHYARD_ADMIN_KEY), either, or the metrics key. */
export type RouteAuth = 'none' | 'tenant' | 'admin' | 'tenant-or-admin' | 'metrics';

export interface RouteSpec {
  readonly method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** The uWS pattern as registered (`/v1/messages/:id`); the document writes `{id}`. */
  readonly path: string;
  readonly summary: string;
  readonly description?: string;
  readonly tags?: readonly string[];
  readonly auth: RouteAuth;
  /** A WebSocket upgrade (GET answered 101): its frames are in the AsyncAPI document. */
  readonly upgrade?: boolean;
  readonly params?: z.ZodObject;
  readonly query?: z.ZodObject;
  /** Request headers beyond the key (e.g. Idempotency-Key). */
  readonly headers?: z.ZodObject;
  readonly body?: z.ZodType;
  /** The success answers by status: a JSON schema, or another content type with its schema. */
  readonly ok: Readonly<Record<number, z.ZodType | { readonly contentType: string; readonly schema: z.ZodType; readonly description?: string }>>;
  /** Error codes the route may answer (UNAUTHORIZED, BAD_REQUEST and INTERNAL are added for every keyed route). */
  readonly errors?: readonly ErrorCode[];
}

/** Declares a route's contract (identity: it gives the spec its type and a place to look for). */
export function route(spec: RouteSpec): RouteSpec {
  return spec;
}

/** The HTTP error body of every error answer (engine/http/http-kit.ts httpErrorBody). */
export const ErrorBody = z
  .object({
    code: z.enum(ERROR_CODES as [ErrorCode, ...ErrorCode[]]).describe('stable error code: README.md "Error codes"'),
    message: z.string().describe('what is wrong and what to do, for people'),
    details: z.record(z.string(), z.unknown()).describe('what the code needs beyond the message (ref, id, status, retryAfterSec, ...); {} when nothing'),
    docs: z.string().describe("the code's row in README.md \"Error codes\""),
  })
  .strict();

/** A message id, as acks give them. */
export const MessageId = z.string().regex(/^[0-9a-z]{1,40}$/).describe('message id (from its ack)');

/** A phone number in E.164 with its +. */
export const E164 = z.string().regex(/^\+[0-9]{6,15}$/).describe('E.164 with +');

/** A tenant id. */
export const TenantId = z.string().min(1).describe('tenant id');

/** A query integer: digits, read as a number. */
export const QueryInt = z.string().regex(/^[0-9]+$/);

/** What is wrong with a request part, for an INVALID_FIELD answer: the first issue in the message, all of them in details. */
export interface SchemaRefusal {
  readonly ok: false;
  readonly message: string;
  readonly details: { readonly issues: ReadonlyArray<{ readonly path: string; readonly message: string }> };
}

/**
 * Checks a request part (a body, a query) against the zod schema its route
 * declares: the same schema the OpenAPI document shows, so the two cannot
 * drift. Bounded: at most 10 issues are reported.
 */
export function checkAgainst<T>(schema: z.ZodType<T>, value: unknown): { readonly ok: true; readonly value: T } | SchemaRefusal {
  const r = schema.safeParse(value);
  if (r.success) return { ok: true, value: r.data };
  const issues = r.error.issues.slice(0, 10).map((i) => ({ path: i.path.map(String).join('.') || '(body)', message: i.message }));
  const first = issues[0] as { path: string; message: string };
  return { ok: false, message: `${first.path === '(body)' ? 'the body' : `"${first.path}"`}: ${first.message}`, details: { issues } };
}
