/**
 * GET /readyz: whether this engine node should get traffic from a load balancer.
 *
 * Ready means messages flow: Redis answers, every operator actor runs,
 * every SMSC's binds have had their first chance since the engine started
 * (each bound, or its first attempt failed), and at least one SMSC is up
 * fleet-wide (bound on some node; issue 14: a node that could route nothing
 * said ready and answered every submit NO_ROUTE). Before that a node would take
 * submits whose SMSCs it cannot judge yet; saying "ready" then put a freshly
 * started engine behind a load balancer while its routing still guessed.
 * Analytics is reported, not required: a ClickHouse outage delays analytics,
 * it must not take the ingress out of a load balancer.
 *
 * Without a key the answer says only `{"status":"ready"|"not ready"}` (200 or
 * 503): SMSC ids, restarts and volumes are for operators, so the detail needs
 * the metrics key (SWITCHYARD_METRICS_KEY) or the admin key as a bearer token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type uWS from 'uWebSockets.js';
import { z } from 'zod';
import { route, type RouteSpec } from '../api-spec/route-spec.js';
import { ApiAuth, sendJson } from './http-kit.js';

export interface ReadyzDeps {
  /** Answers when Redis does (PING). */
  readonly ping: () => Promise<unknown>;
  readonly actors: () => ReadonlyArray<{ readonly smsc: string; readonly running?: boolean }>;
  /** SMSCs whose binds have not had their first chance yet. */
  readonly starting: () => ReadonlyArray<string>;
  /** Whether any SMSC is up fleet-wide (a node that can route nothing is not ready); default true. */
  readonly routable?: () => boolean;
  readonly analytics: () => unknown;
  readonly isAdmin: (req: uWS.HttpRequest) => boolean;
  /** SWITCHYARD_METRICS_KEY (undefined or '': only the admin key shows the detail). */
  readonly metricsKey: string | undefined;
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

export function registerReadyzRoute(app: uWS.TemplatedApp, d: ReadyzDeps): void {
  const metricsHash = d.metricsKey === undefined || d.metricsKey === '' ? undefined : sha256(d.metricsKey);
  app.get('/readyz', (res, req) => {
    // Read the request before any await (uWS frees it when the handler returns).
    const detail = d.isAdmin(req) || (metricsHash !== undefined && timingSafeEqual(sha256(ApiAuth.keyOf(req)), metricsHash));
    let aborted = false;
    res.onAborted(() => (aborted = true));
    const actors = d.actors();
    const starting = d.starting();
    const routable = d.routable?.() ?? true;
    const answer = (redis: string) => {
      if (aborted) return;
      const ready = redis === 'ok' && actors.every((a) => a.running === true) && starting.length === 0 && routable;
      const status = ready ? 'ready' : 'not ready';
      sendJson(res, ready ? '200 OK' : '503 Service Unavailable', detail ? { status, redis, actors, startingSmscs: starting, anySmscUp: routable, analytics: d.analytics() } : { status });
    };
    d.ping().then(
      () => answer('ok'),
      (err: Error) => answer(err.message),
    );
  });
}

const Readiness = z.looseObject({
  status: z.enum(['ready', 'not ready']),
  redis: z.string().optional().describe('"ok" or the error (detail)'),
  actors: z.array(z.looseObject({ smsc: z.string() })).optional(),
  startingSmscs: z.array(z.string()).optional(),
  anySmscUp: z.boolean().optional(),
  analytics: z.unknown().optional(),
});

/** The contract of this route (engine/api-spec/). */
export const READYZ_ROUTES: readonly RouteSpec[] = [
  route({
    method: 'get',
    path: '/readyz',
    summary: 'Whether this node should get traffic (detail with the metrics or admin key)',
    description: 'Not ready is 503 with the same body (not an error body) and a Retry-After.',
    tags: ['health'],
    auth: 'metrics',
    ok: { 200: Readiness, 503: { contentType: 'application/json', schema: Readiness, description: 'not ready (Retry-After)' } },
  }),
];
