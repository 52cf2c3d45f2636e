/**
 * Fenced reclaim (issue 14): which pending queue entries an actor may take
 * from other consumers of its SMSC's queue streams, and handing its own back.
 * Replaces XAUTOCLAIM, which took any entry idle long enough whoever held it:
 * a node paused longer than that (GC, SIGSTOP, a slow VM) had its entries
 * sent by another node and then sent its own copies.
 *
 * An entry is taken only
 * - from a consumer whose node is not live (no heartbeat at the last fleet
 *   tick, engine/fleet/fleet.ts), once idle >= fleet.reclaimAfterMs; or
 * - from FREE_CONSUMER, where an actor that lost every bind's lease hands
 *   its read-but-unsent entries (they stay pending, now for whoever holds a
 *   bind: a live node that will never bind again must not sit on them).
 * Per stream: XPENDING's summary names the consumers; XPENDING per consumer
 * lists its entries; lua/claim.lua moves each only if that consumer still
 * holds it and it is idle enough, so two survivors never both take one.
 * Never XAUTOCLAIM over all consumers.
 *
 * Why wait reclaimAfterMs beyond the heartbeat: an entry a node had on the
 * wire (submit written, resp unread) looks exactly like an unsent one. A
 * node that was only paused wakes within the delay, records the resps
 * waiting in its sockets and sends nothing new (its leases are gone): zero
 * duplicates. A dead node's in-flight entries are resent after the delay:
 * duplicates at most its open windows. A pause longer than reclaimAfterMs
 * behaves as a crash.
 *
 * Every call is on one queue stream (its shard's slot); nothing here touches
 * the control slot {c}: who is live comes from the fleet tick.
 */
import { GROUP } from '../queue/keys.js';
import { parseEntry, type QueueEntry } from '../queue/redis-store.js';
import type { RedisClient } from '../redis/connect-redis.js';
import { defineLuaCommand, loadLuaScript, luaPath } from '../redis/lua-loader.js';

const CLAIM = loadLuaScript(luaPath(import.meta.url, './lua/claim.lua'));

/** The consumer holding entries handed back by an actor without binds: any bound actor of the SMSC takes them at once. */
export const FREE_CONSUMER = '~free';

/** Entries listed per consumer per call. */
const PAGE = 500;

interface Scripted {
  syFleetClaimBuffer(key: string, group: string, from: string, to: string, minIdle: number, withEntries: number, ...ids: string[]): Promise<Array<[Buffer, Buffer[]]> | number>;
  syFleetClaim(key: string, group: string, from: string, to: string, minIdle: number, withEntries: number, ...ids: string[]): Promise<number>;
}

/** The node of a consumer name "<nodeId>:<smsc>" (node ids hold no ':'). */
export function nodeOfConsumer(consumer: string): string {
  const i = consumer.indexOf(':');
  return i < 0 ? consumer : consumer.slice(0, i);
}

export interface FencedReclaimOptions {
  /** This actor's consumer name. */
  readonly consumer: string;
  /** Pending entries of a dead node are taken once idle this long (fleet.reclaimAfterMs). */
  readonly reclaimAfterMs: number;
  /** The live node ids of a fresh fleet view; undefined: no fresh view, take nothing from anyone but FREE_CONSUMER. */
  readonly liveNodes: () => ReadonlySet<string> | undefined;
}

export class FencedReclaim {
  private readonly s: Scripted;

  constructor(
    private readonly redis: RedisClient,
    private readonly o: FencedReclaimOptions,
  ) {
    defineLuaCommand(redis, 'syFleetClaim', CLAIM);
    this.s = redis as unknown as Scripted;
  }

  /** Takes what this actor may take from one queue stream, page by page. */
  async *takeOver(queueKey: string): AsyncIterable<QueueEntry[]> {
    const summary = (await this.redis.xpending(queueKey, GROUP)) as [number, string | null, string | null, Array<[string, string]> | null];
    const consumers = summary[3] ?? [];
    if (consumers.length === 0) return;
    const live = this.o.liveNodes();
    for (const [name] of consumers) {
      if (name === this.o.consumer) continue;
      let minIdle: number;
      if (name === FREE_CONSUMER) minIdle = 0;
      else if (live !== undefined && !live.has(nodeOfConsumer(name))) minIdle = this.o.reclaimAfterMs;
      else continue;
      const listed = (await this.redis.xpending(queueKey, GROUP, 'IDLE', minIdle, '-', '+', PAGE, name)) as Array<[string, string, number, number]>;
      if (listed.length === 0) continue;
      const reply = await this.s.syFleetClaimBuffer(queueKey, GROUP, name, this.o.consumer, minIdle, 1, ...listed.map((e) => e[0]));
      const out: QueueEntry[] = [];
      for (const [id, fields] of reply as Array<[Buffer, Buffer[]]>) {
        const e = parseEntry(queueKey, id.toString('latin1'), fields);
        if (e !== undefined) out.push(e);
      }
      if (out.length > 0) yield out;
    }
  }

  /** Hands this actor's entries (still its own) of one stream to FREE_CONSUMER; returns how many moved. */
  async handBack(queueKey: string, entryIds: ReadonlyArray<string>): Promise<number> {
    if (entryIds.length === 0) return 0;
    return Number(await this.s.syFleetClaim(queueKey, GROUP, this.o.consumer, FREE_CONSUMER, 0, 0, ...entryIds));
  }
}
