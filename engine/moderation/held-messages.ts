/**
 * Reading the messages held for moderation: a page of whole messages with
 * their text decoded from the stored short_message parts, why they were held,
 * and the cursor for the next page. Each shard K keeps a tenant's held parts
 * in a stream of its own, hold:{K}:{tenant} (one entry per part, a message's
 * parts consecutive: one script wrote them); a page merges the S streams,
 * oldest first, ordered by (stream id of a message's first part, shard).
 * The cursor is that pair for the last message looked at ("1732290000000-0.5"):
 * it does not grow with S, and the next page reads each shard from there
 * (after it in shards up to the cursor's, from it in the others), dropping
 * the rest of a message already listed (parts whose message's first part is
 * not in the read). Entries whose message is no longer held (expired
 * meanwhile) are skipped.
 */
import type { RedisClient } from '../redis/connect-redis.js';
import { runCommands } from '../redis/run-commands.js';
import type { Keys } from '../queue/keys.js';
import { compareStreamId, isStreamId, normalizeStreamId } from '../queue/stream-id.js';
import { decodeShortMessage } from '../text/index.js';

export interface HeldMessage {
  readonly id: string;
  readonly tenant: string;
  readonly ref: string;
  readonly to: string;
  readonly from: string;
  readonly text: string;
  readonly parts: number;
  readonly acceptedAt: number;
  readonly reason: { readonly code: string; readonly text: string };
}

/** Where a page of held messages stopped: the last message looked at (its first part's stream id, its shard). */
export interface HeldCursor {
  readonly id: string;
  readonly shard: number;
}

export function encodeHeldCursor(c: HeldCursor): string {
  return `${c.id}.${c.shard}`;
}

/** A cursor this API gave out, or undefined. */
export function parseHeldCursor(s: string): HeldCursor | undefined {
  const dot = s.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const id = normalizeStreamId(s.slice(0, dot));
  const k = s.slice(dot + 1);
  if (id === undefined || !isStreamId(id) || !/^\d{1,4}$/.test(k)) return undefined;
  return { id, shard: Number(k) };
}

interface HeldGroup {
  readonly id: string;
  readonly shard: number;
  /** Stream id of its first part. */
  readonly first: string;
  last: string;
  readonly parts: Array<{ h: string[]; b: Buffer }>;
}

function group(page: Array<[Buffer, Buffer[]]>, shard: number): HeldGroup[] {
  const groups: HeldGroup[] = [];
  for (const [idBuf, f] of page) {
    const eid = idBuf.toString('latin1');
    let h = '';
    let b: Buffer = Buffer.alloc(0);
    for (let i = 0; i + 1 < f.length; i += 2) {
      const k = (f[i] as Buffer).toString('latin1');
      if (k === 'h') h = (f[i + 1] as Buffer).toString('utf8');
      else if (k === 'b') b = f[i + 1] as Buffer;
    }
    const hf = h.split('|');
    const id = hf[0] ?? '';
    const g = groups[groups.length - 1];
    if (g !== undefined && g.id === id) {
      g.parts.push({ h: hf, b });
      g.last = eid;
    } else groups.push({ id, shard, first: eid, last: eid, parts: [{ h: hf, b }] });
  }
  return groups;
}

function textOf(parts: Array<{ h: string[]; b: Buffer }>): string {
  const first = parts[0] as { h: string[]; b: Buffer };
  const dcs = Number(first.h[6]);
  const udh = (Number(first.h[7]) & 0x40) !== 0;
  const sorted = [...parts].sort((a, b) => Number(a.h[1]) - Number(b.h[1]));
  // UCS-2 parts are joined before decoding: a surrogate pair may span two parts.
  if (dcs === 8) return Buffer.concat(sorted.map((x) => (udh ? x.b.subarray(1 + (x.b[0] ?? 0)) : x.b))).swap16().toString('utf16le');
  return sorted.map((x) => decodeShortMessage(x.b, dcs, udh).text).join('');
}

