/**
 * The webhook dispatcher: reads every shard's events stream ev:{T} with its
 * own consumer group ("webhooks", consumer "webhooks-<node>", on each stream)
 * and hands each entry of a tenant with a webhook to that tenant's channel
 * (tenant-channel.ts), which posts it. Everything else (tenants without a
 * webhook, entries with p='0', i.e. the client asked for no status reports) is
 * acknowledged at once.
 *
 *   ev:{T}… ──XREADGROUP (≤ 1,000 per read over the shards; own pending entries first after a restart)──▶ by tenant
 *        ├─ acme ─▶ buffer ─POST─▶ 2xx: XACK (batched per tick, per shard)
 *        ├─ beta ─▶ buffer ─┐ (receiver failing, or behind)
 *        └─ no webhook / p=0 ─▶ XACK
 *                           ▼ after each read: RPUSH whq:{t}:{node} …, then XACK on the shards
 *
 * Reads (engine/queue/event-streams.ts): on a single Redis one XREADGROUP over
 * all S streams, BLOCK 1 s; on a Redis Cluster one per stream, pipelined per
 * master, polled (5 ms doubling to 100 ms while all are empty). Events keep
 * their order per message (a message's events are all in its shard's stream);
 * one phone's MO messages also share a shard (chosen by the sender).
 *
 * Moving events to a tenant's Redis list and acknowledging them on ev: one
 * MULTI on a single Redis (atomic); on a cluster the list is in the tenant's
 * slot and the entries in the shards' slots, so the MULTI of the list goes
 * first and the XACKs after it: a crash between the two re-reads those events
 * and queues them again (posted twice; at least once, as after any crash).
 *
 * The reader never waits for a receiver: it waits only for Redis (the append
 * of what it read), so a tenant whose receiver is down or slow holds nobody
 * else back, and memory stays bounded by the channels' buffers. Redis cost
 * while every receiver keeps up: the group read and one XACK per event, in
 * batches (~1.2 µs per event on this machine, bench/RESULTS.md); the list
 * costs more per event (RPUSH, LRANGE, LTRIM) and only for tenants behind.
 * With several engine nodes each reads its share of ev and keeps its own
 * lists, so no two nodes post the same list; per-tenant order then holds per
 * node.
 */
import type { Redis } from 'ioredis';
import { systemClock, type Clock } from '../flow/clock.js';
import type { Keys } from '../queue/keys.js';
import { msOf, splitEid, uniform, formatEid, type Positions } from '../queue/event-id.js';
import { ensureGroups, EventStreams, IdlePoll, isNoGroup, type StreamEntry } from '../queue/event-streams.js';
import { isCluster, type RedisClient } from '../redis/connect-redis.js';
import { perKey } from '../redis/node-pipelines.js';
import { postWebhook, type Poster } from './post-webhook.js';
import { execOrThrow, TenantChannel, type ChannelHost, type ChannelState, type PendingEvent, type TenantPace, type WebhookTenant } from './tenant-channel.js';
import { deadLetter, laneOf, webhookEvent } from './webhook-batch.js';
import type { WebhookMetrics } from './webhook-metrics.js';

export const WEBHOOK_GROUP = 'webhooks';
/** Entries per read of ev, over all shards (XREADGROUP's COUNT is per stream: each takes its share). */
const PAGE = 1000;
/** After a read that found less than a quarter page, wait this long (ms): fewer, fuller reads under steady traffic. */
const READ_LINGER_MS = 10;
/** Acknowledgements of delivered events are gathered this long into one XACK (ms). */
const ACK_EVERY_MS = 10;
const CHUNK = 5000;
/** Most lanes a tenant may have (webhook.concurrency); lists of lanes beyond the configured count are drained too. */
export const MAX_LANES = 16;

