/**
 * Feeds the SMPP customers' outboxes from the events streams: reads every
 * shard's ev:{T} with its own consumer group ("smpp-server", consumer
 * "smpp-<node>") and, for tenants with SMPP credentials, appends to the
 * tenant's outbox stream {P}smo:{tenant} (its own slot: README "Redis
 * Cluster"):
 *   - a status event of a message submitted over SMPP (its ref is
 *     `smpp<registered_delivery>:<parts>:<source_addr>`, smpp-ref.ts) that the
 *     customer's registered_delivery asked for: a receipt, once per
 *     submit_sm the customer sent for the message;
 *   - an MO message (k=mo) of the tenant: an MO deliver_sm.
 * Everything else is acknowledged at once. The outbox (receipt-outbox.ts) is
 * what waits while the customer has no receiver bind, in Redis, not here.
 *
 *   ev:{T}… ──XREADGROUP──▶ wanted? ──XADD smo:{t} (MULTI per tenant)──▶ XACK ev:{T}
 *
 * Appending and acknowledging are two steps (the outbox and the events are in
 * different slots on a cluster): a crash between them re-reads those events
 * (own pending entries first at start) and appends them again, so a receipt
 * may come twice after a crash, never not at all (at least once, as the
 * webhooks). Like webhooks, the group is created at the streams' end when the
 * engine starts (engine.ts, with the trimmer told of it).
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../queue/keys.js';
import { EventStreams, IdlePoll, isNoGroup, type StreamEntry } from '../queue/event-streams.js';
import type { RedisClient } from '../redis/connect-redis.js';
import { perKey } from '../redis/node-pipelines.js';
import { readSmppRef, wantsReceipt } from './smpp-ref.js';

export const SMPP_GROUP = 'smpp-server';
const PAGE = 1000;

/** The tenant's outbox: receipts and MO messages waiting for a deliver_sm_resp. */
export function outboxKey(prefix: string, tenant: string): string {
  return `${prefix}smo:{${tenant}}`;
}

/** An outbox entry's `r` field: what one deliver_sm carries. */
export interface OutboxRecord {
  /** 'r' receipt, 'm' MO message. */
  readonly k: 'r' | 'm';
  /** Receipt: the message id; MO: its id. */
  readonly id: string;
  /** Receipt: the message's status. */
  readonly st?: string;
  readonly at: number;
  /** Receipt: when the message was accepted. */
  readonly ac?: number;
  /** The phone (receipt: the message's destination; MO: its sender). */
  readonly ph: string;
  /** The customer's side (receipt: its source_addr; MO: the inbound number). */
  readonly cu: string;
  readonly err?: string;
  /** MO: the text. */
  readonly tx?: string;
  /** Receipt: parts of the message. */
  readonly n?: number;
}

export interface ReceiptFeedOptions {
  readonly redis: RedisClient;
  /** Reads only (they block on a single Redis). */
  readonly reader: RedisClient;
  readonly keys: Keys;
  readonly node: string;
  readonly tenants: ReadonlySet<string>;
  readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void;
  /** Told after each append, with the tenants that got entries (their outboxes wake). */
  readonly onAppended?: (tenants: ReadonlySet<string>) => void;
}

