/**
 * Records MO messages in Redis, a batch per call (lua/mo.lua): each complete
 * message becomes one entry of the events stream `ev` (t tenant, k 'mo', f
 * the MO frame; analytics/status-events.ts), which the status dispatcher pushes to the
 * tenant's connections and the webhook dispatcher posts. A STOP adds the
 * sender to the tenant's opt-out list and a START removes it, in the same
 * script. Parts of a concatenated message wait in a hash (TTL 1 h) until
 * the last one is in; the frame is then built from the parts' texts in
 * order. Texts travel as JSON string bodies (JSON.stringify without the
 * quotes), so a UCS-2 surrogate pair split over two parts joins up again.
 * MO messages no tenant could be attributed go to {P}mou instead (capped).
 */
import type { Redis } from 'ioredis';
import { defineLuaCommand, luaConstants } from '../redis/lua-loader.js';
import type { Keys } from '../queue/keys.js';
import { loadStateScript } from '../queue/lua-scripts.js';
import type { MoResult } from '../queue/script-codes.js';
import { OPT_OUT_FRAGMENTS } from '../optout/optout-store.js';

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
  ...OPT_OUT_FRAGMENTS,
  MoLimits: luaConstants({ MoLimits: { UnattributedMax: UNATTRIBUTED_MAX } }, 'engine/mo/mo-store.ts'),
});

export class MoStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly o: { readonly eventsMaxLen: number; readonly unattributedStop: 'global' | 'ignore' },
  ) {
    defineLuaCommand(redis, 'syMo', MO);
  }

  /** One MoResult per item: Recorded (a whole message) or PartStored (waiting for the rest). */
  async record(items: ReadonlyArray<MoItem>, now = Date.now()): Promise<MoResult[]> {
    const args: Array<string | number> = [this.keys.prefix, this.o.eventsMaxLen, now, this.o.unattributedStop];
    for (const it of items) {
      args.push(it.tenant, it.action === 'stop' ? 'S' : it.action === 'start' ? 'A' : '', it.number, it.head, it.body, it.tail, it.concat?.key ?? '', it.concat?.seq ?? 0, it.concat?.total ?? 0);
    }
    return await (this.redis as unknown as { syMo(...a: Array<string | number>): Promise<MoResult[]> }).syMo(...args);
  }
}
