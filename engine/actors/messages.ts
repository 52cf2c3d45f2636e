/**
 * The messages passed between the main thread (supervisor) and the worker
 * threads hosting operator actors — all of them, in one file (piscina's
 * types.ts habit).
 */
import type { MessagePort } from 'node:worker_threads';
import type { MetricsJson } from '../metrics/registry.js';
import type { ReceiptIdMatch } from './receipt.js';
import type { ActorMoConfig } from '../mo/mo-recorder.js';
import type { RedisTarget } from '../redis/connect-redis.js';
import type { SmscAlphabet } from '../text/index.js';
import type { AddressPlan } from './addresses.js';
import type { SmscLeases } from '../fleet/fleet.js';

export interface ActorSmscConfig {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly systemId: string;
  readonly password: string; // resolved from the environment by the main thread
  readonly systemType: string;
  readonly binds: number;
  readonly window: number;
  readonly tps: number;
  readonly responseTimeoutMs: number;
  readonly enquireLinkSec: number;
  readonly connectTimeoutMs: number;
  readonly reconnectMs: { readonly min: number; readonly max: number };
  readonly throttleBackoffMs: { readonly min: number; readonly max: number };
  readonly receiptIdMatch: ReceiptIdMatch;
  /** Multipart messages: 8-bit UDH in short_message, or SAR TLVs. */
  readonly concatenation: 'udh' | 'sar';
  /** The SMSC's default alphabet: how GSM-7 text is sent and its data_coding 0 read (engine/text/smsc-alphabet.ts). */
  readonly alphabet: SmscAlphabet;
  /** data_coding of GSM-7 text sent in `alphabet`; absent: the alphabet's own (0, 0, 3, 1). */
  readonly alphabetDataCoding?: number | undefined;
  /** TON/NPI per sender class and for the destination (addresses.ts). */
  readonly addresses: AddressPlan;
}

/** The piscina task that hosts one actor for its lifetime. */
export interface ActorTask {
  readonly smsc: ActorSmscConfig;
  /** A single Redis or a cluster (connect-redis.ts). */
  readonly redis: RedisTarget;
  readonly keyPrefix: string;
  /** redis.shards: names the keys. */
  readonly shards: number;
  readonly consumer: string;
  /** Pending entries of dead nodes are taken once idle this long (fleet.reclaimAfterMs). */
  readonly reclaimIdleMs: number;
  /** Bind slots are leased (engine/fleet/): the actor binds only what it is told it holds (ActorCommand 'leases'). */
  readonly leased: boolean;
  /** How long a bind given back or lost waits for its window's resps before it closes (fleet.drainMs). */
  readonly drainMs: number;
  readonly stateFlushMs: number;
  readonly metrics: boolean;
  readonly receiptGraceSec: number;
  readonly eventsMaxLen: number;
  readonly finalRetentionSec: number;
  /** Inbound (MO) message handling: attribution to tenants, STOP/START keywords. */
  readonly mo: ActorMoConfig;
  /** How long opt-outs are re-checked against queued entries: the longest validity (seconds). */
  readonly optOutHorizonSec: number;
  readonly port: MessagePort;
}

export interface BindState {
  readonly index: number;
  readonly up: boolean;
  readonly since: number;
  readonly inFlight: number;
  /** Its first bind attempt has ended (bound or failed): routing counts the SMSC's down grace from then. */
  readonly tried: boolean;
}

export interface ActorStats {
  readonly smsc: string;
  readonly threadId: number;
  readonly binds: ReadonlyArray<BindState>;
  readonly submitted: number; // submit_sm answered OK
  readonly rejected: number; // permanent submit errors
  readonly expired: number; // validity ran out before sending
  readonly throttled: number; // 0x58 / 0x14 answers
  readonly retried: number; // resends after throttle, timeout or lost bind
  readonly receipts: number; // receipts persisted
  readonly receiptsEarly: number; // receipts that came before their submit_sm_resp
  readonly receiptsDelivered: number; // receipts saying delivered (router's delivery rate)
  readonly receiptsFailed: number; // receipts saying undelivered, expired, rejected or unknown
  readonly receiptsUnmatched: number; // receipts for unknown or expired messages
  readonly reconnects: number;
  readonly badPdus: number;
  readonly buffered: number; // entries pulled from Redis, not yet sent
  readonly tokenWaits: number; // times the TPS bucket held sending back
  readonly submitP50Ms: number; // submit_sm → resp latency since the actor started
  readonly submitP99Ms: number;
}

/** Worker → main thread. */
export type ActorReport =
  | { readonly type: 'started'; readonly smsc: string; readonly threadId: number }
  | { readonly type: 'stats'; readonly stats: ActorStats; readonly metrics?: MetricsJson; readonly threadMetrics?: MetricsJson }
  | { readonly type: 'log'; readonly level: 'info' | 'warn' | 'error'; readonly smsc: string; readonly msg: string }
  // A drained bind slot is closed: the fleet gives it back.
  | { readonly type: 'released'; readonly smsc: string; readonly index: number };

/** Main thread → worker. */
export type ActorCommand = { readonly type: 'stop' } | { readonly type: 'crash' } | { readonly type: 'leases'; readonly leases: SmscLeases };
