/**
 * The one configuration schema of Switchyard. A config file is validated once,
 * at boot: unknown keys are refused, defaults come from `DEFAULTS` below (units in
 * the comments), and the result is deep-frozen. Errors name the file, the key
 * path and what is wrong (see load-config.ts).
 */
import { z } from 'zod';
import { DEFAULT_START_KEYWORDS, DEFAULT_STOP_KEYWORDS } from '../engine/mo/stop-keywords.js';
import { MAX_SHARDS } from '../engine/queue/shards.js';

/** Every default in one place. */
export const DEFAULTS = {
  server: {
    host: '127.0.0.1', // every server binds loopback unless told otherwise
    port: 8080, // HTTP + WebSocket port of the ingress
    maxFrameBytes: 256 * 1024, // largest WebSocket frame accepted (bytes)
    idleTimeoutSec: 120, // WebSocket idle timeout (seconds; pings keep it alive)
    maxBackpressureBytes: 1024 * 1024, // per-connection unsent bytes at which status pushes pause and the connection's frames are refused THROTTLED
    maxBufferedBytes: 4 * 1024 * 1024, // per-connection unsent bytes beyond which the connection is closed (4008, slow consumer)
    slowConsumerCloseSec: 30, // a connection over maxBackpressureBytes this long is closed (4008) (seconds)
    maxConnectionsPerTenant: 100, // open /v1/ws connections per tenant; more are refused 429 TOO_MANY_CONNECTIONS
    maxConnectionsPerIp: 200, // open /v1/ws connections per remote IP; more are refused 429 TOO_MANY_CONNECTIONS
    ingressCpuMsPerSec: 600, // main-thread CPU milliseconds per second all tenants' frames and HTTP submits may use together while several are busy: each busy tenant may use this / their number (or what the others leave; burst: at most 100 ms); beyond it THROTTLED, unparsed
    maxPendingEnqueue: 50_000, // accepted messages waiting for Redis, all connections; beyond it THROTTLED
    // Status resumes (?since= or the tenant's saved cursor; engine/push/status-dispatcher.ts)
    resume: {
      maxAgeSec: 300, // how far back a resume reaches (seconds); older positions resume from there, with a RESUME_LIMITED notice
      maxCatchUps: 64, // connections catching up at once, all served by one shared scan; more wait their turn
      maxCatchUpsPerTenant: 2, // of those, connections of one tenant
    },
  },
  redis: {
    keyPrefix: 'sy:', // prefix of every Redis key this engine writes
    shards: 16, // shards of the Redis state (1..256), fixed for a deployment; on a cluster a multiple of the master count (48 for up to 16 masters)
    waitReplicas: 0, // ack a submit only after WAIT confirms this many replicas have it (0: on the primary's word)
    waitTimeoutMs: 1_000, // longest WAIT for them (ms); not confirmed in time: nack REPLICATION_TIMEOUT
  },
  engine: {
    nodeId: 'node1', // names this engine node in the fleet and its stream consumers; unique per live node (a duplicate is refused NODE_ID_IN_USE)
    restartBackoffMs: { min: 100, max: 10_000 }, // supervisor's restart backoff for a crashed actor
    stateFlushMs: 2, // an actor gathers state changes (resps, receipts) this long into one Redis call
    metrics: true, // Prometheus metrics in every thread, served at /metrics (false: off, for measuring their cost)
  },
  // Many engine nodes on one Redis (engine/fleet/, README "Many nodes"); one node is a fleet of one.
  fleet: {
    heartbeatTtlMs: 10_000, // a node whose heartbeat (renewed every second) is this old is dead: its entries may be reclaimed, its work taken over (ms)
    leaseTtlMs: 5_000, // a bind slot or leader lease not renewed this long is free for another node (ms)
    leaseMarginMs: 1_000, // a node stops using a lease this long before it can have run out in Redis (ms; covers clock-rate drift)
    reclaimAfterMs: 30_000, // pending queue entries of a dead node are taken over once idle this long (ms; at least heartbeatTtlMs)
    drainMs: 5_000, // a slot given back (above the fair share) waits at most this long for its window's resps before it unbinds (ms)
    tenantGrantMs: 50, // with other live nodes, a node takes a tenant's tps in grants of this many ms' worth from Redis; the fleet over-admits at most nodes × grant (ms)
    deadNodeRetentionMs: 3_600_000, // a dead node's record ({c}nodes) is deleted this long after its heartbeat ran out, once its work is taken over (ms)
  },
  messages: {
    defaultValiditySec: 48 * 3600, // validity when a submit gives none (seconds)
    maxValiditySec: 7 * 24 * 3600, // longest validity a client may ask for (seconds)
    receiptGraceSec: 6 * 3600, // how long after validity a receipt is still matched (seconds)
    finalRetentionSec: 600, // how long a message's state is kept in Redis once final (seconds; history lives in analytics). ~500 bytes a message: 3 GB at 10,000 msg/s
    maxParts: 10, // most segments one message may need
    maxBatchItems: 500, // most submits in one batch frame
    statusRetention: 10_000_000, // most entries in the events stream (MAXLEN ~, ~190 bytes each: 1.9 GB): the hard bound on how far a lagging consumer group (analytics, webhooks) or a resuming client can be behind
    statusRetentionSec: 300, // entries younger than this stay in the events stream even when every consumer group has read them (reconnecting clients resume by id)
    minValiditySec: 60, // shortest validity a client may ask for (seconds)
    maxScheduleSec: 30 * 24 * 3600, // furthest in the future `sendAt` may be (seconds)
    listRetentionSec: 3600, // GET /v1/messages lists messages due within this long ago, and every scheduled one (seconds)
    callbackPrivateAddresses: false, // a submit's callbackUrl may name loopback, private or link-local addresses (true: a tenant's client can make the engine POST into its own network)
    idempotencyWindowSec: 24 * 3600, // how long an idempotency key is remembered: a repeat within it returns the first ack (seconds; ~150 bytes of Redis per keyed message)
  },
  analytics: {
    enabled: true, // run the events sink into ClickHouse (embedded chdb unless CLICKHOUSE_URL is set)
    dataDir: 'data/analytics', // chdb's data directory
    cluster: '', // ClickHouse cluster name (or {macro}) for the cluster schema (analytics/cluster-schema.ts: ReplicatedMergeTree + Distributed, ON CLUSTER); needs CLICKHOUSE_URL. '': one server, or embedded
    batchMax: 20_000, // most events per insert (fewer, larger inserts: each makes a part in the events table and in every materialized view; 20,000 cost 20 % less sink CPU than 5,000 at 20,000 events/s)
    flushMs: 1_000, // longest an event waits for its batch (ms): analytics trails by about this much
    maxMemoryMb: 1_024, // ClickHouse max_memory_usage per query
    serverMemoryMb: 2_048, // embedded chdb only: max_server_memory_usage, the whole engine (caches are 1/16 of it)
    reportPageRows: 20_000, // rows per page of a streamed CSV report (bounds the analytics process's memory)
    // What one analytics request may cost (issue 11: a report from 1970 cost ~206 CPU-seconds). Refusals are QUERY_TOO_COSTLY / THROTTLED.
    limits: {
      maxSliceDays: 400, // longest from..to of /delivery, /failures, /statuses (days): they read per-minute aggregates; 400 = the events' retention
      maxEventDays: 31, // longest from..to of a CSV report and of /numbers/… (days): they read raw events
      queryTimeoutSec: 30, // ClickHouse max_execution_time of each analytics query, each page of a report (seconds)
      maxRowsToRead: 100_000_000, // ClickHouse max_rows_to_read of each analytics query, each page of a report (rows)
      reportsPerKey: 1, // CSV reports one key (a tenant's, or the admin's) may run at once
    },
    badNumbers: {
      enabled: true, // flag numbers with repeated permanent failures
      failures: 3, // permanent failures (after the last delivery) that flag a number
      windowSec: 7 * 24 * 3600, // how far back failures count (seconds)
      // error_code values that are permanent: receipt err (GSM MAP: 001 unknown subscriber, 009 illegal subscriber,
      // 011 teleservice not provisioned, 012 illegal equipment) and refused submits (0x0000000b ESME_RINVDSTADR)
      permanentCodes: ['001', '009', '011', '012', '0x0000000b'],
      refreshSec: 15, // how often the flagged list is re-evaluated and handed to the ingress
      refuse: false, // refuse submits to flagged numbers with NUMBER_FLAGGED (tenants[].refuseFlaggedNumbers overrides)
      maxEvidence: 10, // failures kept as evidence per flagged number
    },
  },
  tenant: {
    tps: 10_000, // accepted submits per second per tenant
    window: 2_000, // unacknowledged submits per WebSocket connection
    transliterate: false, // map text that would need UCS-2 to GSM-7 where a sensible mapping exists (per submit: `transliterate`)
    billOn: 'sent', // usage counts a message when the SMSC took it ('sent') or only once delivered ('delivered')
  },
  mo: {
    unattributedStop: 'global', // a STOP to a number no tenant owns opts the sender out of every tenant ('ignore': it does not)
  },
  moderation: {
    // hold a tenant's messages while its last minute's volume is over max(floorPerMinute, multiple × its normal per-minute volume)
    volume: { enabled: false, multiple: 10, floorPerMinute: 1_000, halfLifeHours: 24 }, // messages per minute; the normal volume's half-life in hours
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
    responseTimeoutMs: 10_000, // submit_sm without a resp after this is retried
    enquireLinkSec: 30, // keep-alive period (seconds)
    connectTimeoutMs: 5_000, // TCP connect + bind timeout
    reconnectMs: { min: 200, max: 30_000 }, // bind retry backoff
    throttleBackoffMs: { min: 50, max: 2_000 }, // pause after ESME_RTHROTTLED / ESME_RMSGQFUL
    receiptIdMatch: 'exact', // receipts carry the submit_sm_resp id (case and leading zeros aside)
    concatenation: 'udh', // multipart messages: 8-bit UDH in short_message ('udh') or SAR TLVs ('sar')
    alphabet: 'gsm7', // the SMSC's default alphabet: how GSM-7 text goes on the wire and how its data_coding 0 is read ('gsm7' unpacked septets, 'gsm7-packed', 'latin1', 'ia5')
    // TON/NPI of submit_sm addresses by sender class (engine/actors/addresses.ts); all-digit senders of at most shortCodeMaxDigits digits are short codes
    addresses: {
      shortCodeMaxDigits: 6, // digits
      alphanumeric: { ton: 5, npi: 0 },
      shortCode: { ton: 3, npi: 0 },
      national: { ton: 2, npi: 1 },
      international: { ton: 1, npi: 1 },
      destination: { ton: 1, npi: 1 },
    },
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
  // SMPP server ingress: customers bind as ESMEs (engine/smpp-server/, README "SMPP server")
  smppServer: {
    enabled: false, // listen for customer SMPP binds
    host: '127.0.0.1', // address the SMPP listener binds
    port: 2775, // SMPP listener port (0: any free port)
    window: 100, // unanswered submit_sm per bind; beyond it 0x58 (ESME_RTHROTTLED); also our unanswered deliver_sm per bind
    maxBinds: 4, // binds per tenant at once (tenants[].smpp.maxBinds overrides); beyond it 0x0D (ESME_RBINDFAIL)
    responseTimeoutMs: 10_000, // a deliver_sm unanswered this long is retried (ms)
    enquireLinkSec: 30, // send enquire_link after this much silence from the customer (seconds; 0: never)
    idleTimeoutSec: 300, // close a bind that sent no request (submit, enquire_link, ...) this long (seconds)
    concatTimeoutSec: 60, // parts of a concatenated submit wait this long for the rest; then each is answered 0x08 (seconds)
    retryMs: { min: 100, max: 10_000 }, // backoff of a deliver_sm the customer refused or left unanswered (ms)
    maxPduBytes: 4096, // largest PDU read from a customer; a longer one closes the session (its framing is lost)
  },
} as const;

const DEFAULT_MO_UNATTRIBUTED_STOP: 'global' | 'ignore' = DEFAULTS.mo.unattributedStop;

const backoff = (d: { min: number; max: number }) =>
  z
    .strictObject({ min: z.number().int().positive(), max: z.number().int().positive() })
    .refine((b) => b.min <= b.max, { message: 'min must be <= max' })
    .default({ ...d });

/** A secret is given by naming an environment variable or a file, never inline. */
const secretRef = z
  .strictObject(
    {
      env: z.string().min(1).optional(),
      file: z.string().min(1).optional(),
    },
    {
      // A plain string is the likely mistake: say what to write instead of "expected object, received string".
      error: (iss) =>
        iss.code === 'invalid_type' && typeof iss.input === 'string'
          ? 'a secret is never written in the config file: give {"env": "VAR_NAME"} (an environment variable holding it) or {"file": "/path"} (a file holding it)'
          : undefined,
    },
  )
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

/** A domain on a link allowlist: "acme.com" (and its subdomains), "*.acme.com" is the same. */
const domain = z.string().regex(/^(\*\.)?([a-z0-9-]+\.)*[a-z0-9-]+\.?$/i, 'must be a domain name such as "acme.com"');

const volumeRule = z.strictObject({
  enabled: z.boolean().optional(),
  multiple: z.number().gt(1).optional(),
  floorPerMinute: z.number().int().positive().optional(),
  halfLifeHours: z.number().positive().optional(),
});

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
  /** Refuse submits to numbers flagged by bad-number detection (NUMBER_FLAGGED); default analytics.badNumbers.refuse. */
  refuseFlaggedNumbers: z.boolean().optional(),
  /** Numbers and short codes this tenant receives MO messages on ("+4790000000", "2222"). */
  inboundNumbers: z.array(z.string().regex(/^\+?[0-9]{3,15}$/, 'must be a number ("+4790000000") or a short code ("2222")')).default([]),
  /** Overrides of the top-level `moderation` section for this tenant. */
  moderation: z
    .strictObject({
      /** Link domains allowed in this tenant's messages; other links are held. Absent: the top-level list. */
      urlAllowlist: z.array(domain).optional(),
      volume: volumeRule.optional(),
    })
    .optional(),
  /** Accepted messages per UTC day; beyond it QUOTA_EXCEEDED. Absent: no quota. */
  dailyQuota: z.number().int().positive().optional(),
  /** Sender ids (`from`) the tenant may use: exact, or a number prefix ending in "*". Absent: any. */
  senders: z
    .array(z.string().regex(/^(\+?[0-9]{1,15}\*?|[A-Za-z0-9 ._-]{1,11})$/, 'must be a sender id (1-11 letters, digits, space, ".", "_", "-"), a number, or a number prefix ending in "*"'))
    .min(1, 'give at least one sender, or leave "senders" out to allow any')
    .optional(),
  transliterate: z.boolean().default(DEFAULTS.tenant.transliterate),
  billOn: z.enum(['sent', 'delivered'], { error: 'must be "sent" (bill what the SMSC took) or "delivered" (bill delivered messages only)' }).default(DEFAULTS.tenant.billOn),
  webhook: webhookSchema.optional(),
  /** SMPP credentials of this tenant's binds (engine/smpp-server/); absent: the tenant cannot bind. */
  smpp: z
    .strictObject({
      /** system_id of the tenant's binds (SMPP 3.4: at most 15 characters), unique over tenants. */
      systemId: z.string().regex(/^[ -~]{1,15}$/, 'must be 1-15 printable ASCII characters (SMPP 3.4 system_id)'),
      /** The bind password (SMPP 3.4: at most 8 characters); stored as an scrypt hash at load. */
      password: secretRef,
      /** Binds at once; default smppServer.maxBinds. */
      maxBinds: z.number().int().min(1).max(1000).optional(),
      /** What data_coding 0 means for this customer: GSM 03.38 (unpacked, one septet per octet) or Latin-1. */
      dataCoding0: z.enum(['gsm7', 'latin1']).default('gsm7'),
    })
    .optional(),
});

