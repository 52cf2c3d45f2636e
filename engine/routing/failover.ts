/**
 * Failover of queued messages: when every bind of an SMSC has been down for
 * longer than `routing.failoverAfterSec`, the messages waiting in its queue
 * that no actor has read yet are re-routed (the router skips the down SMSC)
 * and moved to the chosen SMSC's queue, keeping their ids and statuses. The
 * move is one script per batch and shard (an SMSC has a queue stream per
 * shard; the entries move to the chosen SMSC's stream of the same shard, so
 * the script's keys share a slot) and takes only entries after the consumer
 * group's last-delivered id, so an entry cannot be both moved and sent.
 * Entries the down SMSC's actor already holds (at most its window) stay with
 * it and go out when it is back, or expire. New messages never reach a down
 * SMSC: the router does not choose it. A GSM-7 message goes only to an SMSC
 * whose alphabet carries its characters (smscs[].alphabet): its segments were
 * cut for GSM-7, and an SMSC taking only Latin-1 or IA5 could not send it.
 */
import type { RedisClient } from '../redis/connect-redis.js';
import type { RouteHealth, Router } from '../../router/index.js';
import { routeRecord, type QueueEntry, type RedisStore } from '../queue/redis-store.js';
import { carriesPart, type SmscAlphabet } from '../text/index.js';

export interface FailoverOptions {
  readonly failoverAfterSec: number;
  readonly batch: number;
  readonly smscs: ReadonlyArray<{ readonly id: string; readonly alphabet?: SmscAlphabet }>;
}

export class Failover {
  moved = 0;
  unroutable = 0;
  private running = false;
  /** SMSCs whose alphabet does not carry all of GSM-7. */
  private readonly alphabets: ReadonlyMap<string, SmscAlphabet>;

  constructor(
    private readonly store: RedisStore,
    private readonly redis: RedisClient,
    private readonly health: RouteHealth,
    private readonly router: () => Router,
    private readonly o: FailoverOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.alphabets = new Map(o.smscs.flatMap((s) => (s.alphabet === 'latin1' || s.alphabet === 'ia5' ? [[s.id, s.alphabet] as const] : [])));
  }

  /** One pass over every SMSC down for too long; returns the entries moved. */
  async tick(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    let moved = 0;
    try {
      for (const s of this.o.smscs) {
        const i = this.health.index.get(s.id) as number;
        const since = this.health.downSince[i] as number;
        if (this.health.up[i] === 1 || since === 0 || this.now() - since < this.o.failoverAfterSec * 1000) continue;
        for (const k of this.store.keys.shards.all()) moved += await this.moveStream(this.store.keys.queueOf(s.id, k), s.id, k);
      }
    } finally {
      this.running = false;
    }
    this.moved += moved;
    return moved;
  }

  /** Up to 10 batches per pass; entries that cannot be re-routed now are stepped over. */
  private async moveStream(key: string, from: string, shard: number): Promise<number> {
    let moved = 0;
    let after: string | undefined;
    for (let k = 0; k < 10; k++) {
      const entries = await this.store.unread(key, this.o.batch, after);
      if (entries.length === 0) break;
      after = (entries[entries.length - 1] as QueueEntry).entryId;
      moved += await this.moveBatch(key, from, shard, entries);
      if (entries.length < this.o.batch) break;
    }
    return moved;
  }

  private async moveBatch(key: string, from: string, shard: number, entries: ReadonlyArray<QueueEntry>): Promise<number> {
    const ids = [...new Set(entries.map((e) => e.id))].filter((id) => this.store.keys.shardOf(id) === shard);
    const tenants = await Promise.all(ids.map((id) => this.redis.hget(this.store.keys.msg(id), 't')));
    const router = this.router();
    const dest = new Map<string, { smsc: string; route: string } | null>();
    const toOf = new Map(entries.map((e) => [e.id, e.to]));
    // GSM-7 parts go only to SMSCs whose alphabet carries every character (engine/text/smsc-alphabet.ts).
    const gsmParts = new Map<string, QueueEntry[]>();
    for (const e of entries) if (e.dataCoding === 0) gsmParts.set(e.id, [...(gsmParts.get(e.id) ?? []), e]);
    ids.forEach((id, k) => {
      const tenant = tenants[k];
      const to = toOf.get(id);
      const parts = gsmParts.get(id);
      const skip = parts === undefined ? undefined : (smsc: string) => {
        const alphabet = this.alphabets.get(smsc);
        return alphabet !== undefined && !parts.every((e) => carriesPart(alphabet, e.shortMessage, e.esmClass));
      };
      const d = tenant == null || to === undefined ? undefined : router.route({ e164: to, tenant, ...(skip === undefined ? {} : { skip }) });
      dest.set(id, d?.ok === true && d.smsc !== from ? { smsc: d.smsc, route: routeRecord(d) } : null);
    });
    const moves = [];
    for (const e of entries) {
      const d = dest.get(e.id);
      if (d == null) {
        this.unroutable++;
        continue;
      }
      moves.push({ entryId: e.entryId, dstKey: this.store.keys.queueOf(d.smsc, shard), id: e.id, smsc: d.smsc, route: d.route });
    }
    return await this.store.move(key, shard, moves);
  }
}
