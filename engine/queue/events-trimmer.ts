/**
 * Keeps each shard's events stream ev:{T} as short as its readers allow, and
 * no shorter.
 *
 *   entries of one shard's stream:  oldest ──────────────────────────────────────────▶ newest
 *                                   [ trimmed ][ still needed by a consumer group ][ floor window ]
 *                                              ▲ min(oldest pending, last delivered) over its groups
 *                                                                              ▲ now − floorSec
 *
 * Every status change is one entry in its message's shard; the analytics sink
 * and the webhook dispatcher read every shard's stream with a consumer group
 * each, reconnecting WebSocket clients resume from them by id. Trimming with
 * MAXLEN alone (the state scripts' XADD cap) drops entries a lagging group has
 * not read — at 10,000 msg/s a cap of 2 M entries was ~100 s of a ClickHouse
 * outage. So, once a second, this trims each stream (XTRIM MINID ~) only below
 * what every group on it has read and acknowledged and what is older than the
 * floor window (kept for clients resuming by id). Each stream is judged by
 * its own groups: shards are read and acknowledged independently.
 *
 * A stream that lacks a group the engine expects (`groups`: it was deleted and
 * written again, or a failover lost the group's creation) is not trimmed at
 * all: the group's reader creates it again and would otherwise find the entries
 * it has not read gone. It is counted (`missingGroups`) and warned about.
 *
 * Cost: one pipeline per master a second (XLEN and XINFO GROUPS per stream,
 * XPENDING for groups with pending entries, XTRIM), S streams.
 * The XADD cap (messages.statusRetention, spread over the shards) stays as the
 * hard bound on memory (~190 bytes an entry): a group that lags by more than
 * that loses entries, which is logged and visible as switchyard_events_group_lag.
 */
import type { RedisClient } from '../redis/connect-redis.js';
import { perKey, type Reply } from '../redis/node-pipelines.js';
import { eventStreamKeys } from './event-streams.js';
import type { Keys } from './keys.js';
import { compareStreamId } from './stream-id.js';

export interface EventsStreamStats {
  /** Entries over every shard's stream. */
  length: number;
  /** Per group, summed over the shards: entries not yet read or acknowledged, and of those read and not acknowledged. */
  groups: Array<{ name: string; lag: number; pending: number }>;
  /** Entries trimmed since start (approximate: XTRIM ~ removes whole stream nodes). */
  trims: number;
  /** Streams left untrimmed at the last pass because an expected group was missing on them. */
  missingGroups: number;
}

/** A consumer group every events stream should have, and where the reader creates it again. */
export interface EventGroup {
  readonly name: string;
  readonly from: '0' | '$';
}

export interface EventsTrimmerOptions {
  /** Entries younger than this are kept whatever the groups have read (seconds). */
  readonly floorSec: number;
  /** The XADD cap over all shards (entries): a group lagging by more than 80 % of a shard's share is warned about. */
  readonly cap: number;
  /** Groups every stream must have before it is trimmed (the engine's readers). */
  readonly groups?: ReadonlyArray<EventGroup>;
  readonly intervalMs?: number;
}

type GroupInfo = Array<string | number | null>;

function field(info: GroupInfo, name: string): string | number | null | undefined {
  const i = info.indexOf(name);
  return i < 0 ? undefined : info[i + 1];
}

export class EventsTrimmer {
  readonly stats: EventsStreamStats = { length: 0, groups: [], trims: 0, missingGroups: 0 };
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private lastWarn = 0;
  private readonly streams: string[];

  constructor(
    private readonly redis: RedisClient,
    keys: Keys,
    private readonly o: EventsTrimmerOptions,
    private readonly log: (level: 'warn', msg: string) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.streams = eventStreamKeys(keys);
  }