/** SMPP 3.4 §5.2.5-6: TON 0-6; NPI 0, 1, 3, 4, 6, 8, 9, 10, 14, 18. */
const tonNpi = (d: { ton: number; npi: number }) =>
  z
    .strictObject({
      ton: z.number().int().min(0).max(6),
      npi: z.number().int().refine((n) => [0, 1, 3, 4, 6, 8, 9, 10, 14, 18].includes(n), { message: 'must be an SMPP 3.4 NPI: 0, 1, 3, 4, 6, 8, 9, 10, 14 or 18' }),
    })
    .default({ ...d });

const A = DEFAULTS.smsc.addresses;
const addressesSchema = z
  .strictObject({
    shortCodeMaxDigits: z.number().int().min(0).max(15).default(A.shortCodeMaxDigits),
    alphanumeric: tonNpi(A.alphanumeric),
    shortCode: tonNpi(A.shortCode),
    national: tonNpi(A.national),
    international: tonNpi(A.international),
    destination: tonNpi(A.destination),
  })
  .default({
    shortCodeMaxDigits: A.shortCodeMaxDigits, alphanumeric: { ...A.alphanumeric }, shortCode: { ...A.shortCode },
    national: { ...A.national }, international: { ...A.international }, destination: { ...A.destination },
  });

