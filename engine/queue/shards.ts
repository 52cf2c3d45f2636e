/**
 * Shards of the Redis state (DESIGN.md §10, README "Redis Cluster"): a fixed
 * number S of hash tags, one per shard, so that everything one state change
 * touches lives in one Redis Cluster slot while the shards together spread
 * over every master.
 *
 *   message id ──(its last two characters)──▶ shard K ──▶ tag "{s5.1}" ──▶ slot in K's range
 *
 *   slots 0 ─────────────── 16383
 *         [K=0 ][K=1 ] … [K=S-1]      each shard's tag hashes inside its own
 *                                     1/S of the slot range
 *
 * Why choose the tags instead of using "{s0}".."{sS-1}": CRC16 scatters those
 * at random, and with a few masters random is lumpy (16 random tags over 3
 * masters put 9 on one of them as often as not). `redis-cli --cluster create`
 * gives each master one contiguous, equal range of slots, so a tag chosen
 * at the middle of each shard's own 1/S of the range gives every master S/M
 * shards exactly when S is a multiple of the number of masters M (48 divides
 * over 3, 4, 6, 8, 12 and 16), and within one shard otherwise.
 *
 * A message's shard is chosen at acceptance and written into its id, so any
 * code holding an id can name the message's keys (shardOfId). A receipt holds
 * only the SMSC's message id: its mapping lives in the shard that id hashes to
 * (mappingShard), which is generally another shard than the message's.
 *
 * The shard count is fixed for a deployment: keys, ids and queue streams are
 * named by it. engine/queue/shard-layout.ts records it in Redis and refuses a
 * start with another count.
 */
import calculateSlot from 'cluster-key-slot';

/** Redis Cluster's slot count. */
export const SLOTS = 16_384;
/** Most shards a deployment may have (16 masters × 16; an id has room for 1,296). */
export const MAX_SHARDS = 256;
/** Characters of a message id that carry its shard (base 36, at its end). */
export const SHARD_CHARS = 2;

/** The slot of a key (its hash tag's, when it has one), as Redis Cluster computes it. */
export function slotOf(key: string | Buffer): number {
  return calculateSlot(key);
}

/** FNV-1a, 32 bits: where a receipt's mapping lives (mappingShard). Stable across versions: it names keys. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The tag of shard k of n: the first of "s<k>", "s<k>.0", "s<k>.1", … whose
 * slot lies within r of the middle of the shard's 1/n of the slot range
 * (r = a sixteenth of that share, at least 2 slots). Centred tags put a shard
 * on the master that holds most of its share, so masters differ by at most
 * one shard whatever their number.
 */
export function shardTag(k: number, n: number): string {
  const centre = Math.floor(((k + 0.5) * SLOTS) / n);
  const r = Math.max(2, Math.ceil(SLOTS / n / 16));
  const fits = (t: string) => Math.abs(calculateSlot(t) - centre) <= r;
  if (fits(`s${k}`)) return `s${k}`;
  // Expected tries SLOTS / (2r + 1): ~360 for 48 shards, ~1,800 for 256.
  for (let i = 0; i < 10_000_000; i++) if (fits(`s${k}.${i}`)) return `s${k}.${i}`;
  /* c8 ignore next */
  throw new Error(`no tag found for shard ${k} of ${n}`);
}

/** Tags per shard count, computed once per process (a few hundred ms for 256 shards). */
const tagCache = new Map<number, readonly string[]>();

export class Shards {
  /** "{tag}" of each shard, braces included, ready to put in a key. */
  private readonly tags: readonly string[];

  constructor(readonly count: number) {
    if (!Number.isInteger(count) || count < 1 || count > MAX_SHARDS) throw new RangeError(`shards must be an integer from 1 to ${MAX_SHARDS}, got ${count}`);
    let tags = tagCache.get(count);
    if (tags === undefined) {
      const t: string[] = [];
      for (let k = 0; k < count; k++) t.push(`{${shardTag(k, count)}}`);
      tags = t;
      tagCache.set(count, tags);
    }
    this.tags = tags;
  }

  /** Every shard number, 0..count-1. */
  all(): number[] {
    return this.tags.map((_, k) => k);
  }

  /** The hash tag of shard k, braces included ("{s5.1}"). */
  tag(k: number): string {
    const t = this.tags[k];
    if (t === undefined) throw new RangeError(`shard ${k} is outside 0..${this.count - 1}`);
    return t;
  }

  /** The slot shard k's keys live in. */
  slot(k: number): number {
    return calculateSlot(this.tag(k));
  }

  /**
   * The shard written at the end of a message id, or undefined when the id
   * cannot be one of this deployment's (wrong length or characters, or a shard
   * beyond the count): a client's id is never trusted to name a key.
   */
  ofId(id: string): number | undefined {
    if (id.length !== 16 + SHARD_CHARS) return undefined;
    const k = parseInt(id.slice(16), 36);
    return Number.isInteger(k) && k >= 0 && k < this.count && /^[0-9a-z]+$/.test(id) ? k : undefined;
  }

  /** The shard holding the receipt mapping of an SMSC's message id (normalised, as receipts key it). */
  mappingShard(smsc: string, smscMessageId: string): number {
    return fnv1a(`${smsc}:${smscMessageId}`) % this.count;
  }
}

/** The id suffix that names shard k. */
export function shardSuffix(k: number): string {
  return k.toString(36).padStart(SHARD_CHARS, '0');
}
