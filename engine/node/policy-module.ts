/**
 * A tenant's policies on what may be sent (issue 6): opt-out lists, held and
 * paused messages, content moderation, and inbound (MO) messages, with their
 * HTTP routes and the opt-out WebSocket ops.
 */
import type { WsOp } from '../ingress/ingress-server.js';
import { registerHeldRoutes } from '../http/held-routes.js';
import { registerMoRoutes } from '../http/mo-routes.js';
import { registerOptOutRoutes } from '../http/optout-routes.js';
import { registerPauseRoutes } from '../http/pause-routes.js';
import { Moderator } from '../moderation/moderator.js';
import { OptOutStore } from '../optout/optout-store.js';
import { ParkingStore } from '../parking/parking-store.js';
import { PauseControl } from '../parking/pause-control.js';
import type { NodeContext } from './node-context.js';
import type { NodeModule } from './node-module.js';

export interface PolicyModule extends NodeModule {
  readonly optOuts: OptOutStore;
  readonly pauses: PauseControl;
  readonly moderator: Moderator;
}

export function policyModule(ctx: NodeContext): PolicyModule {
  const { config, redis, keys } = ctx;
  const optOuts = new OptOutStore(redis, keys);
  const parking = new ParkingStore(redis, keys, { eventsMaxLen: ctx.eventsMaxLen, finalRetentionSec: config.messages.finalRetentionSec });
  const pauses = new PauseControl(parking, config.tenants.map((t) => t.id), (level, m) => ctx.log(level, m));
  const moderator = new Moderator(config, ctx.clock, redis, keys);
  if (config.engine.metrics) moderator.onHold = (tenant, code) => ctx.metrics.held(tenant, code);
  const tenantIds = new Set(config.tenants.map((t) => t.id));
  let ops: ReadonlyMap<string, WsOp> = new Map();
  return {
    name: 'policies',
    optOuts,
    pauses,
    moderator,
    async start() {
      await moderator.start();
      pauses.start();
    },
    async stop() {
      pauses.stop();
      await moderator.stop();
    },
    routes(app, { auth }) {
      registerHeldRoutes(app, { redis, keys, parking, auth, tenants: config.tenants.map((t) => t.id), maxBodyBytes: config.server.maxFrameBytes });
      registerPauseRoutes(app, { control: pauses, auth, tenants: tenantIds });
      registerMoRoutes(app, { redis, keys, auth });
      ops = registerOptOutRoutes(app, { store: optOuts, auth, tenants: tenantIds, maxBodyBytes: config.server.maxFrameBytes, confirm: (eid) => pauses.confirmed(0, eid) });
    },
    wsOps: () => ops,
  };
}
