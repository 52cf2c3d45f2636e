/**
 * The one configuration schema of Switchyard. A config file is validated once,
 * at boot: unknown keys are refused, defaults come from `DEFAULTS` below (units in
 * the comments), and the result is deep-frozen. Errors name the file, the key
 * path and what is wrong (see load-config.ts).
 */
import { z } from 'zod';

/** Every default in one place. */
export const DEFAULTS = {
  server: {
    host: '127.0.0.1', // every server binds loopback unless told otherwise
    port: 8080, // HTTP + WebSocket port of the ingress
    maxFrameBytes: 256 * 1024, // largest WebSocket frame accepted (bytes)
    idleTimeoutSec: 120, // WebSocket idle timeout (seconds; pings keep it alive)
    maxBackpressureBytes: 8 * 1024 * 1024, // per-connection unsent bytes before status pushes pause
    maxPendingEnqueue: 50_000, // accepted messages waiting for Redis, all connections; beyond it THROTTLED
  },
  redis: {
    keyPrefix: 'sy:', // prefix of every Redis key this engine writes
  },
  engine: {
    workerThreads: 2, // piscina threads hosting operator actors
    nodeId: 'node1', // names this engine's stream consumers; unique per engine node
    restartBackoffMs: { min: 100, max: 10_000 }, // supervisor's restart backoff for a crashed actor
    reclaimIdleMs: 30_000, // pending stream entries idle this long are reclaimed (XAUTOCLAIM)
    stateFlushMs: 2, // an actor gathers state changes (resps, receipts) this long into one Redis call
    metrics: true, // Prometheus metrics in every thread, served at /metrics (false: off, for measuring their cost)
  },
  messages: {
    defaultValiditySec: 48 * 3600, // validity when a submit gives none (seconds)
    maxValiditySec: 7 * 24 * 3600, // longest validity a client may ask for (seconds)
    receiptGraceSec: 6 * 3600, // how long after validity a receipt is still matched (seconds)
    finalRetentionSec: 3600, // how long a message's state is kept in Redis once final (seconds; history lives in analytics)
    maxParts: 10, // most segments one message may need
    maxBatchItems: 500, // most submits in one batch frame
    statusRetention: 2_000_000, // entries kept in the events stream (MAXLEN ~): how far back a reconnecting client can resume
  },
  analytics: {
    enabled: true, // run the events sink into ClickHouse (embedded chdb unless CLICKHOUSE_URL is set)
    dataDir: 'data/analytics', // chdb's data directory
    batchMax: 5_000, // most events per insert
    flushMs: 500, // longest an event waits for its batch (ms)
    maxMemoryMb: 1_024, // ClickHouse max_memory_usage per query
  },
  tenant: {
    tps: 10_000, // accepted submits per second per tenant
    window: 2_000, // unacknowledged submits per WebSocket connection
  },
  routing: {
    downAfterMs: 3_000, // an SMSC without a bound session this long takes no new traffic (flaps and starts wait in its queue)
    failoverAfterSec: 60, // queued messages leave an SMSC whose binds have been down this long
    qualityWindowSec: 300, // delivery rate is measured over this window
    qualityMinReceipts: 100, // fewer receipts than this in the window: the rate is not judged
    // within windowSec, at least `errors` permanent submit errors making up at least `errorRate` of the submits open the circuit for openSec
    circuit: { errors: 20, errorRate: 0.5, windowSec: 60, openSec: 60 },
  },
  smsc: {
    maxQueueLag: 1_000_000, // queued entries beyond which the router sends no new traffic to this SMSC
    binds: 2, // SMPP transceiver sessions
    window: 100, // unanswered submit_sm per bind
    tps: 5_000, // submit_sm per second, shared by the binds (the operator's cap)
    partitions: 2, // Redis stream partitions q:{smsc:p}
    responseTimeoutMs: 10_000, // submit_sm without a resp after this is retried
    enquireLinkSec: 30, // keep-alive period (seconds)
    connectTimeoutMs: 5_000, // TCP connect + bind timeout
    reconnectMs: { min: 200, max: 30_000 }, // bind retry backoff
    throttleBackoffMs: { min: 50, max: 2_000 }, // pause after ESME_RTHROTTLED / ESME_RMSGQFUL
    receiptIdMatch: 'exact', // receipts carry the submit_sm_resp id (case and leading zeros aside)
    sourceTon: 5, // alphanumeric sender by default when `from` has letters (see actor)
  },
  webhook: {
    timeoutMs: 10_000, // one POST, connect to last response byte (ms); longer counts as a failed attempt
    maxBatch: 500, // most events in one POST
    concurrency: 4, // POSTs in flight per tenant: lanes by message id (one message's events stay in order; 1: one tenant-wide order)
    lingerMs: 20, // a POST with less than maxBatch events waits until this long after the tenant's previous POST started (ms; 0: never)
    retryForSec: 24 * 3600, // an event is retried this long after it happened (seconds), then dead-lettered
    backoffMs: { min: 1_000, max: 600_000 }, // retry delay: doubles per failed attempt from min, capped at max, with jitter (ms)
    maxQueued: 2_000_000, // events waiting in Redis per tenant; beyond it new events are dead-lettered (reason queue_full)
    maxDeadLetters: 1_000_000, // dead letters kept per tenant (the oldest are dropped beyond it)
  },
} as const;

