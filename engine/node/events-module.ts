/**
 * The events streams' shared upkeep: every reader's consumer group exists
 * before any traffic, and the trimmer keeps each shard's stream to what every
 * group has read and the retention window (engine/queue/events-trimmer.ts).
 *
 * The groups are created at start, before any reader runs: the trimmer keeps
 * what a group has not read (and leaves a stream alone while a group it expects
 * is missing), so a group created later (the analytics process still opening
 * ClickHouse, the webhook thread starting) would find the first events trimmed.
 * Analytics reads from the start of the streams; webhooks from now on (not the
 * history of before they were configured).
 */
import { ANALYTICS_GROUP } from '../../analytics/event-sink.js';
import { ensureGroups, eventStreamKeys } from '../queue/event-streams.js';
import { EventsTrimmer, type EventGroup } from '../queue/events-trimmer.js';
import { WEBHOOK_GROUP } from '../webhooks/webhook-dispatcher.js';
import { SMPP_GROUP } from '../smpp-server/receipt-feed.js';
import type { NodeContext } from './node-context.js';
import type { NodeModule } from './node-module.js';

export interface EventsModule extends NodeModule {
  readonly trimmer: EventsTrimmer;
}

export function eventsModule(ctx: NodeContext, o: { readonly webhooks: boolean }): EventsModule {
  const { config, redis, keys } = ctx;
  const groups: EventGroup[] = [];
  if (config.analytics.enabled) groups.push({ name: ANALYTICS_GROUP, from: '0' });
  if (o.webhooks) groups.push({ name: WEBHOOK_GROUP, from: '$' });
  // The SMPP server's receipt feed reads from now on, like webhooks (engine/smpp-server/receipt-feed.ts).
  if (config.smppServer.enabled) groups.push({ name: SMPP_GROUP, from: '$' });
  const trimmer = new EventsTrimmer(redis, keys, { floorSec: config.messages.statusRetentionSec, cap: config.messages.statusRetention, groups }, ctx.log);
  ctx.metricFeeds.eventsStream = () => trimmer.stats;
  return {
    name: 'events',
    trimmer,
    async start() {
      for (const g of groups) await ensureGroups(redis, eventStreamKeys(keys), g.name, g.from);
      trimmer.start();
    },
    stop: () => trimmer.stop(),
  };
}
