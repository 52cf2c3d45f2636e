/** Public face of router/: pure routing decisions. Never imports engine/. */
export { PlanRouter, RouterConfigError, networkName } from './plan-router.js';
export type {
  Router, RouteRequest, RouteDecision, RouteChoice, RouteExplanation, CandidateExplanation,
  RouterConfig, RoutePlanConfig, PlanRouteConfig, CandidateConfig, TenantRoutingConfig, SmscRoutingConfig,
  NetworkLookup, MnpTable,
} from './plan-router.js';
export { RouteHealth, type SmscHealthSnapshot } from './route-health.js';
export { NumberingPlan, PlanError, type Network } from './numbering-plan.js';