const backoff = (d: { min: number; max: number }) =>
  z
    .strictObject({ min: z.number().int().positive(), max: z.number().int().positive() })
    .refine((b) => b.min <= b.max, { message: 'min must be <= max' })
    .default({ ...d });

/** A secret is given by naming an environment variable or a file, never inline. */
const secretRef = z
  .strictObject({
    env: z.string().min(1).optional(),
    file: z.string().min(1).optional(),
  })
  .refine((s) => (s.env === undefined) !== (s.file === undefined), {
    message: 'give exactly one of "env" (an environment variable name) or "file" (a path)',
  });

const id = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'must be 1-32 chars of a-z, 0-9, "_" or "-", starting with a letter or digit');

/** http(s) only, and no user:password in it (secrets are refs, never inline). */
const webhookUrl = z.string().refine(
  (s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '' && u.username === '' && u.password === '';
    } catch {
      return false;
    }
  },
  { message: 'must be an http:// or https:// URL without user:password' },
);

/** A tenant's webhook (engine/webhooks/): its status events and MO messages, POSTed as signed JSON batches. */
export const webhookSchema = z.strictObject({
  url: webhookUrl,
  /** HMAC-SHA256 key of the X-Switchyard-Signature header (at least 16 characters). */
  secret: secretRef,
  timeoutMs: z.number().int().min(100).max(120_000).default(DEFAULTS.webhook.timeoutMs),
  maxBatch: z.number().int().min(1).max(10_000).default(DEFAULTS.webhook.maxBatch),
  lingerMs: z.number().int().min(0).max(10_000).default(DEFAULTS.webhook.lingerMs),
  concurrency: z.number().int().min(1).max(16).default(DEFAULTS.webhook.concurrency),
  retryForSec: z.number().int().min(1).default(DEFAULTS.webhook.retryForSec),
  backoffMs: backoff(DEFAULTS.webhook.backoffMs),
  maxQueued: z.number().int().min(1000).default(DEFAULTS.webhook.maxQueued),
  maxDeadLetters: z.number().int().min(1000).default(DEFAULTS.webhook.maxDeadLetters),
});

const networkId = z.string().regex(/^[0-9]{3}(-[0-9]{2,3})?$/, 'must be "MCC-MNC" (e.g. "242-01") or "MCC" (e.g. "242")');

export const tenantSchema = z.strictObject({
  id,
  apiKey: secretRef,
  tps: z.number().int().positive().default(DEFAULTS.tenant.tps),
  window: z.number().int().positive().default(DEFAULTS.tenant.window),
  /** Route plan id; default: the first plan of routing.plans. */
  routePlan: id.optional(),
  /** Every message of this tenant goes to this SMSC (if eligible). */
  forceSmsc: id.optional(),
  blockedNetworks: z.array(networkId).default([]),
  blockedSmscs: z.array(id).default([]),
  webhook: webhookSchema.optional(),
});

