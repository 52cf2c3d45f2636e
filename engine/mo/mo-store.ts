/**
 * Records MO messages in Redis, a batch per call (MO_LUA): each complete
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
import type { Keys } from '../queue/keys.js';
import { OPT_OUT_LUA_FUNCTIONS } from '../optout/optout-store.js';

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

/**
 * ARGV: prefix, evMax, now, unattributedStop ('global'|'ignore'), then 9 per item:
 *   tenant, action (S|A|''), number, head, body, tail, concat key (''), seq, total
 * Returns per item 1 (a whole message recorded) or 0 (a part stored, waiting for the rest).
 */
const MO_LUA = `
local P, evMax, now, ua = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
${OPT_OUT_LUA_FUNCTIONS}
local out = {}
for i = 5, #ARGV, 9 do
  local t, act, num, head, body, tail, ck = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
  local complete = true
  if ck ~= '' then
    local key = P .. 'mop:' .. ck
    local total = tonumber(ARGV[i + 8])
    redis.call('HSET', key, ARGV[i + 7], body)
    redis.call('EXPIRE', key, 3600)
    complete = false
    if redis.call('HLEN', key) >= total then
      local seqs = {}
      for k = 1, total do seqs[k] = tostring(k) end
      local parts = redis.call('HMGET', key, unpack(seqs))
      complete = true
      for k = 1, total do if not parts[k] then complete = false end end
      if complete then
        body = table.concat(parts)
        redis.call('DEL', key)
      end
    end
  end
  if complete then
    local frame = head .. body .. tail
    if t == '' then
      redis.call('XADD', P .. 'mou', 'MAXLEN', '~', ${UNATTRIBUTED_MAX}, '*', 'f', frame)
      if act == 'S' and ua == 'global' then optOutAdd('*', num, now, 'mo') end
    else
      if act == 'S' then optOutAdd(t, num, now, 'mo') elseif act == 'A' then optOutRemove(t, num) end
      redis.call('XADD', P .. 'ev', 'MAXLEN', '~', evMax, '*', 't', t, 'k', 'mo', 'f', frame)
    end
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
`;

export class MoStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly o: { readonly eventsMaxLen: number; readonly unattributedStop: 'global' | 'ignore' },
  ) {
    if (!('syMo' in redis)) redis.defineCommand('syMo', { numberOfKeys: 0, lua: MO_LUA });
  }

  async record(items: ReadonlyArray<MoItem>, now = Date.now()): Promise<number[]> {
    const args: Array<string | number> = [this.keys.prefix, this.o.eventsMaxLen, now, this.o.unattributedStop];
    for (const it of items) {
      args.push(it.tenant, it.action === 'stop' ? 'S' : it.action === 'start' ? 'A' : '', it.number, it.head, it.body, it.tail, it.concat?.key ?? '', it.concat?.seq ?? 0, it.concat?.total ?? 0);
    }
    return await (this.redis as unknown as { syMo(...a: Array<string | number>): Promise<number[]> }).syMo(...args);
  }
}
