/**
 * The analytics sink's EventSource (analytics/event-sink.ts, the port) on
 * Redis or a Redis Cluster: its consumer group on every shard's events stream
 * (engine/queue/event-streams.ts).
 *
 *   read     single Redis: one XREADGROUP over all S streams, BLOCK up to the
 *            wait; cluster: one per stream, pipelined per master, polled (no
 *            BLOCK) until the wait is over
 *   pending  the same with id 0 per stream; a read that fails on any shard
 *            throws: what the others returned stays pending and comes back
 *            whole with the next pending read
 *   ack      single Redis: one MULTI of an XACK per shard (all or nothing);
 *            cluster: an XACK per shard, pipelined per master (a crash between
 *            masters leaves part of a batch pending: the sink's saved batch
 *            description tells it that part was inserted)
 *   batch    the description of the batch being inserted, in {P}anb:{consumer}
 *            (its own slot; one SET per batch)
 */
import type { EventSource, SourceEntry } from '../../analytics/event-sink.js';
import { ANALYTICS_GROUP, MAX_BATCH } from '../../analytics/event-sink.js';
import type { Keys } from '../queue/keys.js';
import { MAX_SHARDS } from '../queue/shards.js';
import { formatEid, uniform } from '../queue/event-id.js';
import { ensureGroups, EventStreams, IdlePoll, isNoGroup, type ShardReply } from '../queue/event-streams.js';
import { isCluster, type RedisClient } from '../redis/connect-redis.js';
import { perKey } from '../redis/node-pipelines.js';

export class RedisEventSource implements EventSource {
  readonly name: string;
  private readonly streams: EventStreams;
  private readonly idle = new IdlePoll();
  private readonly batchKey: string;

  /**
   * `reader`: the sink's own client (its reads block on a single Redis);
   * `redis`: commands (acknowledgements, the batch description, stats).
   */
  constructor(
    private readonly reader: RedisClient,
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly consumer: string,
    private readonly group = ANALYTICS_GROUP,
  ) {
    this.streams = new EventStreams(reader, keys);
    this.name = `${keys.prefix}ev`;
    this.batchKey = keys.analyticsBatch(consumer);
  }

  ensureGroup(): Promise<void> {
    return ensureGroups(this.redis, this.streams.keys, this.group, '0');
  }

  async pending(): Promise<SourceEntry[]> {
    // Per stream at most a whole batch (batchMax ≤ MAX_BATCH, plus one per shard of a read's rounding).
    return this.entries(await this.readGroup(uniform(this.streams.shards, '0'), MAX_BATCH + MAX_SHARDS, 0));
  }

  private async readGroup(from: '>' | string[], count: number, blockMs: number): Promise<ShardReply> {
    let r: ShardReply;
    try {
      r = await this.streams.readGroup(this.group, this.consumer, from, count, blockMs);
    } catch (err) {
      return this.recreateOnNoGroup(err as Error);
    }
    if (r.error !== undefined) return this.recreateOnNoGroup(r.error);
    return r;
  }

  /**
   * A group that vanished (its stream deleted and written again, or a failover
   * that lost its creation) is created again, from the start of what the
   * stream holds, and the read fails this time (the sink retries).
   */
  private async recreateOnNoGroup(err: Error): Promise<never> {
    if (isNoGroup(err)) await this.ensureGroup().catch(() => undefined);
    throw err;
  }

  async read(count: number, waitMs: number): Promise<SourceEntry[]> {
    const perStream = Math.max(1, Math.ceil(count / this.streams.shards));
    if (!this.streams.cluster) return this.entries(await this.readGroup('>', perStream, waitMs));
    const until = Date.now() + waitMs;
    for (;;) {
      const got = this.entries(await this.readGroup('>', perStream, 0));
      const wait = this.idle.next(got.length > 0);
      if (got.length > 0 || Date.now() + wait > until) return got;
      await this.idle.wait(wait);
    }
  }

  private entries(r: ShardReply): SourceEntry[] {
    if (r.error !== undefined) throw r.error;
    const out: SourceEntry[] = [];
    r.entries.forEach((list, shard) => {
      for (const [id, fields] of list) out.push({ eid: formatEid(shard, id), shard, id, fields });
    });
    return out;
  }

  async ack(entries: ReadonlyArray<SourceEntry>): Promise<void> {
    const byShard = new Map<number, string[]>();
    for (const e of entries) {
      let l = byShard.get(e.shard);
      if (l === undefined) byShard.set(e.shard, (l = []));
      l.push(e.id);
    }
    const shards = [...byShard.keys()];
    const keys = shards.map((k) => this.keys.eventsOf(k));
    if (!isCluster(this.redis)) {
      const m = this.redis.multi();
      keys.forEach((key, i) => m.xack(key, this.group, ...(byShard.get(shards[i] as number) as string[])));
      const res = await m.exec();
      const err = res === null ? new Error('acknowledgement aborted') : res.find(([e]) => e !== null)?.[0];
      if (err) throw err;
      return;
    }
    const res = await perKey(this.redis, keys, (p, key, i) => p.xack(key, this.group, ...(byShard.get(shards[i] as number) as string[])));
    const err = res.find((r) => r[0]?.[0] != null)?.[0]?.[0];
    if (err) throw err;
  }

  async saveBatch(description: string): Promise<void> {
    await this.redis.set(this.batchKey, description);
  }

  async savedBatch(): Promise<string | undefined> {
    return (await this.redis.get(this.batchKey)) ?? undefined;
  }

  /** Entries of every stream the group has not read yet (XINFO GROUPS lag, summed); -1 when unknown. */
  async backlog(): Promise<number> {
    const res = await perKey(this.redis, this.streams.keys, (p, key) => p.xinfo('GROUPS', key), true);
    let sum = 0;
    for (const r of res) {
      const [err, groups] = r[0] ?? [new Error('no reply'), null];
      if (err !== null) return -1;
      for (const g of groups as unknown[][]) {
        if (g[g.indexOf('name') + 1] !== this.group) continue;
        const lag = g[g.indexOf('lag') + 1];
        if (lag === null || lag === undefined) return -1;
        sum += Number(lag);
      }
    }
    return sum;
  }

  /** Wakes a polling read (stopping). */
  interrupt(): void {
    this.idle.interrupt();
  }

  /** The reader's client (the sink process disconnects it). */
  get client(): RedisClient {
    return this.reader;
  }
}
