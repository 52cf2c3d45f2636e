/**
 * Wires one Switchyard engine node: a list of feature modules (engine/node/),
 * each with its start, stop, HTTP routes and WebSocket ops. `startEngine`
 * opens the node (Redis connections, shard layout, node id in the fleet),
 * creates the modules in order, starts them in order (the ingress listens
 * last) and resolves with the parts tests and tools use; `stop` stops them in
 * reverse order, then gives the node's leases back and closes the connections.
 * It owns no handler, sweep or timer itself: each lives in its module.
 */
import type { Config } from '../config/index.js';
import type { ActorStats } from './actors/messages.js';
import type { Supervisor } from './actors/supervisor.js';
import type { AnalyticsHost, AnalyticsState } from './analytics/analytics-host.js';
import type { FlaggedNumbers } from './analytics/flagged-numbers.js';
import type { Fleet } from './fleet/fleet.js';
import type { Takeover } from './fleet/takeover.js';
import type { IngressServer } from './ingress/ingress-server.js';
import type { Lifecycle } from './lifecycle/lifecycle.js';
import type { Moderator } from './moderation/moderator.js';
import type { OptOutStore } from './optout/optout-store.js';
import type { PauseControl } from './parking/pause-control.js';
import type { RedisStore } from './queue/redis-store.js';
import type { RoutingService } from './routing/routing-service.js';
import type { WebhookHost } from './webhooks/webhook-host.js';
import { openTenants, reloadTenants, tenantsModule } from './tenants/tenants-module.js';
import { actorsModule, type ActorsModule } from './node/actors-module.js';
import { analyticsModule } from './node/analytics-module.js';
import { eventsModule } from './node/events-module.js';
import { ingressModule } from './node/ingress-module.js';
import { lifecycleModule } from './node/lifecycle-module.js';
import { openNode, type EngineOptions, type NodeContext } from './node/node-context.js';
import { NodeModules } from './node/node-module.js';
import { opsModule } from './node/ops-module.js';
import { apiSpecModule } from './api-spec/api-spec-module.js';
import { policyModule } from './node/policy-module.js';
import { pushModule } from './node/push-module.js';
import { routingModule, type RoutingModule } from './node/routing-module.js';
import { smppModule } from './node/smpp-module.js';
import type { SmppIngress } from './smpp-server/index.js';
import { sweepModule } from './node/sweep-module.js';
import { takeoverModule } from './node/takeover-module.js';
import { webhooksModule } from './node/webhooks-module.js';

export type { EngineOptions } from './node/node-context.js';

export interface Engine {
  readonly port: number;
  readonly config: Config;
  readonly supervisor: Supervisor;
  readonly ingress: IngressServer;
  readonly store: RedisStore;
  readonly routing: RoutingService;
  readonly optOuts: OptOutStore;
  readonly pauses: PauseControl;
  readonly moderator: Moderator;
  /** The analytics sink's state (undefined when analytics is off). */
  readonly analytics: AnalyticsState | undefined;
  /** The analytics process (queries, live feed, bad numbers); undefined when analytics is off. */
  readonly analyticsHost: AnalyticsHost | undefined;
  /** Numbers the ingress refuses (bad-number detection). */
  readonly flagged: FlaggedNumbers;
  /** Scheduler, cancels, daily quotas, list index, message and usage routes (engine/lifecycle/). */
  readonly lifecycle: Lifecycle;
  /** The webhook dispatcher (undefined when no tenant has a webhook). */
  readonly webhooks: WebhookHost | undefined;
  /** This node in the fleet: heartbeat, bind and leader leases, published figures (engine/fleet/). */
  readonly fleet: Fleet;
  /** Takeover of dead nodes' work (counts for tests and /v1/status). */
  readonly takeover: Takeover;
  /** The SMPP server ingress (engine/smpp-server/; idle unless smppServer.enabled). */
  readonly smpp: SmppIngress;
  actorStats(): ActorStats[];
  stop(): Promise<void>;
}

export async function startEngine(config: Config, o: EngineOptions): Promise<Engine> {
  const node = await openNode(config, o);
  const modules = new NodeModules(node.log);
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await modules.stop();
      await node.close();
    })());
  try {
    // Tenants as data (engine/tenants/): the config's tenants seed the directory in Redis; every module
    // is created from the directory's tenants (`live`) and follows its changes (the tenants module, first).
    const tenants = await openTenants(node);
    const live: NodeContext = { ...node, config: { ...config, tenants: tenants.configTenants() } };
    modules.add(tenantsModule(tenants, () => ({ ingress: ingress.ingress, routing: routing.routing, lifecycle: lifecycle.lifecycle, moderator: policy.moderator }), config.server.maxFrameBytes));
    const webhookTenants = tenants.webhookTenants();
    // Created in this order, started in this order, stopped in the reverse (engine/node/node-module.ts).
    modules.add(eventsModule(live, { webhooks: webhookTenants.length > 0 }));
    const push = modules.add(pushModule(live));
    const policy = modules.add(policyModule(live, { ids: tenants.ids, list: tenants.idList }));
    const lifecycle = modules.add(lifecycleModule(live, { cancel: (tenant, f, done) => ingress.ingress.onCancel(tenant, f, done), history: () => analytics.history }));
    const actors: ActorsModule = modules.add(actorsModule(live, { routing: () => routing.routing }));
    const analytics = modules.add(analyticsModule(live, tenants.refusingFlagged));
    const webhooks = modules.add(webhooksModule(live, webhookTenants));
    const routing: RoutingModule = modules.add(routingModule(live, { supervisor: actors.supervisor, reloaded: reloadTenants(tenants, config) }));
    const takeover = modules.add(takeoverModule(live, { webhookTenants: webhookTenants.map((t) => t.id), webhooks: webhooks.host, analytics: analytics.host }));
    modules.add(sweepModule(live));
    const ingress = modules.add(ingressModule(live, { push, policy, lifecycle, analytics, routing, routes: (app, http) => modules.routes(app, http) }));
    modules.add(opsModule(live, { ingress, push, actors, routing, analytics, webhooks }));
    modules.add(apiSpecModule());
    const smpp = modules.add(smppModule(live, { ingress: () => ingress.ingress }));
    await modules.start();
    return {
      port: ingress.port,
      config,
      supervisor: actors.supervisor,
      ingress: ingress.ingress,
      store: node.store,
      routing: routing.routing,
      optOuts: policy.optOuts,
      pauses: policy.pauses,
      moderator: policy.moderator,
      lifecycle: lifecycle.lifecycle,
      get analytics() {
        return analytics.host?.state;
      },
      analyticsHost: analytics.host,
      flagged: analytics.flagged,
      webhooks: webhooks.host,
      fleet: node.fleet,
      takeover: takeover.takeover,
      smpp: smpp.smpp,
      actorStats: () => actors.supervisor.stats(),
      stop,
    };
  } catch (err) {
    // A module that failed to be created or started: every module created so far stops, the node leaves.
    await stop();
    throw err;
  }
}
