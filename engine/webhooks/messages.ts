/** The messages between the engine's main thread and the webhook worker thread (webhook-host.ts ↔ webhook-worker.ts). */
import type { MetricsJson } from '../metrics/registry.js';
import type { RedisTarget } from '../redis/connect-redis.js';
import type { ChannelState, WebhookTenant } from './tenant-channel.js';

export interface WebhookWorkerData {
  /** A single Redis or a cluster (connect-redis.ts). */
  readonly redis: RedisTarget;
  readonly keyPrefix: string;
  /** redis.shards: names the keys. */
  readonly shards: number;
  readonly node: string;
  readonly metrics: boolean;
  /** With resolved secrets (in memory only; never logged). */
  readonly tenants: ReadonlyArray<WebhookTenant>;
}

export type WebhookCommand =
  | { readonly type: 'stop' }
  /** Events were added to the tenant's list (replay); retryNow cuts a backoff short. */
  | { readonly type: 'kick'; readonly tenant: string; readonly retryNow: boolean }
  /** Its consumer was given entries (takeover of a dead node, XCLAIM): read its pending entries again. */
  | { readonly type: 'reread' }
  /** Fault injection for tests: an uncaught error in the worker thread. */
  | { readonly type: 'crash' };

export type WebhookReport =
  | { readonly type: 'ready' }
  | { readonly type: 'stats'; readonly tenants: ChannelState[]; readonly lagMs: number; readonly metrics?: MetricsJson }
  | { readonly type: 'log'; readonly level: 'info' | 'warn' | 'error'; readonly msg: string }
  | { readonly type: 'stopped' };