/** Entries read per shard and round: more than a message can have parts (255), so a full read ends with a whole message. */
const READ = 300;

/** One shard's hold stream during a page: where to read next and the messages read but not yet looked at. */
interface HeldShard {
  readonly k: number;
  readonly key: string;
  from: string;
  done: boolean;
  queue: HeldGroup[];
}

const before = (a: HeldGroup, b: HeldGroup): boolean => {
  const c = compareStreamId(a.first, b.first);
  return c < 0 || (c === 0 && a.shard < b.shard);
};

export async function listHeld(redis: RedisClient, keys: Keys, tenant: string, after: HeldCursor | undefined, limit: number): Promise<{ items: HeldMessage[]; next: HeldCursor | undefined }> {
  const items: HeldMessage[] = [];
  const shards: HeldShard[] = keys.shards.all().map((k) => ({
    k,
    key: keys.holdOf(k, tenant),
    from: after === undefined ? '-' : k <= after.shard ? '(' + after.id : after.id,
    done: false,
    queue: [],
  }));
  let last: HeldCursor | undefined;
  for (let round = 0; round < 200; round++) {
    const dry = shards.filter((s) => s.queue.length === 0 && !s.done);
    if (dry.length > 0) {
      // xrangeBuffer, not callBuffer: auto-pipelined on a cluster, callBuffer loses its command name (ioredis 5.8).
      const pages = (await Promise.all(dry.map((s) => redis.xrangeBuffer(s.key, s.from, '+', 'COUNT', READ)))) as unknown as Array<Array<[Buffer, Buffer[]]>>;
      dry.forEach((s, i) => {
        const page = pages[i] as Array<[Buffer, Buffer[]]>;
        const groups = group(page, s.k);
        s.done = page.length < READ;
        // A full read may end inside a message: read it again from its start next time.
        if (!s.done && groups.length > 1) groups.pop();
        const tail = groups[groups.length - 1];
        if (tail !== undefined) s.from = '(' + tail.last;
        // Parts of a message whose first part is not in the read: listed already (or being reaped).
        s.queue = groups.filter((g) => g.parts[0]?.h[1] === '1');
        if (!s.done && s.queue.length === 0 && tail === undefined) s.done = true;
      });
    }
    // Merge: the oldest message first, while no shard that may hold an older one is dry.
    const taken: HeldGroup[] = [];
    for (;;) {
      let best: HeldShard | undefined;
      for (const s of shards) if (s.queue.length > 0 && (best === undefined || before(s.queue[0] as HeldGroup, best.queue[0] as HeldGroup))) best = s;
      if (best === undefined) break;
      taken.push(best.queue.shift() as HeldGroup);
      if (best.queue.length === 0 && !best.done) break;
    }
    if (taken.length === 0) return { items, next: undefined };
    const valid = taken.filter((g) => keys.shardOf(g.id) !== undefined);
    const metas = await runCommands(redis, valid.map((g) => ['HMGET', keys.msg(g.id), 's', 'r', 'ac', 'hr', 'ht'] as const));
    const metaOf = new Map(valid.map((g, i) => [g, metas[i] as Array<string | null>]));
    for (const g of taken) {
      if (items.length >= limit) return { items, next: last };
      last = { id: g.first, shard: g.shard };
      const m = metaOf.get(g);
      if (m === undefined || m[0] !== 'pending_approval') continue; // ended meanwhile (expired): the reaper drops it
      const first = g.parts[0] as { h: string[]; b: Buffer };
      items.push({
        id: g.id, tenant, ref: m[1] ?? '', to: '+' + (first.h[3] ?? ''), from: first.h[4] ?? '', text: textOf(g.parts),
        parts: Number(first.h[2]), acceptedAt: Number(m[2] ?? 0), reason: { code: m[3] ?? '', text: m[4] ?? '' },
      });
    }
    if (items.length >= limit) {
      const more = shards.some((s) => s.queue.length > 0 || !s.done);
      return { items, next: more ? last : undefined };
    }
  }
  return { items, next: last };
}