export const smscSchema = z.strictObject({
  id,
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(1).max(65535),
  systemId: z.string().min(1).max(15),
  password: secretRef,
  systemType: z.string().max(12).default(''),
  binds: z.number().int().min(1).max(64).default(DEFAULTS.smsc.binds),
  window: z.number().int().min(1).max(10_000).default(DEFAULTS.smsc.window),
  tps: z.number().int().positive().default(DEFAULTS.smsc.tps),
  maxQueueLag: z.number().int().positive().default(DEFAULTS.smsc.maxQueueLag),
  partitions: z.number().int().min(1).max(64).default(DEFAULTS.smsc.partitions),
  responseTimeoutMs: z.number().int().positive().default(DEFAULTS.smsc.responseTimeoutMs),
  enquireLinkSec: z.number().int().positive().default(DEFAULTS.smsc.enquireLinkSec),
  connectTimeoutMs: z.number().int().positive().default(DEFAULTS.smsc.connectTimeoutMs),
  reconnectMs: backoff(DEFAULTS.smsc.reconnectMs),
  throttleBackoffMs: backoff(DEFAULTS.smsc.throttleBackoffMs),
  receiptIdMatch: z
    .enum(['exact', 'hex-resp-dec-receipt', 'dec-resp-hex-receipt'], { error: 'must be "exact", "hex-resp-dec-receipt" (submit_sm_resp id in hex, receipt id in decimal) or "dec-resp-hex-receipt"' })
    .default(DEFAULTS.smsc.receiptIdMatch),
});

const candidateSchema = z.strictObject({
  smsc: id,
  /** Price per segment in the plan's currency. */
  price: z.number().nonnegative(),
});

const planRouteSchema = z.strictObject({
  network: z.string().regex(/^(\*|[0-9]{3}(-[0-9]{2,3})?)$/, 'must be "MCC-MNC" (e.g. "242-01"), "MCC" (e.g. "242") or "*" (every other network)'),
  candidates: z.array(candidateSchema).min(1, 'a route needs at least one candidate SMSC'),
});

export const routePlanSchema = z.strictObject({
  id,
  currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as "EUR"').default('EUR'),
  /** Skip candidates whose delivery rate is below this (0..1); 0 = off. */
  qualityFloor: z.number().min(0).max(1).default(0),
  routes: z.array(planRouteSchema).min(1, 'a plan needs at least one route'),
});

