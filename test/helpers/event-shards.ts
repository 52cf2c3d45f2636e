/**
 * The events streams of a sharded key layout, for the readers' tests: the
 * same test runs on the shared single Redis and on the shared Redis Cluster
 * (`modes`), with entries written straight into ev:{T} of chosen shards.
 */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { Keys } from '../../engine/queue/keys.js';
import { Shards } from '../../engine/queue/shards.js';
import { formatEid } from '../../engine/queue/event-id.js';
import { connectRedis, duplicateClient, masterNodes, type RedisClient, type RedisTarget } from '../../engine/redis/connect-redis.js';
import { clusterTarget } from './redis-cluster.js';

export type Mode = 'single' | 'cluster';
/** Both targets, for describe.each. */
export const modes: Mode[] = ['single', 'cluster'];

export function targetOf(mode: Mode): RedisTarget {
  return mode === 'single' ? { kind: 'single', url: inject('redisUrl') } : clusterTarget();
}

/** Opens clients and key layouts of one mode, and removes every key of its prefixes at the end. */
export class ShardWorld {
  private readonly clients: RedisClient[] = [];
  private readonly prefixes: string[] = [];
  /** Commands of the test itself. */
  readonly redis: RedisClient;

  constructor(readonly mode: Mode) {
    this.redis = this.client('sy-test');
  }

  /** A command client (auto-pipelined on a cluster, as the engine's are). */
  client(name: string): RedisClient {
    const c = connectRedis(targetOf(this.mode), { connectionName: name });
    c.on('error', () => undefined);
    this.clients.push(c);
    return c;
  }

  /** A reader's own client (blocking reads on a single Redis). */
  reader(name: string): RedisClient {
    const c = duplicateClient(this.redis, name, true);
    c.on('error', () => undefined);
    this.clients.push(c);
    return c;
  }

  keys(shards: number): Keys {
    const p = `t:${randomBytes(4).toString('hex')}:`;
    this.prefixes.push(p);
    return new Keys(p, new Shards(shards));
  }

  /**
   * Appends entries (field lists) to shards' streams, in the given order within
   * each shard (one pipeline per shard); returns their public eids, in item order.
   */
  async add(keys: Keys, items: ReadonlyArray<{ readonly shard: number; readonly fields: ReadonlyArray<string>; readonly id?: string }>): Promise<string[]> {
    const byShard = new Map<number, number[]>();
    items.forEach((it, i) => {
      let l = byShard.get(it.shard);
      if (l === undefined) byShard.set(it.shard, (l = []));
      l.push(i);
    });
    const out: string[] = new Array<string>(items.length);
    await Promise.all(
      [...byShard].map(async ([shard, idx]) => {
        for (let from = 0; from < idx.length; from += 2000) {
          const part = idx.slice(from, from + 2000);
          const p = this.redis.pipeline();
          for (const i of part) {
            const it = items[i] as (typeof items)[number];
            p.xadd(keys.eventsOf(shard), it.id ?? '*', ...it.fields);
          }
          const res = (await p.exec()) ?? [];
          res.forEach(([err, id], j) => {
            if (err) throw err;
            out[part[j] as number] = formatEid(shard, id as string);
          });
        }
      }),
    );
    return out;
  }

  async close(): Promise<void> {
    for (const m of masterNodes(this.redis)) {
      for (const p of this.prefixes) {
        const found = await m.keys(p + '*').catch(() => [] as string[]);
        for (const k of found) await this.redis.del(k).catch(() => undefined);
      }
    }
    for (const c of this.clients) c.disconnect();
  }
}

/** A status entry's fields (t, f, x) as the state scripts write them. */
export function statusFields(tenant: string, id: string, status = 'sent', extra: ReadonlyArray<string> = []): string[] {
  return ['t', tenant, 'f', `{"op":"status","id":"${id}","status":"${status}"}`, 'x', 'sim-a|4791234567|1|0|NO|242|01|0.03|EUR||', ...extra];
}

/** "s<K>-<ms>-<seq>" → shard K. */
export function shardOfEid(eid: string): number {
  return Number(eid.slice(1, eid.indexOf('-')));
}

/** "s<K>-<ms>-<seq>" → "<ms>-<seq>". */
export function idOfEid(eid: string): string {
  return eid.slice(eid.indexOf('-') + 1);
}
