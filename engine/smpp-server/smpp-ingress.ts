/**
 * The SMPP server as one feature module of the engine (start, stop, routes,
 * metrics): the listener (smpp-server.ts), the credential store
 * (smpp-credentials.ts), the feed of receipts and MO messages from the events
 * streams into the tenants' outboxes (receipt-feed.ts) and this node's
 * outboxes (receipt-outbox.ts), one per tenant with a receiving bind here.
 *
 *   customer ──bind/submit_sm──▶ SmppServer ──submitAs──▶ the WebSocket accept path ──▶ Redis
 *   ev:{T} ──ReceiptFeed──▶ smo:{tenant} ──ReceiptOutbox──deliver_sm──▶ customer (receiver/transceiver)
 *
 * Admin routes: GET /v1/admin/smpp/binds[?tenant=ID] and
 * POST /v1/admin/smpp/binds/:id/kick (the CLI's `smpp binds` and `smpp kick`).
 */
import { z } from 'zod';
import { route, TenantId, type RouteSpec } from '../api-spec/route-spec.js';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type uWS from 'uWebSockets.js';
import type { Keys } from '../queue/keys.js';
import { connectRedis, type RedisClient, type RedisTarget } from '../redis/connect-redis.js';
import { onRedisError } from '../redis/on-redis-error.js';
import { buildMetrics, keysOf, type MetricSet } from '../metrics/registry.js';
import type { MetricKey } from '../metrics/metric-names.js';
import { sendError, sendJson } from '../http/http-kit.js';
import type { SmppConnection } from '../smpp/smpp-connection.js';
import { ConfigSmppCredentials, type SmppAccount, type SmppCredentials } from './smpp-credentials.js';
import { ReceiptFeed } from './receipt-feed.js';
import { ReceiptOutbox } from './receipt-outbox.js';
import { SmppServer, type BindMode, type SmppServerOptions, type SubmitPort } from './smpp-server.js';

/** The config's smppServer section: the server's own options (smpp-server.ts) plus what this module uses. */
export interface SmppServerConfig
  extends Pick<SmppServerOptions, 'host' | 'port' | 'window' | 'maxBinds' | 'responseTimeoutMs' | 'enquireLinkSec' | 'idleTimeoutSec' | 'concatTimeoutSec' | 'maxPduBytes'> {
  readonly enabled: boolean;
  readonly tls?: SmppServerOptions['tls'] | undefined;
  readonly retryMs: { readonly min: number; readonly max: number };
}

/** A tenant's SMPP account with its password resolved (config tenants[].smpp). */
export interface SmppTenant {
  readonly tenant: string;
  readonly systemId: string;
  readonly password: string;
  readonly maxBinds?: number | undefined;
  readonly dataCoding0: 'gsm7' | 'latin1';
}

export interface SmppIngressOptions {
  readonly config: SmppServerConfig;
  readonly tenants: ReadonlyArray<SmppTenant>;
  /** Another credential source (tenants as data); default: `tenants`, hashed at start. */
  readonly credentials?: SmppCredentials;
  readonly redis: RedisTarget;
  readonly keys: Keys;
  readonly node: string;
  readonly submit: SubmitPort;
  readonly minValiditySec: number;
  readonly maxValiditySec: number;
  /** Overrides config.port (tests use 0). */
  readonly port?: number;
  /** The registry its metrics join (the engine's main-thread one); undefined: no metrics. */
  readonly registry?: Registry | undefined;
  readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

const SMPP_METRICS = keysOf('smpp');

export class SmppIngress {
  private server: SmppServer | undefined;
  private feed: ReceiptFeed | undefined;
  private readonly outboxes = new Map<string, ReceiptOutbox>();
  private redis: RedisClient | undefined;
  private reader: RedisClient | undefined;
  private readonly m: MetricSet<MetricKey> | undefined;
  private readonly accounts = new Map<string, SmppTenant>();

  constructor(private readonly o: SmppIngressOptions) {
    for (const t of o.tenants) this.accounts.set(t.tenant, t);
    this.m = o.registry === undefined ? undefined : (buildMetrics(SMPP_METRICS, o.registry) as MetricSet<MetricKey>);
  }

  get port(): number {
    return this.server?.port ?? 0;
  }

  get enabled(): boolean {
    return this.o.config.enabled;
  }

