/**
 * Analytics (engine/analytics/): the events sink into ClickHouse, queries,
 * the live feed and bad-number detection in their own process, the claim that
 * decides which node may run it (analytics-home.ts: embedded chdb serves one
 * node), the numbers the ingress refuses, and the /v1/analytics routes (they
 * answer UNAVAILABLE when analytics is off).
 */
import { dirname, resolve } from 'node:path';
import { AnalyticsHome, analyticsBackend } from '../analytics/analytics-home.js';
import { AnalyticsHost } from '../analytics/analytics-host.js';
import { FlaggedNumbers } from '../analytics/flagged-numbers.js';
import { registerAnalyticsRoutes } from '../http/analytics-routes.js';
import type { NodeContext } from './node-context.js';
import type { NodeModule } from './node-module.js';

export interface AnalyticsModule extends NodeModule {
  /** The analytics process; undefined when analytics is off. */
  readonly host: AnalyticsHost | undefined;
  /** Numbers the ingress refuses (bad-number detection). */
  readonly flagged: FlaggedNumbers;
  /** A message's history from analytics (undefined when analytics is off). */
  readonly history: ((tenant: string, id: string) => Promise<Record<string, unknown> | undefined>) | undefined;
}

export function analyticsModule(ctx: NodeContext): AnalyticsModule {
  const { config, env, log } = ctx;
  const an = config.analytics;
  const host = an.enabled
    ? new AnalyticsHost({
        redis: ctx.target,
        keyPrefix: config.redis.keyPrefix,
        shards: ctx.keys.shards.count,
        consumer: `sink-${config.engine.nodeId}`,
        batchMax: an.batchMax,
        flushMs: an.flushMs,
        cluster: an.cluster,
        clickhouse: { url: env.CLICKHOUSE_URL, user: env.CLICKHOUSE_USER, password: env.CLICKHOUSE_PASSWORD, dataDir: an.dataDir, maxMemoryBytes: an.maxMemoryMb * 2 ** 20, serverMemoryBytes: an.serverMemoryMb * 2 ** 20 },
        badNumbers: an.badNumbers.enabled ? an.badNumbers : undefined,
        reportPageRows: an.reportPageRows,
        limits: an.limits,
        routing: { numberingPlan: config.routing.numberingPlan, rangeFiles: config.routing.rangeFiles },
        baseDir: ctx.options.configFile === undefined ? process.cwd() : dirname(resolve(ctx.options.configFile)),
      }, log)
    : undefined;
  // Embedded chdb serves one node; several analytics nodes share a ClickHouse server (analytics-home.ts).
  // The analytics process is stopped if the claim is lost (this node paused past it, another took it).
  const home = host === undefined
    ? undefined
    : new AnalyticsHome(ctx.redis, ctx.keys, analyticsBackend(config.engine.nodeId, an.cluster, env.CLICKHOUSE_URL), (why) => {
        log('error', `analytics stopped on this node: ${why}`);
        void host.stop();
      });
  const flagged = new FlaggedNumbers(new Set(config.tenants.filter((t) => t.refuseFlaggedNumbers ?? an.badNumbers.refuse).map((t) => t.id)));
  host?.onFlagged((delta) => flagged.apply(delta));
  ctx.metricFeeds.analytics = () => host?.state;
  return {
    name: 'analytics',
    host,
    flagged,
    history: host === undefined ? undefined : (tenant, id) => analyticsHistory(host, tenant, id),
    async start() {
      await home?.start();
      host?.start();
    },
    async stop() {
      await host?.stop();
      home?.stop();
    },
    routes: (app, { auth }) => registerAnalyticsRoutes(app, { host, auth, idleTimeoutSec: config.server.idleTimeoutSec }),
  };
}

/**
 * A message's history from analytics, once Redis has let it go: its status is
 * that of its last event. The lookup's answer says where it came from.
 */
async function analyticsHistory(host: AnalyticsHost, tenant: string, id: string): Promise<Record<string, unknown> | undefined> {
  if (!/^[0-9A-Za-z_-]{1,64}$/.test(id)) return undefined;
  const res = await host.request(`/messages/${id}`, `tenant:${tenant}`);
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  if (res.statusCode === 404) return undefined;
  if (res.statusCode !== 200) throw new Error(`analytics answered ${res.statusCode}`);
  const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { events: Array<{ status: string; at: number; errorCode: string; errorText: string; to: string; parts: number; smsc: string; ref: string; acceptedAt: number; price: number; currency: string }> };
  const last = body.events[body.events.length - 1];
  if (last === undefined) return undefined;
  return {
    id, ref: last.ref, to: last.to, status: last.status, parts: last.parts, smsc: last.smsc, acceptedAt: last.acceptedAt,
    price: Math.round(last.price * last.parts * 1e6) / 1e6, currency: last.currency,
    ...(last.errorCode !== '' || last.errorText !== '' ? { error: { code: last.errorCode, text: last.errorText } } : {}),
    events: body.events.map((e) => ({ status: e.status, at: e.at, ...(e.errorCode !== '' || e.errorText !== '' ? { error: { code: e.errorCode, text: e.errorText } } : {}) })),
    source: 'analytics',
  };
}