export interface WebhookDispatcherOptions {
  /** Commands (appends, acknowledgements, the lists). */
  readonly redis: RedisClient;
  /** Reads of ev only (they block on a single Redis). */
  readonly reader: RedisClient;
  readonly keys: Keys;
  readonly node: string;
  readonly tenants: ReadonlyArray<WebhookTenant>;
  readonly clock?: Clock;
  readonly post?: Poster;
  readonly metrics?: WebhookMetrics;
  readonly random?: () => number;
  readonly log?: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

/** Creates the consumer group on every shard's stream at its end: webhooks get what happens from the first start on. */
export async function ensureWebhookGroup(redis: RedisClient, keys: Keys): Promise<void> {
  await ensureGroups(redis, keys.shards.all().map((k) => keys.eventsOf(k)), WEBHOOK_GROUP, '$');
}

/** Public eids grouped by shard: shard → stream ids. */
function byShard(eids: ReadonlyArray<string>): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const e of eids) {
    const { shard, id } = splitEid(e);
    let l = out.get(shard);
    if (l === undefined) out.set(shard, (l = []));
    l.push(id);
  }
  return out;
}

export class WebhookDispatcher implements ChannelHost {
  /** Tenant → its lanes (the first webhook.concurrency get new events; any after them only drain old lists). */
  readonly channels = new Map<string, TenantChannel[]>();
  readonly group = WEBHOOK_GROUP;
  readonly clock: Clock;
  readonly post: Poster;
  readonly metrics: WebhookMetrics | undefined;
  readonly random: () => number;
  /** Typed as a single client for the channels' list commands (one tenant's slot each, routed alike on a cluster). */
  readonly redis: Redis;
  private readonly client: RedisClient;
  private readonly streams: EventStreams;
  private readonly cluster: boolean;
  private readonly idle = new IdlePoll();
  /** Age of the newest entry read (ms); 0 when the last read found nothing new. */
  lagMs = 0;
  /** Pending entries found trimmed from ev (messages.statusRetention) before they were handled: lost to webhooks. */
  trimmed = 0;
  private readonly consumer: string;
  private readonly abort = new AbortController();
  private running = false;
  private readLoop: Promise<void> | undefined;
  private readerId: number | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private acks: string[] = [];
  private acksInFlight: string[] = [];
  private ackTimer: NodeJS.Timeout | undefined;
  private appendInFlight: PendingEvent[] = [];
  private flushing: Promise<void> | undefined;
  private pauseWake: (() => void) | undefined;

  constructor(private readonly o: WebhookDispatcherOptions) {
    this.redis = o.redis as Redis;
    this.client = o.redis;
    this.streams = new EventStreams(o.reader, o.keys);
    this.cluster = isCluster(o.redis);
    this.clock = o.clock ?? systemClock;
    this.post = o.post ?? postWebhook;
    this.metrics = o.metrics;
    this.random = o.random ?? Math.random;
    this.consumer = `webhooks-${o.node}`;
    for (const t of o.tenants) this.channels.set(t.id, Array.from({ length: t.concurrency }, (_, i) => this.lane(t, i)));
  }

  private readonly paces = new Map<string, TenantPace>();

  private lane(t: WebhookTenant, i: number): TenantChannel {
    let pace = this.paces.get(t.id);
    if (pace === undefined) this.paces.set(t.id, (pace = { lastPostAt: -Infinity }));
    return new TenantChannel(t, this, i, this.o.keys.webhookQueue(t.id, this.o.node, i), this.o.keys.webhookDeadLetters(t.id), pace);
  }

  /** Every lane of every tenant. */
  private lanes(): TenantChannel[] {
    return [...this.channels.values()].flat();
  }

  get stopSignal(): AbortSignal {
    return this.abort.signal;
  }

  log(level: 'info' | 'warn' | 'error', msg: string): void {
    this.o.log?.(level, msg);
  }

