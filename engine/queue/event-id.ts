/**
 * Public event ids (`eid` of status and MO frames, webhook events, the
 * ClickHouse events table) and positions over the sharded events streams
 * (issue 13: one stream ev:{T} per shard, keys.ts).
 *
 *   s<K>-<ms>-<seq>   entry <ms>-<seq> of shard K's stream: unique, and growing within shard K
 *   <ms>-<seq>        the form before the streams were sharded; still accepted on resume
 *
 * Stream ids are unique per stream only (two shards may both write
 * 1732290000000-0), so the shard is part of the id. Across shards eids are
 * ordered only as far as the masters' clocks agree: a client deduplicates per
 * shard (README "What a client may see twice").
 *
 * A position over S streams is an array of S stream ids ("read after"); it is
 * what a reader keeps per connection, per group or per scan.
 */
import { compareStreamId, normalizeStreamId } from './stream-id.js';

/** A reader's place in every shard's stream: positions[k] = read after this id of shard k. */
export type Positions = string[];

/** The public eid of entry `id` of shard `shard`'s events stream. */
export function formatEid(shard: number, id: string): string {
  return `s${shard}-${id}`;
}

export type ParsedEid =
  /** An eid of this deployment: after `id` in shard `shard`. */
  | { readonly kind: 'shard'; readonly shard: number; readonly id: string }
  /** An eid of the unsharded form: every shard from about that time. */
  | { readonly kind: 'plain'; readonly id: string };

const SHARDED = /^s(\d{1,4})-(\d{1,20}-\d{1,20})$/;

/**
 * Reads a client's eid (?since=, a webhook replay, ...) without trusting it:
 * undefined for anything that is not an eid, or names a shard this deployment
 * does not have.
 */
export function parseEid(s: string, shards: number): ParsedEid | undefined {
  const m = SHARDED.exec(s);
  if (m !== null) {
    const shard = Number(m[1]);
    const id = normalizeStreamId(m[2] as string);
    return id !== undefined && shard < shards ? { kind: 'shard', shard, id } : undefined;
  }
  const id = normalizeStreamId(s);
  return id === undefined ? undefined : { kind: 'plain', id };
}

/** The shard and stream id of an eid this engine wrote (formatEid); throws on anything else. */
export function splitEid(eid: string): { shard: number; id: string } {
  const dash = eid.indexOf('-');
  const shard = Number(eid.slice(1, dash));
  if (eid[0] !== 's' || dash < 2 || !Number.isInteger(shard)) throw new RangeError(`"${eid.slice(0, 40)}" is not an eid of this engine`);
  return { shard, id: eid.slice(dash + 1) };
}

/** The ms part of a stream id. */
export function msOf(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

/** The later of two stream ids. */
export function maxId(a: string, b: string): string {
  return compareStreamId(a, b) >= 0 ? a : b;
}

/** The earlier of two stream ids. */
export function minId(a: string, b: string): string {
  return compareStreamId(a, b) <= 0 ? a : b;
}

/** S copies of one id. */
export function uniform(shards: number, id: string): Positions {
  return Array.from({ length: shards }, () => id);
}
