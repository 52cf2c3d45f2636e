/**
 * The feature module (engine/node/node-module.ts) that serves the contract
 * documents: GET /v1/openapi.json (every route of api-routes.ts) and
 * GET /v1/asyncapi.json.
 */
import type { NodeModule } from '../node/node-module.js';
import { API_ROUTES } from './api-routes.js';
import { registerSpecRoutes } from './spec-routes.js';

export function apiSpecModule(): NodeModule {
  return { name: 'api-spec', routes: (app) => registerSpecRoutes(app, () => API_ROUTES) };
}
