/**
 * A message's life after acceptance (engine/lifecycle/): the scheduler, cancels,
 * daily quotas, the message list index and the message and usage routes.
 */
import type { CancelReply } from '../lifecycle/cancel-batcher.js';
import { Lifecycle } from '../lifecycle/lifecycle.js';
import type { NodeContext } from './node-context.js';
import type { NodeModule } from './node-module.js';

export interface LifecycleModule extends NodeModule {
  readonly lifecycle: Lifecycle;
}

export interface LifecycleDeps {
  /** Cancels a message as the WebSocket `cancel` op does (the ingress's batcher). */
  readonly cancel: (tenant: string, f: Record<string, unknown>, done: (r: CancelReply) => void) => void;
  /** A message's history from analytics once Redis has let it go (undefined: analytics off). */
  readonly history: (() => ((tenant: string, id: string) => Promise<Record<string, unknown> | undefined>) | undefined);
}

export function lifecycleModule(ctx: NodeContext, d: LifecycleDeps): LifecycleModule {
  const lifecycle = new Lifecycle({ config: ctx.config, redis: ctx.redis, keys: ctx.keys, clock: ctx.clock, log: ctx.log });
  ctx.metricFeeds.lifecycle = () => ({ queued: lifecycle.scheduler.moved, expired: lifecycle.scheduler.expired, cancels: lifecycle.cancels.counts });
  return {
    name: 'lifecycle',
    lifecycle,
    start: () => lifecycle.start(),
    stop: () => lifecycle.stop(),
    routes: (app, { auth }) => lifecycle.routes(app, auth, d.cancel, d.history()),
  };
}
