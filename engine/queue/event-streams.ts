/**
 * Reads the events streams, one per shard (ev:{T}, keys.ts), for every reader
 * of them: the status dispatcher, the analytics sink, the webhook dispatcher
 * (DESIGN.md §10, README "Redis Cluster").
 *
 *   single Redis   one XREAD / XREADGROUP naming all S streams, BLOCK allowed:
 *                  a reader costs what it cost with one stream (one command a read)
 *   cluster        one command per stream (a command's keys must share a slot),
 *                  in one pipeline per master (node-pipelines.ts), no BLOCK (a
 *                  blocking read would hold its master's connection, and S of
 *                  them would take turns on it): the caller polls, backing off
 *                  while everything is empty (IdlePoll)
 *
 * COUNT applies per stream in both cases, so a read returns up to S × count
 * entries; callers size count by S. Replies come back per shard; on a cluster
 * the streams of one master can fail while the others answer (a failover):
 * such shards are reported in `failed` and their readers keep their position.
 */
import type { ChainableCommander } from 'ioredis';
import { isCluster, type RedisClient } from '../redis/connect-redis.js';
import { perKey } from '../redis/node-pipelines.js';
import type { Keys } from './keys.js';
import type { Positions } from './event-id.js';

/** [stream id, fields]; fields is null for a pending entry the stream no longer holds (trimmed). */
export type StreamEntry = [string, string[] | null];

export interface ShardReply {
  /** Entries per shard ([] when none). */
  readonly entries: StreamEntry[][];
  /** Shards whose read failed (cluster: their master did not answer); empty on success. */
  readonly failed: ReadonlyArray<number>;
  /** The first failure, for logs. */
  readonly error?: Error;
}

/** Raw XREAD / XREADGROUP reply: [[key, [[id, fields], ...]], ...] or null. */
type RawReply = Array<[string, StreamEntry[]]> | null;

export class EventStreams {
  /** ev:{T} of each shard, in shard order. */
  readonly keys: ReadonlyArray<string>;
  readonly cluster: boolean;
  private readonly index = new Map<string, number>();

  /** `client`: the reader's own connection(s) (a blocking read holds its connection). */
  constructor(
    private readonly client: RedisClient,
    keys: Keys,
  ) {
    this.keys = eventStreamKeys(keys);
    this.keys.forEach((k, i) => this.index.set(k, i));
    this.cluster = isCluster(client);
  }

  get shards(): number {
    return this.keys.length;
  }

  /** XREAD after `positions`, up to `count` entries per stream; blocks up to `blockMs` (single Redis only; 0: no block). */
  async read(positions: Positions, count: number, blockMs: number): Promise<ShardReply> {
    if (!this.cluster) {
      const args: Array<string | number> = ['COUNT', count];
      if (blockMs > 0) args.push('BLOCK', blockMs);
      args.push('STREAMS', ...this.keys, ...positions);
      return this.spread((await this.client.call('XREAD', ...args)) as RawReply);
    }
    // Lower-case names: ioredis finds a command's key (and so its master) by the lower-case name.
    return this.each((p, key, i) => p.call('xread', 'COUNT', count, 'STREAMS', key, positions[i] as string));
  }

  /**
   * XREADGROUP of `group` as `consumer`: new entries ('>') or this consumer's
   * pending ones after `from` (per shard). Blocks up to `blockMs` (single Redis only).
   */
  async readGroup(group: string, consumer: string, from: '>' | Positions, count: number, blockMs: number): Promise<ShardReply> {
    const ids = (i: number) => (from === '>' ? '>' : (from[i] as string));
    if (!this.cluster) {
      const args: Array<string | number> = ['GROUP', group, consumer, 'COUNT', count];
      if (blockMs > 0 && from === '>') args.push('BLOCK', blockMs);
      args.push('STREAMS', ...this.keys, ...this.keys.map((_, i) => ids(i)));
      return this.spread((await this.client.call('XREADGROUP', ...args)) as RawReply);
    }
    return this.each((p, key, i) => p.call('xreadgroup', 'GROUP', group, consumer, 'COUNT', count, 'STREAMS', key, ids(i)));
  }

  private spread(reply: RawReply): ShardReply {
    const entries: StreamEntry[][] = this.keys.map(() => []);
    for (const [key, items] of reply ?? []) {
      const i = this.index.get(key);
      if (i !== undefined) entries[i] = items;
    }
    return { entries, failed: [] };
  }

  private async each(add: (p: ChainableCommander, key: string, i: number) => void): Promise<ShardReply> {
    const res = await perKey(this.client, this.keys, add);
    const entries: StreamEntry[][] = [];
    const failed: number[] = [];
    let error: Error | undefined;
    res.forEach((r, i) => {
      const [err, v] = r[0] ?? [new Error('no reply'), null];
      if (err !== null) {
        failed.push(i);
        error ??= err;
        entries.push([]);
      } else entries.push((v as RawReply)?.[0]?.[1] ?? []);
    });
    return error === undefined ? { entries, failed } : { entries, failed, error };
  }
}

/**
 * The XADD cap (MAXLEN ~) of each shard's events stream: messages.statusRetention
 * is the bound over all of them (memory: ~190 bytes an entry), so each stream
 * takes its share.
 */
export function eventsCapPerShard(statusRetention: number, shards: number): number {
  return Math.max(1, Math.ceil(statusRetention / shards));
}

/** ev:{T} of every shard, in shard order. */
export function eventStreamKeys(keys: Keys): string[] {
  return keys.shards.all().map((k) => keys.eventsOf(k));
}

/**
 * Creates `group` on every shard's stream (MKSTREAM), starting at `from`
 * ('0': everything the stream holds; '$': from now). Existing groups are left
 * as they are. Throws the first other error.
 */
export async function ensureGroups(client: RedisClient, streamKeys: ReadonlyArray<string>, group: string, from: '0' | '$'): Promise<void> {
  const res = await perKey(client, streamKeys, (p, key) => p.xgroup('CREATE', key, group, from, 'MKSTREAM'), true);
  for (const r of res) {
    const err = r[0]?.[0];
    if (err && !String(err.message).includes('BUSYGROUP')) throw err;
  }
}

/** True for the error of a read whose consumer group does not exist (the stream was deleted, or a failover lost it). */
export function isNoGroup(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOGROUP');
}

/**
 * The idle wait of a polling reader (cluster: no BLOCK): 5 ms after a read
 * that found nothing, doubling to 100 ms while everything stays empty, back to
 * 0 as soon as anything came. At 100 ms an idle reader costs S commands ten
 * times a second, spread over the masters.
 */
export class IdlePoll {
  private ms = 0;
  private wake: (() => void) | undefined;

  constructor(
    private readonly minMs = 5,
    private readonly maxMs = 100,
  ) {}

  /** After a read: how long to wait before the next one (0 when it found something). */
  next(found: boolean): number {
    this.ms = found ? 0 : this.ms === 0 ? this.minMs : Math.min(this.maxMs, this.ms * 2);
    return this.ms;
  }

  /** Waits `ms` unless interrupted. */
  async wait(ms: number): Promise<void> {
    if (ms <= 0) return;
    await new Promise<void>((ok) => {
      const t = setTimeout(ok, ms);
      this.wake = () => {
        clearTimeout(t);
        ok();
      };
    });
    this.wake = undefined;
  }

  /** Ends a wait at once (new work, or stopping); the next read starts at the shortest wait. */
  interrupt(): void {
    this.ms = 0;
    this.wake?.();
  }
}