  async start(): Promise<void> {
    this.running = true;
    await ensureWebhookGroup(this.client, this.o.keys);
    if (!this.cluster) this.readerId = Number(await (this.o.reader as Redis).client('ID'));
    // Lists left by a run with more lanes are drained by lanes that take no new events.
    const p = this.redis.pipeline();
    for (const t of this.o.tenants) for (let i = t.concurrency; i < MAX_LANES; i++) p.llen(this.o.keys.webhookQueue(t.id, this.o.node, i));
    const lens = ((await p.exec()) ?? []).map(([e, n]) => (e === null ? Number(n) : 0));
    let k = 0;
    for (const t of this.o.tenants) {
      const lanes = this.channels.get(t.id) as TenantChannel[];
      let last = -1;
      for (let i = t.concurrency; i < MAX_LANES; i++) if ((lens[k++] ?? 0) > 0) last = i;
      for (let i = t.concurrency; i <= last; i++) lanes.push(this.lane(t, i));
    }
    // A lane whose list holds events from an earlier run starts by draining it.
    await this.refresh();
    for (const ch of this.lanes()) ch.start();
    this.readLoop = this.read();
    this.refreshTimer = setInterval(() => void this.refresh().catch(() => undefined), 2000);
  }

  /**
   * Stops reading, gives POSTs in flight `graceMs` to finish, then aborts them.
   * What is still in memory stays pending on ev and is read again on the next start.
   */
  async stop(graceMs = 1000): Promise<void> {
    this.running = false;
    clearInterval(this.refreshTimer);
    this.pauseWake?.();
    this.idle.interrupt();
    if (this.readerId !== undefined) await this.redis.client('UNBLOCK', this.readerId).catch(() => undefined);
    const loops = Promise.all(this.lanes().map((c) => c.stop()));
    await Promise.race([loops, new Promise((ok) => setTimeout(ok, graceMs))]);
    this.abort.abort();
    await loops;
    await this.readLoop;
    if (this.ackTimer !== undefined) clearTimeout(this.ackTimer);
    await this.flushAcks().catch(() => undefined);
  }

  /** A dead-letter replay put events in a tenant's list (lane 0); retryNow cuts every lane's backoff short. */
  kick(tenant: string, retryNow: boolean): void {
    for (const c of this.channels.get(tenant) ?? []) if (c.lane === 0 || retryNow) c.kick(retryNow);
  }

  /** Per tenant, its lanes summed up. */
  state(): ChannelState[] {
    return [...this.channels.values()].map((lanes) => {
      const all = lanes.map((c) => c.state());
      const first = all[0] as ChannelState;
      const due = all.map((x) => x.nextAttemptAt).filter((x): x is number => x !== null);
      return {
        tenant: first.tenant,
        lanes: all.length,
        url: first.url,
        mode: all.some((x) => x.mode === 'queued') ? 'queued' : 'direct',
        queued: all.reduce((n, x) => n + x.queued, 0),
        deadLetters: Math.max(...all.map((x) => x.deadLetters)),
        inMemory: all.reduce((n, x) => n + x.inMemory, 0),
        failures: Math.max(...all.map((x) => x.failures)),
        nextAttemptAt: due.length === 0 ? null : Math.min(...due),
        lastError: all.find((x) => x.lastError !== null)?.lastError ?? null,
        delivered: all.reduce((n, x) => n + x.delivered, 0),
      };
    });
  }

  ackLater(events: ReadonlyArray<{ readonly eid: string }>): void {
    for (const e of events) this.acks.push(e.eid);
    this.ackTimer ??= setTimeout(() => void this.flushAcks(), ACK_EVERY_MS);
  }

  private ackIds(ids: ReadonlyArray<string>): void {
    for (const id of ids) this.acks.push(id);
    this.ackTimer ??= setTimeout(() => void this.flushAcks(), ACK_EVERY_MS);
  }

  private async flushAcks(): Promise<void> {
    this.ackTimer = undefined;
    if (this.acks.length === 0) return;
    const ids = this.acks;
    this.acks = [];
    this.acksInFlight = ids;
    try {
      await this.ack(ids);
    } catch (err) {
      // Delivered, not yet acknowledged: keep trying (a crash meanwhile sends them again).
      this.acks = ids.concat(this.acks);
      if (this.running) {
        this.log('warn', `webhooks: XACK failed (${(err as Error).message}); retrying in 1 s`);
        this.ackTimer ??= setTimeout(() => void this.flushAcks(), 1000);
      }
    } finally {
      this.acksInFlight = [];
    }
  }