/** data_coding values each alphabet may be sent with (the first is its default). */
export const ALPHABET_DATA_CODINGS: Readonly<Record<string, ReadonlyArray<number>>> = { gsm7: [0], 'gsm7-packed': [0], latin1: [3, 0], ia5: [1, 0] };

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
  responseTimeoutMs: z.number().int().positive().default(DEFAULTS.smsc.responseTimeoutMs),
  enquireLinkSec: z.number().int().positive().default(DEFAULTS.smsc.enquireLinkSec),
  connectTimeoutMs: z.number().int().positive().default(DEFAULTS.smsc.connectTimeoutMs),
  reconnectMs: backoff(DEFAULTS.smsc.reconnectMs),
  throttleBackoffMs: backoff(DEFAULTS.smsc.throttleBackoffMs),
  receiptIdMatch: z
    .enum(['exact', 'hex-resp-dec-receipt', 'dec-resp-hex-receipt'], { error: 'must be "exact", "hex-resp-dec-receipt" (submit_sm_resp id in hex, receipt id in decimal) or "dec-resp-hex-receipt"' })
    .default(DEFAULTS.smsc.receiptIdMatch),
  concatenation: z
    .enum(['udh', 'sar'], { error: 'must be "udh" (8-bit concatenation header in short_message) or "sar" (sar_msg_ref_num, sar_total_segments, sar_segment_seqnum TLVs)' })
    .default(DEFAULTS.smsc.concatenation),
  alphabet: z
    .enum(['gsm7', 'gsm7-packed', 'latin1', 'ia5'], {
      error: 'must be "gsm7" (GSM 03.38 unpacked, data_coding 0), "gsm7-packed" (packed septets, data_coding 0), "latin1" (ISO-8859-1, data_coding 3) or "ia5" (IA5/ASCII, data_coding 1)',
    })
    .default(DEFAULTS.smsc.alphabet),
  /** data_coding GSM-7 text goes out with in `alphabet` when not the alphabet's own (latin1 3 or 0, ia5 1 or 0). */
  alphabetDataCoding: z.number().int().min(0).max(255).optional(),
  addresses: addressesSchema,
}).refine((s) => s.alphabetDataCoding === undefined || (ALPHABET_DATA_CODINGS[s.alphabet] ?? []).includes(s.alphabetDataCoding), {
  message: 'alphabetDataCoding does not fit the alphabet: gsm7 and gsm7-packed go as 0, latin1 as 3 or 0, ia5 as 1 or 0',
  path: ['alphabetDataCoding'],
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
      maxBackpressureBytes: z.number().int().min(16 * 1024).default(DEFAULTS.server.maxBackpressureBytes),
      maxBufferedBytes: z.number().int().min(64 * 1024).default(DEFAULTS.server.maxBufferedBytes),
      slowConsumerCloseSec: z.number().int().min(1).default(DEFAULTS.server.slowConsumerCloseSec),
      maxConnectionsPerTenant: z.number().int().positive().default(DEFAULTS.server.maxConnectionsPerTenant),
      maxConnectionsPerIp: z.number().int().positive().default(DEFAULTS.server.maxConnectionsPerIp),
      ingressCpuMsPerSec: z.number().int().min(10).max(1000).default(DEFAULTS.server.ingressCpuMsPerSec),
      maxPendingEnqueue: z.number().int().positive().default(DEFAULTS.server.maxPendingEnqueue),
      resume: z
        .strictObject({
          maxAgeSec: z.number().int().min(1).default(DEFAULTS.server.resume.maxAgeSec),
          maxCatchUps: z.number().int().min(1).default(DEFAULTS.server.resume.maxCatchUps),
          maxCatchUpsPerTenant: z.number().int().min(1).default(DEFAULTS.server.resume.maxCatchUpsPerTenant),
        })
        .default({ ...DEFAULTS.server.resume }),
    })
    .refine((s) => s.maxBufferedBytes > s.maxBackpressureBytes, { message: 'must be larger than server.maxBackpressureBytes (pushes pause at that, the connection is closed beyond this)', path: ['maxBufferedBytes'] })
    .default({ ...DEFAULTS.server, resume: { ...DEFAULTS.server.resume } }),
  redis: z
    .strictObject({
      /** Normally from REDIS_URL; a URL here is for tests and must not hold a password. */
      url: z.string().optional(),
      keyPrefix: z.string().default(DEFAULTS.redis.keyPrefix),
      shards: z.number().int().min(1).max(MAX_SHARDS).default(DEFAULTS.redis.shards),
      waitReplicas: z.number().int().min(0).max(16).default(DEFAULTS.redis.waitReplicas),
      waitTimeoutMs: z.number().int().min(1).max(60_000).default(DEFAULTS.redis.waitTimeoutMs),
    })
    .default({ ...DEFAULTS.redis }),
  engine: z
    .strictObject({
      nodeId: id.default(DEFAULTS.engine.nodeId),
      restartBackoffMs: backoff(DEFAULTS.engine.restartBackoffMs),
      stateFlushMs: z.number().int().min(0).max(1000).default(DEFAULTS.engine.stateFlushMs),
      metrics: z.boolean().default(DEFAULTS.engine.metrics),
    })
    .default({ ...DEFAULTS.engine, restartBackoffMs: { ...DEFAULTS.engine.restartBackoffMs } }),
  fleet: z
    .strictObject({
      heartbeatTtlMs: z.number().int().min(3_000).max(600_000).default(DEFAULTS.fleet.heartbeatTtlMs),
      leaseTtlMs: z.number().int().min(2_000).max(600_000).default(DEFAULTS.fleet.leaseTtlMs),
      leaseMarginMs: z.number().int().min(100).default(DEFAULTS.fleet.leaseMarginMs),
      reclaimAfterMs: z.number().int().positive().default(DEFAULTS.fleet.reclaimAfterMs),
      drainMs: z.number().int().min(0).max(600_000).default(DEFAULTS.fleet.drainMs),
      tenantGrantMs: z.number().int().min(1).max(1_000).default(DEFAULTS.fleet.tenantGrantMs),
      deadNodeRetentionMs: z.number().int().min(1_000).max(30 * 86_400_000).default(DEFAULTS.fleet.deadNodeRetentionMs),
    })
    .refine((f) => f.leaseMarginMs <= f.leaseTtlMs - 1_000, { message: 'must be at most leaseTtlMs - 1000 (a lease is renewed every second and used until leaseTtlMs - leaseMarginMs)', path: ['leaseMarginMs'] })
    .refine((f) => f.reclaimAfterMs >= f.heartbeatTtlMs, { message: 'must be at least heartbeatTtlMs (entries of a node are reclaimed only once it is known dead)', path: ['reclaimAfterMs'] })
    .default({ ...DEFAULTS.fleet }),
  messages: z
    .strictObject({
      defaultValiditySec: z.number().int().positive().default(DEFAULTS.messages.defaultValiditySec),
      maxValiditySec: z.number().int().positive().default(DEFAULTS.messages.maxValiditySec),
      receiptGraceSec: z.number().int().nonnegative().default(DEFAULTS.messages.receiptGraceSec),
      finalRetentionSec: z.number().int().min(60).default(DEFAULTS.messages.finalRetentionSec),
      maxParts: z.number().int().min(1).max(255).default(DEFAULTS.messages.maxParts),
      maxBatchItems: z.number().int().min(1).default(DEFAULTS.messages.maxBatchItems),
      statusRetention: z.number().int().min(1000).default(DEFAULTS.messages.statusRetention),
      statusRetentionSec: z.number().int().min(0).default(DEFAULTS.messages.statusRetentionSec),
      minValiditySec: z.number().int().min(1).default(DEFAULTS.messages.minValiditySec),
      maxScheduleSec: z.number().int().positive().default(DEFAULTS.messages.maxScheduleSec),
      listRetentionSec: z.number().int().min(60).default(DEFAULTS.messages.listRetentionSec),
      idempotencyWindowSec: z.number().int().min(60).max(30 * 86_400).default(DEFAULTS.messages.idempotencyWindowSec),
      callbackPrivateAddresses: z.boolean().default(DEFAULTS.messages.callbackPrivateAddresses),
    })
    .default({ ...DEFAULTS.messages }),
  analytics: z
    .strictObject({
      enabled: z.boolean().default(DEFAULTS.analytics.enabled),
      dataDir: z.string().min(1).default(DEFAULTS.analytics.dataDir),
      cluster: z.string().regex(/^[A-Za-z0-9_.{}-]{0,100}$/, 'a ClickHouse cluster name: letters, digits, _ . - and {macros}').default(DEFAULTS.analytics.cluster),
      batchMax: z.number().int().positive().max(100_000).default(DEFAULTS.analytics.batchMax),
      flushMs: z.number().int().positive().default(DEFAULTS.analytics.flushMs),
      maxMemoryMb: z.number().int().min(64).default(DEFAULTS.analytics.maxMemoryMb),
      serverMemoryMb: z.number().int().min(128).default(DEFAULTS.analytics.serverMemoryMb),
      reportPageRows: z.number().int().min(100).max(200_000).default(DEFAULTS.analytics.reportPageRows),
      limits: z
        .strictObject({
          maxSliceDays: z.number().int().min(1).max(36_500).default(DEFAULTS.analytics.limits.maxSliceDays),
          maxEventDays: z.number().int().min(1).max(36_500).default(DEFAULTS.analytics.limits.maxEventDays),
          queryTimeoutSec: z.number().positive().max(86_400).default(DEFAULTS.analytics.limits.queryTimeoutSec),
          maxRowsToRead: z.number().int().min(1000).default(DEFAULTS.analytics.limits.maxRowsToRead),
          reportsPerKey: z.number().int().min(1).max(100).default(DEFAULTS.analytics.limits.reportsPerKey),
        })
        .default({ ...DEFAULTS.analytics.limits }),
      badNumbers: z
        .strictObject({
          enabled: z.boolean().default(DEFAULTS.analytics.badNumbers.enabled),
          failures: z.number().int().min(1).default(DEFAULTS.analytics.badNumbers.failures),
          windowSec: z.number().int().positive().default(DEFAULTS.analytics.badNumbers.windowSec),
          permanentCodes: z
            .array(z.string().regex(/^([0-9]{1,10}|0[xX][0-9a-fA-F]{1,8})$/, 'must be a receipt err code in decimal ("001") or a command_status in hex ("0x0000000b")'))
            .min(1)
            .default([...DEFAULTS.analytics.badNumbers.permanentCodes]),
          refreshSec: z.number().int().positive().default(DEFAULTS.analytics.badNumbers.refreshSec),
          refuse: z.boolean().default(DEFAULTS.analytics.badNumbers.refuse),
          maxEvidence: z.number().int().min(1).max(1000).default(DEFAULTS.analytics.badNumbers.maxEvidence),
        })
        .default({ ...DEFAULTS.analytics.badNumbers, permanentCodes: [...DEFAULTS.analytics.badNumbers.permanentCodes] }),
    })
    .default({ ...DEFAULTS.analytics, badNumbers: { ...DEFAULTS.analytics.badNumbers, permanentCodes: [...DEFAULTS.analytics.badNumbers.permanentCodes] } }),
  /** Mobile-originated (inbound) messages: attribution and STOP / START keywords (engine/mo/). */
  mo: z
    .strictObject({
      stopKeywords: z.array(z.string().min(1).max(40)).min(1).default([...DEFAULT_STOP_KEYWORDS]),
      startKeywords: z.array(z.string().min(1).max(40)).default([...DEFAULT_START_KEYWORDS]),
      /** The tenant of MO messages to numbers no tenant lists in inboundNumbers. */
      defaultTenant: id.optional(),
      unattributedStop: z.enum(['global', 'ignore']).default(DEFAULT_MO_UNATTRIBUTED_STOP),
    })
    .default({ stopKeywords: [...DEFAULT_STOP_KEYWORDS], startKeywords: [...DEFAULT_START_KEYWORDS], unattributedStop: DEFAULT_MO_UNATTRIBUTED_STOP }),
  /** Messages held for an admin's approval (`pending_approval`): links, volume anomalies (engine/moderation/). */
  moderation: z
    .strictObject({
      /** Link domains every tenant may use unless it has its own list; absent: links are not checked. */
      urlAllowlist: z.array(domain).optional(),
      volume: z
        .strictObject({
          enabled: z.boolean().default(DEFAULTS.moderation.volume.enabled),
          multiple: z.number().gt(1).default(DEFAULTS.moderation.volume.multiple),
          floorPerMinute: z.number().int().positive().default(DEFAULTS.moderation.volume.floorPerMinute),
          halfLifeHours: z.number().positive().default(DEFAULTS.moderation.volume.halfLifeHours),
        })
        .default({ ...DEFAULTS.moderation.volume }),
    })
    .default({ volume: { ...DEFAULTS.moderation.volume } }),
  /** SMPP server ingress (engine/smpp-server/): customers bind with tenants[].smpp credentials. */
  smppServer: z
    .strictObject({
      enabled: z.boolean().default(DEFAULTS.smppServer.enabled),
      host: z.string().default(DEFAULTS.smppServer.host),
      port: z.number().int().min(0).max(65535).default(DEFAULTS.smppServer.port),
      /** TLS with this certificate and key (PEM files); absent: plain TCP. */
      tls: z.strictObject({ certFile: z.string().min(1), keyFile: z.string().min(1) }).optional(),
      window: z.number().int().min(1).max(10_000).default(DEFAULTS.smppServer.window),
      maxBinds: z.number().int().min(1).max(1000).default(DEFAULTS.smppServer.maxBinds),
      responseTimeoutMs: z.number().int().min(100).max(600_000).default(DEFAULTS.smppServer.responseTimeoutMs),
      enquireLinkSec: z.number().int().min(0).max(3600).default(DEFAULTS.smppServer.enquireLinkSec),
      idleTimeoutSec: z.number().int().min(1).max(86_400).default(DEFAULTS.smppServer.idleTimeoutSec),
      concatTimeoutSec: z.number().int().min(1).max(3600).default(DEFAULTS.smppServer.concatTimeoutSec),
      retryMs: backoff(DEFAULTS.smppServer.retryMs),
      maxPduBytes: z.number().int().min(512).max(65_536).default(DEFAULTS.smppServer.maxPduBytes),
    })
    .default({ ...DEFAULTS.smppServer, retryMs: { ...DEFAULTS.smppServer.retryMs } }),
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
  reclaimIdleMs: 'fleet.reclaimAfterMs (entries are reclaimed only from nodes whose heartbeat ran out; see README "Many nodes")',
  partitions: 'redis.shards (every SMSC has one queue stream per shard; see README "Redis Cluster")',
  tenantCpuMsPerSec: 'server.ingressCpuMsPerSec (the main-thread time all busy tenants share, each getting its equal share or what the others leave; see README "Limits")',
};

/** Keys that were removed: the error says why and what took their place. */
export const REMOVED_KEYS: Readonly<Record<string, string>> = {
  workerThreads: 'every SMSC\'s operator actor now runs in a worker thread of its own, so that one actor\'s crash affects that SMSC only (README "Design notes")',
};
