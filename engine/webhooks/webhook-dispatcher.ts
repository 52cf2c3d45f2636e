/**
 * The webhook dispatcher: reads the events stream `ev` with its own consumer
 * group ("webhooks", consumer "webhooks-<node>") and hands each entry of a
 * tenant with a webhook to that tenant's channel (tenant-channel.ts), which
 * posts it. Everything else (tenants without a webhook, entries with
 * p='0', i.e. the client asked for no status reports) is acknowledged at once.
 *
 *   ev ──XREADGROUP (≤ 1,000 per read; own pending entries first after a restart)──▶ by tenant
 *        ├─ acme ─▶ buffer ─POST─▶ 2xx: XACK (batched per tick)
 *        ├─ beta ─▶ buffer ─┐ (receiver failing, or behind)
 *        └─ no webhook / p=0 ─▶ XACK
 *                           ▼ after each read: one MULTI { RPUSH whq:{t}:{node} …; XACK … } for all such tenants
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
import { postWebhook, type Poster } from './post-webhook.js';
import { execOrThrow, TenantChannel, type ChannelHost, type ChannelState, type PendingEvent, type TenantPace, type WebhookTenant } from './tenant-channel.js';
import { deadLetter, laneOf, webhookEvent } from './webhook-batch.js';
import type { WebhookMetrics } from './webhook-metrics.js';

export const WEBHOOK_GROUP = 'webhooks';
/** Entries per read of ev. */
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
  readonly redis: Redis;
  /** Blocking reads of ev only. */
  readonly reader: Redis;
  readonly keys: Keys;
  readonly node: string;
  readonly tenants: ReadonlyArray<WebhookTenant>;
  readonly clock?: Clock;
  readonly post?: Poster;
  readonly metrics?: WebhookMetrics;
  readonly random?: () => number;
  readonly log?: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

type Entry = [string, string[] | null];

/** Creates the consumer group at the stream's end: webhooks get what happens from the first start on. */
export async function ensureWebhookGroup(redis: Redis, evKey: string): Promise<void> {
  try {
    await redis.xgroup('CREATE', evKey, WEBHOOK_GROUP, '$', 'MKSTREAM');
  } catch (err) {
    if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
  }
}

export class WebhookDispatcher implements ChannelHost {
  /** Tenant → its lanes (the first webhook.concurrency get new events; any after them only drain old lists). */
  readonly channels = new Map<string, TenantChannel[]>();
  readonly evKey: string;
  readonly group = WEBHOOK_GROUP;
  readonly clock: Clock;
  readonly post: Poster;
  readonly metrics: WebhookMetrics | undefined;
  readonly random: () => number;
  readonly redis: Redis;
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
    this.redis = o.redis;
    this.evKey = o.keys.events();
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
    await ensureWebhookGroup(this.redis, this.evKey);
    this.readerId = Number(await this.o.reader.client('ID'));
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
      const p = this.redis.pipeline();
      for (let i = 0; i < ids.length; i += CHUNK) p.xack(this.evKey, WEBHOOK_GROUP, ...ids.slice(i, i + CHUNK));
      const res = await p.exec();
      const err = res?.find(([e]) => e !== null)?.[0];
      if (err) throw err;
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