function field(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/**
 * The outbox record of one events entry, or undefined when the customer gets
 * nothing for it; `copies`: deliver_sm to send of it (a receipt goes once per
 * submit_sm the customer sent for the message).
 */
export function recordOf(fields: string[], tenants: ReadonlySet<string>): { tenant: string; record: OutboxRecord; copies: number } | undefined {
  const t = field(fields, 't');
  if (t === undefined || !tenants.has(t)) return undefined;
  const f = field(fields, 'f');
  if (f === undefined) return undefined;
  if (field(fields, 'k') === 'mo') {
    const m = JSON.parse(f) as { id: string; from: string; to: string; text: string; at: number };
    return { tenant: t, record: { k: 'm', id: m.id, at: m.at, ph: m.from, cu: m.to, tx: m.text }, copies: 1 };
  }
  // Only SMPP-submitted messages carry the marker ref; the test is on the text before any parse.
  if (!f.includes('"ref":"smpp')) return undefined;
  const s = JSON.parse(f) as { id: string; ref?: string; status: string; at: number; error?: { code: string; text: string } };
  const ref = readSmppRef(s.ref);
  if (ref === undefined || !wantsReceipt(ref.registeredDelivery, s.status)) return undefined;
  const x = (field(fields, 'x') ?? '').split('|');
  const record: OutboxRecord = {
    k: 'r', id: s.id, st: s.status, at: s.at, ac: Number(x[3]) || s.at, ph: x[1] ?? '', cu: ref.source, n: Number(x[2]) || 1,
    ...(s.error !== undefined && s.error.code !== '' ? { err: s.error.code } : {}),
  };
  return { tenant: t, record, copies: ref.parts };
}

export class ReceiptFeed {
  private readonly streams: EventStreams;
  private readonly idle = new IdlePoll();
  private running = false;
  private loop: Promise<void> | undefined;
  /** Entries appended to outboxes since the start (receipts and MO). */
  appended = 0;

  constructor(private readonly o: ReceiptFeedOptions) {
    this.streams = new EventStreams(o.reader, o.keys);
  }

  get consumer(): string {
    return `smpp-${this.o.node}`;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.idle.interrupt();
    await this.loop;
  }

  private async run(): Promise<void> {
    // Own pending entries first (a crash between append and XACK), then new ones.
    let from: '>' | string[] = this.streams.keys.map(() => '0');
    while (this.running) {
      try {
        const blockMs = this.streams.cluster || from !== '>' ? 0 : 1000;
        const reply = await this.streams.readGroup(SMPP_GROUP, this.consumer, from as '>' | string[], Math.max(10, Math.ceil(PAGE / this.streams.shards)), blockMs);
        if (reply.error !== undefined) this.o.log('warn', `SMPP receipt feed: read failed on ${reply.failed.length} shard(s): ${reply.error.message}`);
        let found = 0;
        for (const e of reply.entries) found += e.length;
        if (from !== '>') {
          // Pending re-read: positions move past what came; done when nothing pending is left.
          const next: string[] = [...from];
          reply.entries.forEach((e, i) => {
            const last = e[e.length - 1];
            if (last !== undefined) next[i] = last[0];
          });
          from = found === 0 ? '>' : next;
        }
        if (found > 0) await this.handle(reply.entries);
        if (from === '>' && this.streams.cluster) await this.idle.wait(this.idle.next(found > 0));
      } catch (err) {
        if (!this.running) return;
        if (isNoGroup(err)) this.o.log('warn', `SMPP receipt feed: consumer group ${SMPP_GROUP} missing (${(err as Error).message}); retrying`);
        else this.o.log('warn', `SMPP receipt feed: ${(err as Error).message}`);
        await this.idle.wait(500);
      }
    }
  }

  private async handle(entries: StreamEntry[][]): Promise<void> {
    const byTenant = new Map<string, string[]>();
    for (const shard of entries)
      for (const [, fields] of shard) {
        if (fields === null) continue;
        let r: ReturnType<typeof recordOf>;
        try {
          r = recordOf(fields, this.o.tenants);
        } catch {
          continue; // an entry that is not what the engine writes: nothing for a customer in it
        }
        if (r === undefined) continue;
        let l = byTenant.get(r.tenant);
        if (l === undefined) byTenant.set(r.tenant, (l = []));
        const rec = JSON.stringify(r.record);
        for (let c = 0; c < r.copies; c++) l.push(rec);
      }
    if (byTenant.size > 0) {
      // One MULTI per tenant (one slot each), sent together.
      const redis = this.o.redis as Redis;
      const writes = [...byTenant].map(async ([t, recs]) => {
        const m = redis.multi();
        for (const r of recs) m.xadd(outboxKey(this.o.keys.prefix, t), '*', 'r', r);
        const res = await m.exec();
        for (const [err] of res ?? []) if (err) throw err;
      });
      await Promise.all(writes);
      for (const recs of byTenant.values()) this.appended += recs.length;
      this.o.onAppended?.(new Set(byTenant.keys()));
    }
    const acks: string[] = [];
    const ids: string[][] = [];
    entries.forEach((e, i) => {
      if (e.length === 0) return;
      acks.push(this.streams.keys[i] as string);
      ids.push(e.map(([id]) => id));
    });
    const res = await perKey(this.o.redis, acks, (p, key, i) => p.xack(key, SMPP_GROUP, ...(ids[i] as string[])));
    for (const r of res) for (const [err] of r) if (err) throw err;
  }
}
