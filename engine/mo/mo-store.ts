/**
 * Records MO messages in Redis, a batch per call: each complete message
 * becomes one entry of an events stream ev:{K} (t tenant, k 'mo', f the MO
 * frame; analytics/status-events.ts), which the status dispatcher pushes to
 * the tenant's connections and the webhook dispatcher posts. K is the shard
 * the sender hashes to (Shards.byHash): one phone's MO messages share a
 * stream, so they keep their order. MO messages no tenant could be
 * attributed go to {P}{c}:mou instead (capped).
 *
 * A STOP adds the sender to the tenant's opt-out list and a START removes it,
 * through the opt-out store (its two steps: the list, then the actors and the
 * shards), before the message is recorded; the deliver_sm_resp waits for all
 * of it (MoRecorder), so a failure anywhere has the SMSC redeliver and every
 * step is done again: MO stays at least once, a redelivered message may
 * appear twice, and an opt-out is never lost.
 *
 * Parts of a concatenated message wait in a hash in the slot of the stream
 * their message goes to (mop:{K}:…, or {c}:mop:… for unattributed ones;
 * TTL 1 h) until the last one is in; the frame is then built from the
 * parts' texts in order, in the call that writes the entry (lua/mo.lua), so a
 * crash cannot lose the parts between the two. Texts travel as JSON string
 * bodies (JSON.stringify without the quotes), so a UCS-2 surrogate pair split
 * over two parts joins up again.
 */
import type { RedisClient } from '../redis/connect-redis.js';
import { defineLuaCommand, luaConstants } from '../redis/lua-loader.js';
import type { Keys } from '../queue/keys.js';
import { loadStateScript } from '../queue/lua-scripts.js';
import { runSections, Section } from '../queue/sections.js';
import type { MoResult } from '../queue/script-codes.js';
import { GLOBAL, OptOutStore } from '../optout/optout-store.js';

export interface MoItem {
  /** '' when no tenant could be attributed. */
  readonly tenant: string;
  readonly action: 'stop' | 'start' | undefined;
  /** The sender as stored on opt-out lists (E.164 digits). */
  readonly number: string;
  /** Frame JSON up to the text's opening quote, the text body, and the rest from its closing quote. */
  readonly head: string;
  readonly body: string;
  readonly tail: string;
  /** For one part of a concatenated message: its key, its seq and the total. */
  readonly concat?: { readonly key: string; readonly seq: number; readonly total: number };
}

/** Unattributed MO messages kept for the admin (MAXLEN ~). */
export const UNATTRIBUTED_MAX = 10_000;

/** Records MO items (lua/mo.lua; its header names the ARGV). */
const MO = loadStateScript(import.meta.url, './lua/mo.lua', {
  MoLimits: luaConstants({ MoLimits: { UnattributedMax: UNATTRIBUTED_MAX } }, 'engine/mo/mo-store.ts'),
});

/** Section group of the control slot (shards are 0..S-1). */
const CONTROL = -1;

export class MoStore {
  private readonly optOuts: OptOutStore;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly o: { readonly eventsMaxLen: number; readonly unattributedStop: 'global' | 'ignore' },
  ) {
    defineLuaCommand(redis, 'syMo', MO);
    this.optOuts = new OptOutStore(redis, keys);
  }

  /** One MoResult per item: Recorded (a whole message) or PartStored (waiting for the rest). */
  async record(items: ReadonlyArray<MoItem>, now = Date.now()): Promise<MoResult[]> {
    await this.keywords(items, now);
    const k = this.keys;
    const bySlot = new Map<number, { sec: Section; idx: number[] }>();
    items.forEach((it, i) => {
      const shard = it.tenant === '' ? CONTROL : k.shards.byHash(it.number);
      let g = bySlot.get(shard);
      if (g === undefined) bySlot.set(shard, (g = { sec: new Section(shard, [shard === CONTROL ? k.control('mou') : k.eventsOf(shard)]), idx: [] }));
      const s = g.sec;
      const parts = it.concat === undefined ? 0 : s.key(shard === CONTROL ? k.control(`mop:${it.concat.key}`) : k.moParts(shard, it.concat.key));
      s.push(parts, it.concat?.seq ?? 0, it.concat?.total ?? 0, it.tenant, it.head, it.body, it.tail);
      g.idx.push(i);
    });
    const groups = [...bySlot.values()];
    const res = await runSections(this.redis, 'syMo', [this.o.eventsMaxLen], groups.map((g) => g.sec));
    const out: MoResult[] = new Array<MoResult>(items.length);
    groups.forEach((g, j) => (res[j] as MoResult[]).forEach((r, n) => (out[g.idx[n] as number] = r)));
    return out;
  }

  /** STOP / START keywords: through the opt-out store, in the order they came (a STOP then a START stays in). */
  private async keywords(items: ReadonlyArray<MoItem>, now: number): Promise<void> {
    for (const it of items) {
      if (it.action === 'stop' && it.tenant !== '') await this.optOuts.add(it.tenant, [it.number], 'mo', now);
      else if (it.action === 'stop' && this.o.unattributedStop === 'global') await this.optOuts.add(GLOBAL, [it.number], 'mo', now);
      else if (it.action === 'start' && it.tenant !== '') await this.optOuts.remove(it.tenant, [it.number], now);
    }
  }
}
