/**
 * The webhook dispatcher's worker thread: its own Redis connections and event
 * loop, so building bodies, signing and HTTP never take time from the ingress
 * thread (where acks wait). A worker thread rather than a child process (the
 * analytics sink's choice, forced there by chdb): nothing here crashes a
 * process, and stats and metrics travel by postMessage. Reports twice a
 * second; stops on { type: 'stop' }.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Redis } from 'ioredis';
import { Keys } from '../queue/keys.js';
import { Shards } from '../queue/shards.js';
import { connectRedis } from '../redis/connect-redis.js';
import { onRedisError } from '../redis/on-redis-error.js';
import type { WebhookCommand, WebhookReport, WebhookWorkerData } from './messages.js';
import { WebhookDispatcher } from './webhook-dispatcher.js';
import { WebhookMetrics } from './webhook-metrics.js';

const port = parentPort;
if (port === null) throw new Error('webhook-worker runs in a worker thread started by webhook-host.ts');
const d = workerData as WebhookWorkerData;
const post = (r: WebhookReport): void => port.postMessage(r);
const log = (level: 'info' | 'warn' | 'error', msg: string): void => post({ type: 'log', level, msg });

// Commands fail fast while Redis is away (the dispatcher retries them); the reader waits for it.
// Typed as single clients for the dispatcher until it reads the shards (issue 13).
const redis = connectRedis(d.redis, { connectionName: 'sy-webhooks' }) as Redis;
const reader = connectRedis(d.redis, { connectionName: 'sy-webhooks-read', blocking: true }) as Redis;
onRedisError(redis, 'webhooks', (m) => log('warn', m));
onRedisError(reader, 'webhooks reader', (m) => log('warn', m));
const metrics = d.metrics ? new WebhookMetrics() : undefined;
const dispatcher = new WebhookDispatcher({ redis, reader, keys: new Keys(d.keyPrefix, new Shards(d.shards)), node: d.node, tenants: d.tenants, ...(metrics ? { metrics } : {}), log });

const report = async (): Promise<void> => {
  const tenants = dispatcher.state();
  const m = metrics === undefined ? undefined : await metrics.snapshot(tenants.map((t) => ({ tenant: t.tenant, queued: t.queued, deadLetters: t.deadLetters })), dispatcher.lagMs);
  post({ type: 'stats', tenants, lagMs: dispatcher.lagMs, ...(m === undefined ? {} : { metrics: m }) });
};

await dispatcher.start();
post({ type: 'ready' });
const timer = setInterval(() => void report().catch(() => undefined), 500);
port.on('message', (cmd: WebhookCommand) => {
  if (cmd.type === 'kick') dispatcher.kick(cmd.tenant, cmd.retryNow);
  else if (cmd.type === 'reread') dispatcher.rereadPending();
  else if (cmd.type === 'crash')
    setImmediate(() => {
      throw new Error('webhooks: crash requested');
    });
  else if (cmd.type === 'stop') {
    clearInterval(timer);
    void dispatcher
      .stop()
      .then(report)
      .finally(() => {
        redis.disconnect();
        reader.disconnect();
        post({ type: 'stopped' });
        port.close();
      });
  }
});