  /** XACKs public eids on their shards' streams (one pipeline per master); throws the first failure. */
  private async ack(eids: ReadonlyArray<string>): Promise<void> {
    const groups = [...byShard(eids)];
    const res = await perKey(this.client, groups.map(([k]) => this.o.keys.eventsOf(k)), (p, key, i) => {
      const ids = (groups[i] as [number, string[]])[1];
      for (let j = 0; j < ids.length; j += CHUNK) p.xack(key, WEBHOOK_GROUP, ...ids.slice(j, j + CHUNK));
    });
    for (const r of res) for (const [e] of r) if (e !== null) throw e;
  }

  /** XACK commands for public eids, added to a MULTI (a single Redis: keys of any slot). */
  private addAcks(m: ReturnType<Redis['multi']>, eids: ReadonlyArray<string>): number {
    let n = 0;
    for (const [k, ids] of byShard(eids)) {
      for (let j = 0; j < ids.length; j += CHUNK) {
        m.xack(this.o.keys.eventsOf(k), WEBHOOK_GROUP, ...ids.slice(j, j + CHUNK));
        n++;
      }
    }
    return n;
  }

  async commitAndAck(build: (m: ReturnType<Redis['multi']>) => void, events: ReadonlyArray<{ readonly eid: string }>): Promise<unknown[]> {
    const m = this.redis.multi();
    build(m);
    const eids = events.map((e) => e.eid);
    if (!this.cluster) {
      const n = this.addAcks(m, eids);
      const res = await execOrThrow(m);
      return res.slice(0, res.length - n);
    }
    const res = await execOrThrow(m);
    // The lists have them: a failed acknowledgement is retried (a crash meanwhile queues them twice).
    await this.ack(eids).catch(() => this.ackIds(eids));
    return res;
  }

  /** Moves what the channels give up (takeSpill) to their lists and acknowledges it on ev (commitAndAck per lane on a cluster); serialised. */
  async flushAppends(): Promise<void> {
    while (this.flushing !== undefined) await this.flushing;
    const work: Array<{ ch: TenantChannel; evs: PendingEvent[] }> = [];
    for (const ch of this.lanes()) {
      const evs = ch.takeSpill();
      if (evs.length > 0) work.push({ ch, evs });
    }
    if (work.length === 0) return;
    this.flushing = this.append(work).finally(() => (this.flushing = undefined));
    await this.flushing;
  }

