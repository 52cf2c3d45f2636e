/**
 * Every HTTP route's contract, in one list: each routes module's exported
 * specs (declared beside its handlers), the engine's and the ingress's own
 * (node-routes.ts) and the documents' routes. A new routes module adds its
 * array here: one line.
 */
import { ANALYTICS_ROUTES } from '../http/analytics-routes.js';
import { HELD_ROUTES } from '../http/held-routes.js';
import { MESSAGE_ROUTES } from '../http/message-routes.js';
import { MO_ROUTES } from '../http/mo-routes.js';
import { OPTOUT_ROUTES } from '../http/optout-routes.js';
import { PAUSE_ROUTES } from '../http/pause-routes.js';
import { READYZ_ROUTES } from '../http/readyz-route.js';
import { TENANT_ROUTES } from '../http/tenant-routes.js';
import { USAGE_ROUTES } from '../http/usage-routes.js';
import { WEBHOOK_ROUTES } from '../http/webhook-routes.js';
import { OPS_ROUTES } from '../node/ops-module.js';
import { ROUTING_ROUTES } from '../node/routing-module.js';
import { INGRESS_ROUTES } from './ingress-routes.js';
import type { RouteSpec } from './route-spec.js';
import { SPEC_ROUTES } from './spec-routes.js';
import { SMPP_ROUTES } from '../smpp-server/smpp-ingress.js';

export const API_ROUTES: readonly RouteSpec[] = [
  ...INGRESS_ROUTES,
  ...OPS_ROUTES,
  ...ROUTING_ROUTES,
  ...MESSAGE_ROUTES,
  ...USAGE_ROUTES,
  ...OPTOUT_ROUTES,
  ...HELD_ROUTES,
  ...PAUSE_ROUTES,
  ...MO_ROUTES,
  ...WEBHOOK_ROUTES,
  ...ANALYTICS_ROUTES,
  ...READYZ_ROUTES,
  ...TENANT_ROUTES,
  ...SMPP_ROUTES,
  ...SPEC_ROUTES,
];
