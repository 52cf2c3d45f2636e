/**
 * Status pushes to WebSocket clients (engine/push/status-dispatcher.ts): the
 * dispatcher reads the events streams and sends each tenant's status frames to
 * its connections on this node; resume-by-eid catch-ups page the streams.
 */
import { StatusDispatcher } from '../push/status-dispatcher.js';
import type { NodeContext } from './node-context.js';
import type { NodeModule } from './node-module.js';

export interface PushModule extends NodeModule {
  readonly dispatcher: StatusDispatcher;
}

export function pushModule(ctx: NodeContext): PushModule {
  const r = ctx.config.server.resume;
  const dispatcher = new StatusDispatcher(ctx.redis, ctx.blocking, ctx.keys, { resumeMaxAgeMs: r.maxAgeSec * 1000, maxCatchUps: r.maxCatchUps, maxCatchUpsPerTenant: r.maxCatchUpsPerTenant });
  ctx.metricFeeds.statusPushes = () => dispatcher.pushed;
  return {
    name: 'status pushes',
    dispatcher,
    start: () => dispatcher.start(),
    stop: () => dispatcher.stop(),
  };
}
