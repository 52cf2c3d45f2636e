/**
 * The API's contract documents without a server (issue 15): the generated
 * OpenAPI 3.1 document is valid, the README's error table agrees with the one
 * code → HTTP status table (errors.ts HTTP_STATUS), every HTTP error body
 * matches the documented schema, and the submit's zod schema (the document's)
 * agrees with the hand-written parser that checks submits on the hot path.
 * The routes and real answers of a running engine: test/integration/api-contract.test.ts.
 */
import { readFileSync } from 'node:fs';
import SwaggerParser from '@apidevtools/swagger-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Ajv } from 'ajv';
import type { OpenAPI } from 'openapi-types';
import { describe, expect, it } from 'vitest';
import { API_ROUTES } from '../../engine/api-spec/api-routes.js';
import { buildAsyncApi } from '../../engine/api-spec/asyncapi.js';
import { buildOpenApi, jsonSchema } from '../../engine/api-spec/openapi.js';
import { ErrorBody } from '../../engine/api-spec/route-spec.js';
import { API_VERSION } from '../../engine/api-spec/spec-routes.js';
import { docsOf, ERROR_CODES, HTTP_STATUS } from '../../engine/errors.js';
import { httpErrorBody } from '../../engine/http/http-kit.js';
import { SubmitFieldsSchema, SubmitSchema } from '../../engine/ingress/frame-schemas.js';
import { isRefusal, parseSubmit } from '../../engine/ingress/parse-submit.js';

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document (swagger-parser) with an operation per route spec', async () => {
    const doc = buildOpenApi(API_ROUTES, API_VERSION);
    expect(doc.openapi).toBe('3.1.0');
    // validate() dereferences in place: give it a copy.
    await expect(SwaggerParser.validate(structuredClone(doc) as unknown as OpenAPI.Document)).resolves.toBeDefined();
    const ops = Object.values(doc.paths as Record<string, Record<string, unknown>>).reduce((n, item) => n + Object.keys(item).length, 0);
    expect(ops).toBe(API_ROUTES.length);
  });

  it('refuses two specs for one method and path, and an error code that never answers HTTP', () => {
    const r = API_ROUTES[0] as (typeof API_ROUTES)[0];
    expect(() => buildOpenApi([r, r], API_VERSION)).toThrow(/two specs for/);
    expect(() => buildOpenApi([{ ...r, errors: ['SMPP_TIMEOUT'] }], API_VERSION)).toThrow(/SMPP_TIMEOUT never answers HTTP/);
  });

  it('gives every 429 and 503 a Retry-After header and every error the one Error schema', () => {
    const doc = buildOpenApi(API_ROUTES, API_VERSION) as { paths: Record<string, Record<string, { responses: Record<string, { headers?: Record<string, unknown>; content?: Record<string, { schema: unknown }> }> }>> };
    let seen = 0;
    for (const [path, item] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(item))
        for (const [status, r] of Object.entries(op.responses)) {
          if (status === '429' || status === '503') expect(r.headers?.['Retry-After'], `${method} ${path} ${status}`).toBeDefined();
          if (Number(status) >= 400 && !(path === '/readyz' && status === '503')) {
            expect(r.content?.['application/json']?.schema, `${method} ${path} ${status}`).toEqual({ $ref: '#/components/schemas/Error' });
            seen++;
          }
        }
    expect(seen).toBeGreaterThan(API_ROUTES.length);
  });
});

describe('the HTTP error body', () => {
  it('of every code that answers HTTP matches the documented schema, with docs pointing at its README row', () => {
    const validate = new Ajv2020({ strict: false }).compile(jsonSchema(ErrorBody, 'output'));
    const readme = readFileSync('README.md', 'utf8');
    for (const code of ERROR_CODES.filter((c) => HTTP_STATUS[c] !== 0)) {
      const body = JSON.parse(httpErrorBody(code, `why "${code}"`, { ref: 'r1' })) as Record<string, unknown>;
      expect(validate(body), `${code}: ${JSON.stringify(validate.errors)}`).toBe(true);
      expect(body).toEqual({ code, message: `why "${code}"`, details: { ref: 'r1' }, docs: docsOf(code) });
      expect(readme).toContain(`<a id="${docsOf(code).slice('README.md#'.length)}"></a>`);
    }
    expect(JSON.parse(httpErrorBody('NOT_FOUND', 'no'))).toMatchObject({ details: {} });
  });
});

