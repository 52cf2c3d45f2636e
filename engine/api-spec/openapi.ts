/**
 * The OpenAPI 3.1 document of the HTTP API, built from the routes' specs
 * (route-spec.ts): every schema in it is zod 4's JSON Schema (draft
 * 2020-12, the dialect of OpenAPI 3.1) of the zod schema the route declares,
 * requests as their input, answers as their output. Built once at start-up
 * and served as one pre-serialised string at GET /v1/openapi.json.
 *
 * Conventions the builder adds to every operation, so no route can differ:
 *   · every error answer is `#/components/schemas/Error` under the status of
 *     its code (errors.ts HTTP_STATUS); 429 and 503 have a Retry-After header
 *   · a keyed route may answer UNAUTHORIZED; any route BAD_REQUEST (a path or
 *     query that is not valid percent-encoding) and INTERNAL (route guard);
 *     a route with a body FRAME_TOO_LARGE and BAD_FRAME (not JSON)
 *   · HEAD is answered on every GET route (headers only): not listed
 */
import { z } from 'zod';
import { HTTP_STATUS, type ErrorCode } from '../errors.js';
import { ErrorBody, type RouteSpec } from './route-spec.js';

type Json = Record<string, unknown>;

/** zod → JSON Schema 2020-12 (no $schema: the document's dialect applies). */
export function jsonSchema(s: z.ZodType, io: 'input' | 'output'): Json {
  const j = z.toJSONSchema(s, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Json;
  delete j.$schema;
  return j;
}

/** `/v1/messages/:id` → `/v1/messages/{id}`. */
export function openApiPath(pattern: string): string {
  return pattern.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

const SECURITY: Readonly<Record<RouteSpec['auth'], Json[]>> = {
  none: [],
  tenant: [{ tenantKey: [] }, { keyQuery: [] }],
  admin: [{ adminKey: [] }, { keyQuery: [] }],
  'tenant-or-admin': [{ tenantKey: [] }, { adminKey: [] }, { keyQuery: [] }],
  metrics: [{}, { metricsKey: [] }],
};

const RETRY_AFTER = { description: 'seconds to wait before retrying', schema: { type: 'integer', minimum: 1 } };

function parameters(where: 'path' | 'query' | 'header', o: z.ZodObject | undefined): Json[] {
  if (o === undefined) return [];
  const j = jsonSchema(o, 'input') as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(j.properties ?? {}).map(([name, schema]) => {
    const { description, ...rest } = schema;
    return { name, in: where, required: where === 'path' || (j.required ?? []).includes(name), ...(description === undefined ? {} : { description }), schema: rest };
  });
}

function operation(r: RouteSpec): Json {
  const codes = new Set<ErrorCode>(r.errors ?? []);
  codes.add('BAD_REQUEST');
  codes.add('INTERNAL');
  if (r.auth !== 'none' && r.auth !== 'metrics') codes.add('UNAUTHORIZED');
  if (r.body !== undefined) {
    codes.add('FRAME_TOO_LARGE');
    codes.add('BAD_FRAME');
  }
  const responses: Record<string, Json> = {};
  for (const [status, v] of Object.entries(r.ok)) {
    const { contentType, schema, description } = v instanceof z.ZodType ? { contentType: 'application/json', schema: v, description: undefined } : v;
    responses[status] = {
      description: description ?? (status === '101' ? 'switching to the WebSocket protocol' : 'success'),
      ...(status === '429' || status === '503' ? { headers: { 'Retry-After': RETRY_AFTER } } : {}),
      ...(status === '101' ? {} : { content: { [contentType]: { schema: jsonSchema(schema, 'output') } } }),
    };
  }
  const byStatus = new Map<number, ErrorCode[]>();
  for (const c of codes) {
    const s = HTTP_STATUS[c];
    if (s === 0) throw new Error(`route ${r.method} ${r.path}: ${c} never answers HTTP (errors.ts HTTP_STATUS)`);
    byStatus.set(s, [...(byStatus.get(s) ?? []), c]);
  }
  for (const [s, cs] of [...byStatus].sort((a, b) => a[0] - b[0]))
    responses[String(s)] = {
      description: cs.sort().join(', '),
      ...(s === 429 || s === 503 ? { headers: { 'Retry-After': RETRY_AFTER } } : {}),
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    };
  const params = [...parameters('path', r.params), ...parameters('query', r.query), ...parameters('header', r.headers)];
  return {
    operationId: `${r.method}${openApiPath(r.path).replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? '').toUpperCase())}`,
    summary: r.summary,
    ...(r.description === undefined ? {} : { description: r.description }),
    ...(r.tags === undefined ? {} : { tags: [...r.tags] }),
    security: SECURITY[r.auth],
    ...(params.length === 0 ? {} : { parameters: params }),
    ...(r.body === undefined ? {} : { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(r.body, 'input') } } } }),
    responses,
  };
}

/** The OpenAPI 3.1 document of `routes`. Throws on two specs for one method and path. */
export function buildOpenApi(routes: readonly RouteSpec[], version: string): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const r of routes) {
    const p = openApiPath(r.path);
    const item = (paths[p] ??= {});
    if (item[r.method] !== undefined) throw new Error(`two specs for ${r.method.toUpperCase()} ${r.path}`);
    item[r.method] = operation(r);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Switchyard HTTP API',
      version,
      description:
        'Generated from the zod schemas of the routes (engine/api-spec/). Every error answer is {code, message, details, docs} under the HTTP status of its code (README.md "Error codes"); 429 and 503 carry Retry-After. HEAD is answered on every GET route. The WebSocket protocol and the webhook payloads are described in /v1/asyncapi.json.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    servers: [{ url: '/' }],
    components: {
      schemas: { Error: jsonSchema(ErrorBody, 'output') },
      securitySchemes: {
        tenantKey: { type: 'http', scheme: 'bearer', description: "a tenant's API key (Authorization: Bearer KEY)" },
        adminKey: { type: 'http', scheme: 'bearer', description: 'the admin key (SWITCHYARD_ADMIN_KEY)' },
        metricsKey: { type: 'http', scheme: 'bearer', description: 'SWITCHYARD_METRICS_KEY, when set' },
        keyQuery: { type: 'apiKey', in: 'query', name: 'key', description: 'the key as ?key=KEY (browsers, WebSocket clients)' },
      },
    },
    paths,
  };
}
