/**
 * Script calls in sections (issue 13; DESIGN.md §10): a state script's work
 * is split by Redis Cluster slot, one section per slot (a shard, or a receipt
 * mapping shard), each with its own keys. lua/includes/sections.lua reads them.
 *
 *   single Redis:  EVALSHA  nkeys  [keys of s1][keys of s2]…  head…  [s1: nk na items…][s2: …]   one call
 *   Redis Cluster: EVALSHA  nkeys  [keys of s1]  head…  [s1: nk na items…]                        one call per section,
 *                                                                                                    one pipeline per master
 *
 * On a cluster every call's keys share one slot; the calls are grouped by the
 * master serving their slot and sent as one pipeline per master
 * (node-pipelines.ts); on a single
 * Redis there is no slot check and one call carries everything, so a single
 * Redis pays one script start per batch as it did before sharding. That is the
 * store's only cluster-specific decision besides blocking reads; the code
 * above it is the same for both.
 *
 * A section's items name its keys by index (Section.key), so a key many items
 * share (a queue, an events stream) is passed once. Every script returns one
 * table per section; `runSections` hands back one result per section in the
 * order given, whichever way it was sent.
 */
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from '../redis/connect-redis.js';
import { isCluster } from '../redis/connect-redis.js';
import { firstOk, perKey } from '../redis/node-pipelines.js';

export type Arg = string | number | Buffer;

/** One section: its keys (the fixed ones first, in the script header's order), then its items' arguments. */
export class Section {
  readonly keys: string[] = [];
  readonly args: Arg[] = [];
  private readonly index = new Map<string, number>();

  /** `group`: what the section is for (a shard number), for callers that map results back. */
  constructor(
    readonly group: number,
    fixed: ReadonlyArray<string>,
  ) {
    for (const k of fixed) this.key(k);
  }

  /** The index of a key from the section's key offset (KEYS[s + index]), adding it once. */
  key(k: string): number {
    let i = this.index.get(k);
    if (i === undefined) {
      this.keys.push(k);
      i = this.keys.length;
      this.index.set(k, i);
    }
    return i;
  }

  /** Appends a key without looking for it first (a key no other item names, e.g. a message hash): its index. */
  addKey(k: string): number {
    return this.keys.push(k);
  }

  push(...a: Arg[]): void {
    for (const x of a) this.args.push(x);
  }

  pushAll(a: ReadonlyArray<Arg>): void {
    for (const x of a) this.args.push(x);
  }
}

/** A command defined with dynamic keys (lua-loader: a script in sections): numkeys first. */
type Scripted = Record<string, (...args: Arg[]) => Promise<unknown>>;

/** The arguments of one call carrying `list`: key count, keys, the script's fixed ARGV, then each section. */
export function sectionArgs(head: ReadonlyArray<Arg>, list: ReadonlyArray<Section>): Arg[] {
  const out: Arg[] = [0];
  let nk = 0;
  for (const s of list) {
    for (const k of s.keys) out.push(k);
    nk += s.keys.length;
  }
  out[0] = nk;
  for (const h of head) out.push(h);
  for (const s of list) {
    out.push(s.keys.length, s.args.length);
    for (const a of s.args) out.push(a);
  }
  return out;
}

/**
 * Runs `command` over `list`: one call on a single Redis, one per section on a
 * cluster (those of one master pipelined, the masters in parallel). Returns
 * each section's result, in order; on a cluster the first section's error is
 * thrown once every section was answered (the scripts are idempotent: the
 * caller retries the whole batch).
 */
export async function runSections(redis: RedisClient, command: string, head: ReadonlyArray<Arg>, list: ReadonlyArray<Section>): Promise<unknown[]> {
  if (list.length === 0) return [];
  const fn = redis as unknown as Scripted;
  if (!isCluster(redis)) {
    const reply = (await (fn[command] as (...a: Arg[]) => Promise<unknown>).call(redis, ...sectionArgs(head, list))) as unknown[];
    return reply;
  }
  // One call per section, the calls of one master in one pipeline (node-pipelines.ts): sent one by one,
  // each call was a write of its own, and those writes were most of an actor thread's time on a cluster.
  const replies = await perKey(redis, list.map((s) => s.keys[0] as string), (p, _key, i) => {
    ((p as unknown as Scripted)[command] as (...a: Arg[]) => unknown).call(p, ...sectionArgs(head, [list[i] as Section]));
  });
  return replies.map((r) => firstOk<unknown[]>(r)[0]);
}

/**
 * As runSections, each call followed on its connection by `after` (e.g. WAIT:
 * pipelined behind the script, so ioredis sends it to the same master).
 * Returns each section's result and the `after` reply of its call.
 */
export async function runSectionsThen(
  redis: RedisClient,
  command: string,
  head: ReadonlyArray<Arg>,
  list: ReadonlyArray<Section>,
  after: (p: ChainableCommander) => void,
): Promise<Array<{ result: unknown; after: unknown }>> {
  if (list.length === 0) return [];
  const one = async (part: ReadonlyArray<Section>): Promise<{ results: unknown[]; after: unknown }> => {
    const p = redis.pipeline() as unknown as Record<string, (...a: Arg[]) => unknown> & ChainableCommander;
    (p[command] as (...a: Arg[]) => unknown).call(p, ...sectionArgs(head, part));
    after(p);
    const res = (await p.exec()) ?? [];
    const [e1, r1] = res[0] ?? [new Error('no reply'), undefined];
    if (e1) throw e1;
    const [e2, r2] = res[1] ?? [null, undefined];
    if (e2) throw e2;
    return { results: r1 as unknown[], after: r2 };
  };
  if (!isCluster(redis)) {
    const r = await one(list);
    return r.results.map((result) => ({ result, after: r.after }));
  }
  const all = await Promise.all(list.map((s) => one([s])));
  return all.map((r) => ({ result: r.results[0], after: r.after }));
}
