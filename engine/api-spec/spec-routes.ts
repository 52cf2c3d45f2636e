/**
 * GET /v1/openapi.json and GET /v1/asyncapi.json: the contract documents,
 * built on the first request and kept as one string each (they do not change
 * while the engine runs). No key: they describe the API, they hold no data
 * (the README documents the same routes), and a client generator or a
 * gateway must be able to read them before it has a key.
 */
import type uWS from 'uWebSockets.js';
import { z } from 'zod';
import { sendJson } from '../http/http-kit.js';
import { buildAsyncApi } from './asyncapi.js';
import { buildOpenApi } from './openapi.js';
import { route, type RouteSpec } from './route-spec.js';

/** The version of the documents (the API's: /v1). */
export const API_VERSION = '1.0.0';

const Document = z.looseObject({}).describe('the document (JSON)');

export const SPEC_ROUTES: readonly RouteSpec[] = [
  route({ method: 'get', path: '/v1/openapi.json', summary: 'This document: the HTTP API as OpenAPI 3.1', tags: ['meta'], auth: 'none', ok: { 200: Document } }),
  route({ method: 'get', path: '/v1/asyncapi.json', summary: 'The WebSocket protocol and webhook payloads as AsyncAPI 3.0', tags: ['meta'], auth: 'none', ok: { 200: Document } }),
];

/** Registers both routes; `routes` is what the OpenAPI document describes (api-routes.ts API_ROUTES). */
export function registerSpecRoutes(app: uWS.TemplatedApp, routes: () => readonly RouteSpec[]): void {
  let openapi: string | undefined;
  let asyncapi: string | undefined;
  app.get('/v1/openapi.json', (res) => sendJson(res, '200 OK', (openapi ??= JSON.stringify(buildOpenApi(routes(), API_VERSION)))));
  app.get('/v1/asyncapi.json', (res) => sendJson(res, '200 OK', (asyncapi ??= JSON.stringify(buildAsyncApi(API_VERSION)))));
}