  start(): void {
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      this.tick().then(
        () => (this.busy = false),
        () => (this.busy = false), // Redis away: the next tick tries again
      );
    }, this.o.intervalMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One pass: read every stream's groups, trim each below its lowest, report lag summed over the shards. */
  async tick(): Promise<void> {
    const info = await perKey(this.redis, this.streams, (p, key) => p.xlen(key).xinfo('GROUPS', key), true);
    const floor = `${Math.max(0, this.now() - this.o.floorSec * 1000)}-0`;
    const expected = this.o.groups ?? [];
    const perShardCap = Math.ceil(this.o.cap / this.streams.length);
    let length = 0;
    let missing = 0;
    const sums = new Map<string, { lag: number; pending: number }>();
    const behind: string[] = [];
    // Per stream: the groups read, and the lowest position any of them needs (undefined: do not trim).
    const shards: Array<{ key: string; min: string | undefined; oldest: Array<{ name: string; need: string }> }> = [];
    this.streams.forEach((key, i) => {
      const [[e1, len], [e2, infos]] = (info[i] ?? []) as [Reply, Reply];
      if (e1 !== null) return; // its master did not answer: next pass
      length += Number(len);
      const groups = e2 === null && Array.isArray(infos) ? (infos as GroupInfo[]) : [];
      const names = new Set(groups.map((g) => String(field(g, 'name'))));
      const lacks = Number(len) > 0 && expected.some((g) => !names.has(g.name));
      if (lacks) missing++;
      let min: string | undefined = lacks ? undefined : floor;
      const oldest: Array<{ name: string; need: string }> = [];
      for (const g of groups) {
        const name = String(field(g, 'name'));
        const pending = Number(field(g, 'pending') ?? 0);
        const lagRaw = field(g, 'lag');
        const lag = (lagRaw === null || lagRaw === undefined ? 0 : Number(lagRaw)) + pending;
        const need = String(field(g, 'last-delivered-id') ?? '0-0');
        if (pending > 0) oldest.push({ name, need });
        else if (min !== undefined && compareStreamId(need, min) < 0) min = need;
        const sum = sums.get(name) ?? { lag: 0, pending: 0 };
        sum.lag += lag;
        sum.pending += pending;
        sums.set(name, sum);
        if (lag > 0.8 * perShardCap) behind.push(`group ${name} is ${lag} entries behind in ${key}`);
      }
      shards.push({ key, min, oldest });
    });
    // Groups with pending entries need their oldest one kept (one XPENDING each, pipelined per master).
    const pendingOf = shards.flatMap((s) => s.oldest.map((o) => ({ s, ...o })));
    if (pendingOf.length > 0) {
      const res = await perKey(this.redis, pendingOf.map((x) => x.s.key), (p, key, i) => p.xpending(key, (pendingOf[i] as { name: string }).name, '-', '+', 1));
      pendingOf.forEach((x, i) => {
        const [err, v] = (res[i] as Reply[])[0] as Reply;
        let need = x.need;
        const id = err === null ? (v as Array<[string, ...unknown[]]>)[0]?.[0] : undefined;
        if (err !== null) x.s.min = undefined; // not known: leave the stream as it is this pass
        else if (id !== undefined && compareStreamId(id, need) < 0) need = id;
        if (x.s.min !== undefined && compareStreamId(need, x.s.min) < 0) x.s.min = need;
      });
    }
    this.stats.length = length;
    this.stats.groups = [...sums].map(([name, v]) => ({ name, lag: v.lag, pending: v.pending }));
    this.stats.missingGroups = missing;
    if ((behind.length > 0 || missing > 0) && this.now() - this.lastWarn > 60_000) {
      this.lastWarn = this.now();
      if (behind.length > 0) this.log('warn', `events streams: ${behind.join(', ')}; beyond ${perShardCap} entries per shard (messages.statusRetention over the shards) the oldest are trimmed unread`);
      if (missing > 0) this.log('warn', `events streams: ${missing} stream(s) lack a consumer group the engine reads with (${expected.map((g) => g.name).join(', ')}); they are not trimmed until their readers create it again`);
    }
    const trim = shards.filter((s) => s.min !== undefined && s.min !== '0-0');
    if (trim.length === 0) return;
    const res = await perKey(this.redis, trim.map((s) => s.key), (p, key, i) => p.xtrim(key, 'MINID', '~', (trim[i] as { min: string }).min));
    for (const r of res) if (r[0]?.[0] === null) this.stats.trims += Number(r[0][1]);
  }
}
