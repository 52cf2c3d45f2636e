/**
 * Webhooks (engine/webhooks/): signed POSTs of status events and MO messages
 * to tenants' receivers, from their own worker thread, and the webhook routes
 * (dead letters, replay). Without a tenant that has a webhook nothing runs; the
 * routes still answer.
 */
import { registerWebhookRoutes } from '../http/webhook-routes.js';
import { WebhookHost } from '../webhooks/webhook-host.js';
import type { WebhookTenant } from '../webhooks/tenant-channel.js';
import type { NodeContext } from './node-context.js';
import type { NodeModule } from './node-module.js';

export interface WebhooksModule extends NodeModule {
  /** undefined when no tenant has a webhook. */
  readonly host: WebhookHost | undefined;
}

export function webhooksModule(ctx: NodeContext, tenants: ReadonlyArray<WebhookTenant>): WebhooksModule {
  const { config } = ctx;
  const host = tenants.length === 0
    ? undefined
    : new WebhookHost({ redis: ctx.target, keyPrefix: config.redis.keyPrefix, shards: config.redis.shards, node: config.engine.nodeId, metrics: config.engine.metrics, tenants }, ctx.log);
  if (host !== undefined) ctx.metricFeeds.threads.push(() => host.metricsParts());
  return {
    name: 'webhooks',
    host,
    start: () => host?.start(),
    stop: () => host?.stop(),
    routes: (app, http) =>
      registerWebhookRoutes(app, { auth: () => http.auth, redis: ctx.redis, keys: ctx.keys, node: config.engine.nodeId, tenants: new Map(tenants.map((t) => [t.id, { url: t.url }])), host }),
  };
}
