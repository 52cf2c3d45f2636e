/** Public face of router/: pure routing decisions. Never imports engine/. */
export { StaticPrefixRouter } from './route-message.js';
export type { Router, RouteRequest, RouteDecision, StaticRoute } from './route-message.js';