describe("README's error table", () => {
  it('lists every code once, with the HTTP status of errors.ts HTTP_STATUS ("—" for none)', () => {
    const readme = readFileSync('README.md', 'utf8');
    const at = readme.indexOf('## Error codes');
    const table = readme.slice(readme.indexOf('| code | HTTP | meaning |', at), readme.indexOf('\n\n', readme.indexOf('| code | HTTP | meaning |', at)));
    const listed = new Map<string, string>();
    for (const row of table.split('\n').slice(2)) {
      // | <a id="err-…"></a>`CODE` | 400 | meaning |
      const [codes = '', http = ''] = row.slice(2).split(' | ');
      for (const m of codes.matchAll(/`([A-Z][A-Z0-9_]+)`/g)) {
        expect(listed.has(m[1] as string), `${m[1]} listed twice`).toBe(false);
        listed.set(m[1] as string, http);
      }
    }
    expect([...listed.keys()].sort()).toEqual([...ERROR_CODES].sort());
    for (const code of ERROR_CODES) expect(listed.get(code), code).toBe(HTTP_STATUS[code] === 0 ? '—' : String(HTTP_STATUS[code]));
  });
});

describe('the submit schema and parse-submit.ts', () => {
  const limits = { minValiditySec: 60, maxValiditySec: 86_400, maxScheduleSec: 30 * 86_400 };
  const now = 1_767_225_600_000;
  const ok = { to: '+4791234567', from: 'Acme', text: 'hi' };

  it('name the same fields', () => {
    const src = readFileSync('engine/ingress/parse-submit.ts', 'utf8');
    const known = /const KNOWN = new Set\(\[([^\]]*)\]\)/.exec(src)?.[1];
    expect(known, 'parse-submit.ts declares its fields in KNOWN').toBeDefined();
    const fields = [...(known as string).matchAll(/'([A-Za-z]+)'/g)].map((m) => m[1]);
    expect(fields.sort()).toEqual(Object.keys(SubmitFieldsSchema.shape).sort());
  });

  it.each<[string, Record<string, unknown>]>([
    ['a plain submit', ok],
    ['every optional field', { ...ok, op: 'submit', ref: 'r1', validity: 3600, dlr: false, sendAt: now + 60_000, transliterate: true }],
    ['an ISO sendAt with a zone', { ...ok, sendAt: '2026-01-01T09:00:00+01:00' }],
    ['a template with vars', { to: ok.to, from: ok.from, template: 'Hi {{name}}', vars: { name: 'Ola' } }],
    ['a numeric sender', { ...ok, from: '+4712345678' }],
    ['no to', { from: 'Acme', text: 'hi' }],
    ['no from', { to: ok.to, text: 'hi' }],
    ['no text', { to: ok.to, from: 'Acme' }],
    ['text and template', { ...ok, template: 'x' }],
    ['an unknown field', { ...ok, colour: 'red' }],
    ['a number as text', { ...ok, text: 5 }],
    ['a long ref', { ...ok, ref: 'x'.repeat(65) }],
    ['a sender of 12 letters', { ...ok, from: 'AcmeAcmeAcme' }],
    ['a string dlr', { ...ok, dlr: 'yes' }],
    ['a fractional validity', { ...ok, validity: 3600.5 }],
    ['a zoneless sendAt', { ...ok, sendAt: '2026-01-01T09:00:00' }],
    ['a sendAt in seconds', { ...ok, sendAt: 1_767_225_600 }],
    ['a string transliterate', { ...ok, transliterate: 'no' }],
    ['an empty to', { ...ok, to: '' }],
  ])('accept or refuse %s alike', (_what, submit) => {
    const byParser = !isRefusal(parseSubmit(submit, limits, now));
    expect(SubmitSchema.safeParse(submit).success).toBe(byParser);
  });
});

describe('the AsyncAPI document', () => {
  it('references only messages it defines, and every payload compiles as JSON Schema draft-07', () => {
    const doc = buildAsyncApi(API_VERSION) as { asyncapi: string; channels: Record<string, { messages: Record<string, { $ref: string }> }>; components: { messages: Record<string, { payload: object }> } };
    expect(doc.asyncapi).toBe('3.0.0');
    const ajv = new Ajv({ strict: false });
    for (const [name, m] of Object.entries(doc.components.messages)) expect(() => ajv.compile(m.payload), name).not.toThrow();
    const text = JSON.stringify(doc);
    for (const m of text.matchAll(/"\$ref":"#\/([^"]+)"/g)) {
      const target = (m[1] as string).split('/').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], doc);
      expect(target, m[1]).toBeDefined();
    }
  });
});