  /** Moves what the channels give up (takeSpill) to their lists and acknowledges it on ev, in one MULTI; serialised. */
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
    const m = this.redis.multi();
    const taken = work.map(({ ch, evs }) => {
      // Past maxQueued (the tenant's, shared by its lanes) the list takes no more: the rest go to the
      // dead letters (the receiver has been failing long).
      const room = Math.max(0, Math.ceil(ch.cfg.maxQueued / Math.max(1, ch.cfg.concurrency)) - ch.queueLen);
      const q = evs.length <= room ? evs : evs.slice(0, room);
      const full = evs.length <= room ? [] : evs.slice(room);
      for (let i = 0; i < q.length; i += CHUNK) m.rpush(ch.queueKey, ...q.slice(i, i + CHUNK).map((e) => e.event));
      if (full.length > 0) {
        const now = this.clock.now();
        for (let i = 0; i < full.length; i += CHUNK) m.rpush(ch.deadKey, ...full.slice(i, i + CHUNK).map((e) => deadLetter(e.event, now, 'queue_full', undefined, `more than maxQueued (${ch.cfg.maxQueued}) events waiting`)));
        m.ltrim(ch.deadKey, -ch.cfg.maxDeadLetters, -1);
      }
      return { ch, evs, q: q.length, full: full.length };
    });
    const eids = taken.flatMap((t) => t.evs.map((e) => e.eid));
    for (let i = 0; i < eids.length; i += CHUNK) m.xack(this.evKey, WEBHOOK_GROUP, ...eids.slice(i, i + CHUNK));
    for (const t of taken) m.llen(t.ch.queueKey).llen(t.ch.deadKey);
    this.appendInFlight = taken.flatMap((t) => t.evs);
    try {
      const res = await execOrThrow(m);
      let k = res.length - 2 * taken.length;
      for (const t of taken) {
        t.ch.queueLen = Number(res[k++]);
        t.ch.deadLetters = Number(res[k++]);
        if (t.full > 0) {
          this.metrics?.deadLettered(t.ch.cfg.id, 'queue_full', t.full);
          this.log('error', `webhooks [${t.ch.cfg.id}]: queue full (maxQueued ${t.ch.cfg.maxQueued}); ${t.full} event(s) dead-lettered`);
        }
      }
      for (const t of taken) t.ch.spilled(t.evs, true);
    } catch (err) {
      // Nothing written: the events go back to the buffers' heads, in order, and stay pending on ev.
      for (const t of taken) t.ch.spilled(t.evs, false);
      throw err;
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

  private async read(): Promise<void> {
    // This consumer's pending entries first: what an earlier run read and did not finish.
    let from = '0';
    let held: Set<string> | undefined = new Set();
    while (this.running) {
      try {
        const args: Array<string | number> = ['GROUP', WEBHOOK_GROUP, this.consumer, 'COUNT', PAGE];
        if (from === '>') args.push('BLOCK', 1000);
        args.push('STREAMS', this.evKey, from);
        const reply = (await this.o.reader.call('XREADGROUP', ...args)) as Array<[string, Entry[]]> | null;
        if (!this.running) return;
        const entries = reply?.[0]?.[1] ?? [];
        if (from !== '>') {
          if (entries.length === 0) {
            from = '>';
            held = undefined;
            continue;
          }
          from = (entries[entries.length - 1] as Entry)[0];
        }
        if (entries.length === 0) this.lagMs = 0;
        else this.handle(entries, held);
        await this.flushAppends();
        if (from === '>' && entries.length < PAGE / 4) await this.pause(READ_LINGER_MS);
      } catch (err) {
        if (!this.running) return;
        this.log('warn', `webhooks: reading the events stream failed (${(err as Error).message}); retrying in 1 s`);
        await this.pause(1000);
        // A read whose reply was lost leaves entries pending that nobody holds: read them again.
        from = '0';
        held = this.held();
      }
    }
  }

  private handle(entries: Entry[], held: Set<string> | undefined): void {
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
      let push = true;
      for (let i = 0; i + 1 < fields.length; i += 2) {
        const k = fields[i];
        if (k === 't') tenant = fields[i + 1];
        else if (k === 'f') frame = fields[i + 1];
        else if (k === 'p' && fields[i + 1] === '0') push = false;
      }
      const lanes = tenant === undefined ? undefined : this.channels.get(tenant);
      if (lanes === undefined || frame === undefined || !push) skip.push(eid);
      else {
        const n = (lanes[0] as TenantChannel).cfg.concurrency;
        (lanes[n === 1 ? 0 : laneOf(frame, n)] as TenantChannel).accept({ eid, event: webhookEvent(eid, frame) });
      }
    }
    if (skip.length > 0) this.ackIds(skip);
    if (trimmed > 0) {
      this.trimmed += trimmed;
      this.log('error', `webhooks: ${trimmed} pending event(s) were trimmed from the events stream before they were posted (messages.statusRetention); lost to webhooks`);
    }
    const last = (entries[entries.length - 1] as Entry)[0];
    this.lagMs = Math.max(0, this.clock.now() - Number(last.slice(0, last.indexOf('-'))));
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