  private async append(work: Array<{ ch: TenantChannel; evs: PendingEvent[] }>): Promise<void> {
    // Past maxQueued (the tenant's, shared by its lanes) the list takes no more: the rest go to the
    // dead letters (the receiver has been failing long).
    const taken = work.map(({ ch, evs }) => {
      const room = Math.max(0, Math.ceil(ch.cfg.maxQueued / Math.max(1, ch.cfg.concurrency)) - ch.queueLen);
      return { ch, evs, q: evs.slice(0, room), full: evs.slice(room) };
    });
    const build = (m: ReturnType<Redis['multi']>, t: (typeof taken)[number]) => {
      for (let i = 0; i < t.q.length; i += CHUNK) m.rpush(t.ch.queueKey, ...t.q.slice(i, i + CHUNK).map((e) => e.event));
      if (t.full.length > 0) {
        const now = this.clock.now();
        for (let i = 0; i < t.full.length; i += CHUNK) m.rpush(t.ch.deadKey, ...t.full.slice(i, i + CHUNK).map((e) => deadLetter(e.event, now, 'queue_full', undefined, `more than maxQueued (${t.ch.cfg.maxQueued}) events waiting`)));
        m.ltrim(t.ch.deadKey, -t.ch.cfg.maxDeadLetters, -1);
      }
      m.llen(t.ch.queueKey).llen(t.ch.deadKey);
    };
    const done = (t: (typeof taken)[number], res: unknown[]) => {
      t.ch.queueLen = Number(res[res.length - 2]);
      t.ch.deadLetters = Number(res[res.length - 1]);
      if (t.full.length > 0) {
        this.metrics?.deadLettered(t.ch.cfg.id, 'queue_full', t.full.length);
        this.log('error', `webhooks [${t.ch.cfg.id}]: queue full (maxQueued ${t.ch.cfg.maxQueued}); ${t.full.length} event(s) dead-lettered`);
      }
      t.ch.spilled(t.evs, true);
    };
    this.appendInFlight = taken.flatMap((t) => t.evs);
    try {
      if (!this.cluster) {
        // One MULTI for every tenant's list and the acknowledgements: all or nothing.
        const m = this.redis.multi();
        const sizes: number[] = [];
        for (const t of taken) {
          const before = m.length;
          build(m, t);
          sizes.push(m.length - before);
        }
        const n = this.addAcks(m, this.appendInFlight.map((e) => e.eid));
        let res: unknown[];
        try {
          res = (await execOrThrow(m)).slice(0, -n || undefined);
        } catch (err) {
          // Nothing written: the events go back to the buffers' heads, in order, and stay pending on ev.
          for (const t of taken) t.ch.spilled(t.evs, false);
          throw err;
        }
        let k = 0;
        taken.forEach((t, i) => {
          done(t, res.slice(k, k + (sizes[i] as number)));
          k += sizes[i] as number;
        });
        return;
      }
      // A cluster: each lane's lists in one MULTI on its tenant's slot, then its events acknowledged on their shards.
      const results = await Promise.allSettled(taken.map((t) => this.commitAndAck((m) => build(m, t), t.evs)));
      let failure: unknown;
      results.forEach((r, i) => {
        const t = taken[i] as (typeof taken)[number];
        if (r.status === 'fulfilled') done(t, r.value);
        else {
          t.ch.spilled(t.evs, false);
          failure ??= r.reason;
        }
      });
      if (failure !== undefined) throw failure;
    } finally {
      this.appendInFlight = [];
    }
  }

  /** Ids of the ev entries held in memory (not to be taken again when pending entries are re-read). */
  private held(): Set<string> {
    const s = new Set<string>();
    for (const c of this.lanes()) c.held(s);
    for (const list of [this.appendInFlight.map((e) => e.eid), this.acks, this.acksInFlight]) for (const e of list) s.add(e);
    return s;
  }

  private async pause(ms: number): Promise<void> {
    await new Promise<void>((ok) => {
      const t = setTimeout(ok, ms);
      this.pauseWake = () => {
        clearTimeout(t);
        ok();
      };
    });
    this.pauseWake = undefined;
  }

  /** Set by rereadPending: the read loop goes over this consumer's pending entries again at its next turn. */
  private rereadAsked = false;

  /**
   * Entries were claimed for this consumer (takeover of a dead node's,
   * engine/fleet/takeover.ts): read its pending entries again, skipping those
   * held in memory (as after a lost reply). Wakes a lingering read.
   */
  rereadPending(): void {
    this.rereadAsked = true;
    this.pauseWake?.();
  }