export const routingSchema = z.strictObject({
  /** CSV numbering plan (prefix,country,mcc,mnc,operator); default: the plan shipped in config/. */
  numberingPlan: z.string().min(1).optional(),
  /** Operators' own range files (same CSV format), loaded on top of the plan in order. */
  rangeFiles: z.array(z.string().min(1)).default([]),
  downAfterMs: z.number().int().min(0).default(DEFAULTS.routing.downAfterMs),
  failoverAfterSec: z.number().int().positive().default(DEFAULTS.routing.failoverAfterSec),
  qualityWindowSec: z.number().int().positive().default(DEFAULTS.routing.qualityWindowSec),
  qualityMinReceipts: z.number().int().positive().default(DEFAULTS.routing.qualityMinReceipts),
  circuit: z
    .strictObject({
      errors: z.number().int().positive().default(DEFAULTS.routing.circuit.errors),
      errorRate: z.number().gt(0).max(1).default(DEFAULTS.routing.circuit.errorRate),
      windowSec: z.number().int().positive().default(DEFAULTS.routing.circuit.windowSec),
      openSec: z.number().int().positive().default(DEFAULTS.routing.circuit.openSec),
    })
    .default({ ...DEFAULTS.routing.circuit }),
  plans: z.array(routePlanSchema).min(1, 'at least one route plan is needed'),
  /** An HLR/MNP provider asked for numbers not in its cache (engine/routing/lookup-hook.ts). */
  lookupHook: z
    .strictObject({
      /** GET URL with "{number}" for the E.164 digits; answers {"mcc","mnc"} or 404. */
      url: z.string().regex(/^https?:\/\/[^\s]*\{number\}/, 'must be an http(s) URL containing "{number}"'),
      /** Sent as the Authorization header. */
      authorization: secretRef.optional(),
      timeoutMs: z.number().int().positive().default(300),
      ttlSec: z.number().int().positive().default(24 * 3600),
      maxEntries: z.number().int().positive().default(1_000_000),
    })
    .optional(),
});

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().default(DEFAULTS.server.host),
      port: z.number().int().min(0).max(65535).default(DEFAULTS.server.port),
      maxFrameBytes: z.number().int().min(1024).default(DEFAULTS.server.maxFrameBytes),
      idleTimeoutSec: z.number().int().min(8).default(DEFAULTS.server.idleTimeoutSec),
      maxBackpressureBytes: z.number().int().positive().default(DEFAULTS.server.maxBackpressureBytes),
      maxPendingEnqueue: z.number().int().positive().default(DEFAULTS.server.maxPendingEnqueue),
    })
    .default({ ...DEFAULTS.server }),
  redis: z
    .strictObject({
      /** Normally from REDIS_URL; a URL here is for tests and must not hold a password. */
      url: z.string().optional(),
      keyPrefix: z.string().default(DEFAULTS.redis.keyPrefix),
    })
    .default({ ...DEFAULTS.redis }),
  engine: z
    .strictObject({
      workerThreads: z.number().int().min(1).max(64).default(DEFAULTS.engine.workerThreads),
      nodeId: id.default(DEFAULTS.engine.nodeId),
      restartBackoffMs: backoff(DEFAULTS.engine.restartBackoffMs),
      reclaimIdleMs: z.number().int().positive().default(DEFAULTS.engine.reclaimIdleMs),
      stateFlushMs: z.number().int().min(0).max(1000).default(DEFAULTS.engine.stateFlushMs),
      metrics: z.boolean().default(DEFAULTS.engine.metrics),
    })
    .default({ ...DEFAULTS.engine, restartBackoffMs: { ...DEFAULTS.engine.restartBackoffMs } }),
  messages: z
    .strictObject({
      defaultValiditySec: z.number().int().positive().default(DEFAULTS.messages.defaultValiditySec),
      maxValiditySec: z.number().int().positive().default(DEFAULTS.messages.maxValiditySec),
      receiptGraceSec: z.number().int().nonnegative().default(DEFAULTS.messages.receiptGraceSec),
      finalRetentionSec: z.number().int().min(60).default(DEFAULTS.messages.finalRetentionSec),
      maxParts: z.number().int().min(1).max(255).default(DEFAULTS.messages.maxParts),
      maxBatchItems: z.number().int().min(1).default(DEFAULTS.messages.maxBatchItems),
      statusRetention: z.number().int().min(1000).default(DEFAULTS.messages.statusRetention),
    })
    .default({ ...DEFAULTS.messages }),
  analytics: z
    .strictObject({
      enabled: z.boolean().default(DEFAULTS.analytics.enabled),
      dataDir: z.string().min(1).default(DEFAULTS.analytics.dataDir),
      batchMax: z.number().int().positive().default(DEFAULTS.analytics.batchMax),
      flushMs: z.number().int().positive().default(DEFAULTS.analytics.flushMs),
      maxMemoryMb: z.number().int().min(64).default(DEFAULTS.analytics.maxMemoryMb),
    })
    .default({ ...DEFAULTS.analytics }),
  tenants: z.array(tenantSchema).min(1, 'at least one tenant is needed'),
  smscs: z.array(smscSchema).min(1, 'at least one SMSC is needed'),
  routing: routingSchema,
});

export type SwitchyardConfig = z.infer<typeof configSchema>;
export type TenantConfig = z.infer<typeof tenantSchema>;
export type SmscConfig = z.infer<typeof smscSchema>;
export type RoutingConfig = z.infer<typeof routingSchema>;
export type RoutePlanConfig = z.infer<typeof routePlanSchema>;
export type SecretRef = z.infer<typeof secretRef>;
export type WebhookConfig = z.infer<typeof webhookSchema>;

/** Keys that were renamed: the error names the replacement. */
export const RENAMED_KEYS: Readonly<Record<string, string>> = {
  tpsLimit: 'tps',
  windowSize: 'window',
  bindCount: 'binds',
  apiKeys: 'tenants[].apiKey',
  routes: 'routing.plans (route plans by MCC/MNC with prices; see README "Routing")',
};
