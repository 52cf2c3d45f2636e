/**
 * Takeover of dead nodes' work by the leader (engine/fleet/takeover.ts): their
 * webhook lists, webhook and analytics pending entries, run after every fleet tick.
 */
import type { AnalyticsHost } from '../analytics/analytics-host.js';
import { Takeover } from '../fleet/takeover.js';
import type { WebhookHost } from '../webhooks/webhook-host.js';
import type { NodeContext } from './node-context.js';
import type { NodeModule } from './node-module.js';

export interface TakeoverModule extends NodeModule {
  readonly takeover: Takeover;
}

export function takeoverModule(ctx: NodeContext, d: { readonly webhookTenants: ReadonlyArray<string>; readonly webhooks: WebhookHost | undefined; readonly analytics: AnalyticsHost | undefined }): TakeoverModule {
  const takeover = new Takeover({ fleet: ctx.fleet, redis: ctx.redis, keys: ctx.keys, webhookTenants: [...d.webhookTenants], webhooks: d.webhooks, analytics: d.analytics, log: ctx.log });
  ctx.fleet.onTick(() => void takeover.tick());
  return { name: 'takeover', takeover };
}