  private async read(): Promise<void> {
    // This consumer's pending entries first (per shard, after the last one seen): what an earlier run
    // read and did not finish.
    let pendingFrom: Positions | undefined = uniform(this.streams.shards, '0');
    let held: Set<string> | undefined = new Set();
    const perStream = Math.max(1, Math.ceil(PAGE / this.streams.shards));
    while (this.running) {
      if (this.rereadAsked) {
        this.rereadAsked = false;
        pendingFrom = uniform(this.streams.shards, '0');
        held = this.held();
      }
      try {
        const reply = await this.streams.readGroup(WEBHOOK_GROUP, this.consumer, pendingFrom ?? '>', perStream, pendingFrom === undefined && !this.cluster ? 1000 : 0);
        if (reply.error !== undefined) throw reply.error;
        if (!this.running) return;
        const entries: Array<[string, string[] | null]> = [];
        reply.entries.forEach((list: StreamEntry[], k) => {
          for (const [id, fields] of list) entries.push([formatEid(k, id), fields]);
        });
        if (pendingFrom !== undefined) {
          if (entries.length === 0) {
            pendingFrom = undefined;
            held = undefined;
            continue;
          }
          const from: Positions = pendingFrom;
          reply.entries.forEach((list, k) => {
            const last = list[list.length - 1];
            if (last !== undefined) from[k] = last[0];
          });
        }
        if (entries.length === 0) this.lagMs = 0;
        else this.handle(entries, held);
        await this.flushAppends();
        if (pendingFrom === undefined) {
          if (this.cluster && entries.length === 0) await this.idle.wait(this.idle.next(false));
          else {
            this.idle.next(entries.length > 0);
            if (entries.length < PAGE / 4) await this.pause(READ_LINGER_MS);
          }
        }
      } catch (err) {
        if (!this.running) return;
        if (isNoGroup(err)) {
          // The group vanished (the stream deleted and written again, or a failover lost its creation).
          this.log('error', `webhooks: the consumer group of an events stream was missing; created again from now (${(err as Error).message})`);
          await ensureWebhookGroup(this.client, this.o.keys).catch(() => undefined);
        } else this.log('warn', `webhooks: reading the events streams failed (${(err as Error).message}); retrying in 1 s`);
        await this.pause(1000);
        // A read whose reply was lost leaves entries pending that nobody holds: read them again.
        pendingFrom = uniform(this.streams.shards, '0');
        held = this.held();
      }
    }
  }

  private handle(entries: Array<[string, string[] | null]>, held: Set<string> | undefined): void {
    const skip: string[] = [];
    let trimmed = 0;
    for (const [eid, fields] of entries) {
      if (fields === null) {
        // Re-read pending entry that the stream's MAXLEN has already removed.
        trimmed++;
        skip.push(eid);
        continue;
      }
      if (held?.has(eid)) continue;
      let tenant: string | undefined;
      let frame: string | undefined;
      let x: string | undefined;
      let o: string | undefined;
      let push = true;
      for (let i = 0; i + 1 < fields.length; i += 2) {
        const k = fields[i];
        if (k === 't') tenant = fields[i + 1];
        else if (k === 'f') frame = fields[i + 1];
        else if (k === 'x') x = fields[i + 1];
        else if (k === 'o') o = fields[i + 1];
        else if (k === 'p' && fields[i + 1] === '0') push = false;
      }
      const lanes = tenant === undefined ? undefined : this.channels.get(tenant);
      if (lanes === undefined || frame === undefined || !push) skip.push(eid);
      else {
        const n = (lanes[0] as TenantChannel).cfg.concurrency;
        (lanes[n === 1 ? 0 : laneOf(frame, n)] as TenantChannel).accept({ eid, event: webhookEvent(eid, frame, x, o) });
      }
    }
    if (skip.length > 0) this.ackIds(skip);
    if (trimmed > 0) {
      this.trimmed += trimmed;
      this.log('error', `webhooks: ${trimmed} pending event(s) were trimmed from the events stream before they were posted (messages.statusRetention); lost to webhooks`);
    }
    let newest = 0;
    for (const [eid] of entries) newest = Math.max(newest, msOf(splitEid(eid).id));
    this.lagMs = Math.max(0, this.clock.now() - newest);
  }

  /** Reads the lists' lengths (gauges; a replay may have added events while a tenant posts from memory). */
  private async refresh(): Promise<void> {
    const chans = this.lanes();
    const p = this.redis.pipeline();
    for (const c of chans) p.llen(c.queueKey).llen(c.deadKey);
    const res = (await p.exec()) ?? [];
    chans.forEach((c, i) => {
      const [e1, q] = res[2 * i] ?? [new Error('no reply'), null];
      const [e2, d] = res[2 * i + 1] ?? [new Error('no reply'), null];
      // Only ever raises it (a replay's events are seen here): a lane finds its list empty itself, and a
      // figure read before an append it has since seen must not make it post from memory ahead of that append.
      if (e1 === null && Number(q) > c.queueLen) c.queueLen = Number(q);
      if (e2 === null) c.deadLetters = Number(d);
    });
  }
}