  async start(): Promise<void> {
    const c = this.o.config;
    if (!c.enabled) return;
    const log = this.o.log;
    const credentials = this.o.credentials ?? (await ConfigSmppCredentials.load(this.o.tenants.map((t) => ({ tenant: t.tenant, systemId: t.systemId, password: t.password, maxBinds: t.maxBinds ?? c.maxBinds, dataCoding0: t.dataCoding0 }))));
    const redis = connectRedis(this.o.redis, { connectionName: 'sy-smpp' });
    const reader = connectRedis(this.o.redis, { connectionName: 'sy-smpp-feed', blocking: true });
    onRedisError(redis, 'smpp', (msg) => log('warn', msg));
    onRedisError(reader, 'smpp-feed', (msg) => log('warn', msg));
    this.redis = redis;
    this.reader = reader;
    this.feed = new ReceiptFeed({
      redis, reader, keys: this.o.keys, node: this.o.node, tenants: new Set(this.accounts.keys()), log,
      onAppended: (tenants) => {
        for (const t of tenants) this.outboxes.get(t)?.wake();
      },
    });
    this.feed.start();
    const server = new SmppServer({
      ...c,
      port: this.o.port ?? c.port,
      credentials,
      submit: this.o.submit,
      minValiditySec: this.o.minValiditySec,
      maxValiditySec: this.o.maxValiditySec,
      receivers: {
        added: (tenant, account, conn) => this.outboxOf(tenant, account).addBind(conn),
        removed: (tenant, conn) => this.outboxes.get(tenant)?.removeBind(conn),
      },
      observer: this.m === undefined ? undefined : {
        bindChanged: (tenant: string, mode: BindMode, delta: number) => this.m?.smppBinds.inc({ tenant, mode }, delta),
        bindRefused: () => this.m?.smppBindsRefused.inc(),
        answered: (tenant: string, slot: number, status: number) => this.m?.smppSubmits.inc({ tenant, bind: String(slot), status: hex8(status) }),
      },
      log,
    });
    this.server = server;
    try {
      await server.listen();
    } catch (err) {
      await this.stop();
      throw err;
    }
    log('info', `SMPP server listening on ${c.tls === undefined ? 'smpp' : 'smpps'}://${c.host}:${server.port} (${this.accounts.size} tenant(s) with SMPP credentials)`);
  }

  private outboxOf(tenant: string, account: SmppAccount): ReceiptOutbox {
    let b = this.outboxes.get(tenant);
    if (b === undefined) {
      b = new ReceiptOutbox({
        redis: this.redis as Redis, prefix: this.o.keys.prefix, tenant, node: this.o.node, dataCoding0: account.dataCoding0, retryMs: this.o.config.retryMs, log: this.o.log,
        onDelivered: (kind) => this.m?.smppDelivered.inc({ tenant, kind: kind === 'r' ? 'receipt' : 'mo' }),
        onRetry: () => this.m?.smppDeliverRetries.inc({ tenant }),
      });
      this.outboxes.set(tenant, b);
    }
    return b;
  }

  async stop(): Promise<void> {
    await this.server?.close();
    for (const b of this.outboxes.values()) b.stop();
    this.reader?.disconnect();
    await this.feed?.stop();
    this.redis?.disconnect();
    this.server = undefined;
  }

  /** What /v1/status and the console show. */
  status(): Record<string, unknown> {
    const server = this.server;
    if (server === undefined) return { enabled: this.o.config.enabled };
    return {
      enabled: true,
      port: server.port,
      binds: server.binds().length,
      bindsRefused: server.bindsRefused,
      receiptsFed: this.feed?.appended ?? 0,
      outboxes: Object.fromEntries([...this.outboxes].map(([t, b]) => [t, { binds: b.bindCount, held: b.held, delivered: b.delivered, retries: b.retries }])),
    };
  }

  /** GET /v1/admin/smpp/binds and POST /v1/admin/smpp/binds/:id/kick (admin key). */
  routes(app: uWS.TemplatedApp, isAdmin: (req: uWS.HttpRequest) => boolean): void {
    const denied = (res: uWS.HttpResponse, req: uWS.HttpRequest): boolean => {
      if (isAdmin(req)) return false;
      sendError(res, 'UNAUTHORIZED', 'admin key required (SWITCHYARD_ADMIN_KEY)');
      return true;
    };
    app.get('/v1/admin/smpp/binds', (res, req) => {
      if (denied(res, req)) return;
      const tenant = new URLSearchParams(req.getQuery() ?? '').get('tenant') ?? undefined;
      sendJson(res, '200 OK', { ...this.status(), binds: this.server?.binds(tenant) ?? [] });
    });
    app.post('/v1/admin/smpp/binds/:id/kick', (res, req) => {
      if (denied(res, req)) return;
      const id = req.getParameter(0) ?? '';
      if (this.server?.kick(id) !== true) return sendError(res, 'NOT_FOUND', `no SMPP bind ${JSON.stringify(id.slice(0, 40))} on this node (GET /v1/admin/smpp/binds lists them)`);
      sendJson(res, '200 OK', { ok: true, id });
    });
  }

  /** Test access: one tenant's outbox on this node. */
  outbox(tenant: string): ReceiptOutbox | undefined {
    return this.outboxes.get(tenant);
  }

  /** Test access: the listener. */
  get listener(): SmppServer | undefined {
    return this.server;
  }
}

function hex8(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}

export type { SmppConnection };

/** The contracts of the admin routes above (engine/api-spec/). */
export const SMPP_ROUTES: readonly RouteSpec[] = [
  route({
    method: 'get',
    path: '/v1/admin/smpp/binds',
    summary: "This node's customer SMPP binds: tenant, mode, remote address, since, submits accepted / refused / throttled",
    tags: ['smpp'],
    auth: 'admin',
    query: z.object({ tenant: TenantId.optional() }),
    ok: { 200: z.looseObject({}) },
  }),
  route({
    method: 'post',
    path: '/v1/admin/smpp/binds/:id/kick',
    summary: 'Unbind one customer bind (from the list above)',
    tags: ['smpp'],
    auth: 'admin',
    params: z.object({ id: z.string().describe('the bind id') }),
    ok: { 200: z.looseObject({}) },
    errors: ['NOT_FOUND'],
  }),
];
