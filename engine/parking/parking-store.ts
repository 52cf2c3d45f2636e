/**
 * Messages that wait outside their SMSC queue: held for moderation
 * (`pending_approval`, stream {P}hold:{T}) or parked while their tenant is
 * paused (`paused`, stream {P}park:{T}). Both streams hold the parts exactly
 * as the SMSC queue would (fields h, b, t) plus `q`, the queue they belong
 * in, so that moving them back is a copy, not a rebuild. Every move is one
 * Lua script: an entry is in exactly one stream at any time (nothing lost,
 * nothing sent twice), and each check that decides a move (opt-out lists,
 * the paused set) is made inside the script that moves.
 *
 *   enqueue ──held──▶ hold:{T} ──approve──▶ q:{smsc:p}  (or park:{T} if T is paused)
 *                            └──reject──▶ stopped (MODERATION_REJECTED)
 *   enqueue ──T paused──▶ park:{T} ◀──divert (actor)── q:{smsc:p}
 *                            └──unpark (after resume)──▶ q:{smsc:p}
 *   q:{smsc:p} ──divert (actor, number opted out)──▶ stopped (OPTED_OUT)
 *
 * Pause handshake: actors poll the paused set's version (POLL_LUA, a few
 * times a second) and record in {P}pz:ack the version they apply with the
 * Redis time of the poll. An actor that has not polled successfully for
 * SELF_STOP_MS sends nothing, so once every actor has confirmed a version,
 * or its last poll is older than SELF_STOP_MS, no actor sends on an older one.
 */
import type { Redis } from 'ioredis';
import { COMMON } from '../queue/lua-scripts.js';
import { GROUP, type Keys } from '../queue/keys.js';
import type { QueueEntry } from '../queue/redis-store.js';

/** An actor whose view of the paused set is older than this sends nothing (ms). */
export const SELF_STOP_MS = 3_000;

const FIELD_OF = `
local function fieldOf(f, name)
  for k = 1, #f, 2 do if f[k] == name then return f[k + 1] end end
  return nil
end
local function optedOut(t, to)
  return redis.call('ZSCORE', P .. 'oo:{' .. t .. '}', to) or redis.call('ZSCORE', P .. 'oo:{*}', to)
end
`;

/**
 * Entries an actor did not send because their tenant looked paused or their
 * number looked opted out (its in-memory view). Decided again here:
 * opted out -> the part is stopped; tenant paused -> moved to park:{T};
 * neither -> left alone (0) and the actor sends it.
 * ARGV: prefix, now, evMax, finalTtl, group, then 6 per entry: queueKey, entryId, id, part, tenant, to.
 * Returns per entry 0 (send it), 1 parked, 2 stopped.
 */
const DIVERT_LUA = `${COMMON}${FIELD_OF}
local grp = ARGV[5]
local out, acks, pausedOf = {}, {}, {}
for i = 6, #ARGV, 6 do
  local q, eid, id, part, t, to = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local res = 0
  if optedOut(t, to) then
    apply(id, part, 'S', 'OPTED_OUT', 'the number opted out (STOP) before the message was sent')
    res = 2
  else
    local pz = pausedOf[t]
    if pz == nil then
      pz = redis.call('SISMEMBER', P .. 'pz', t) == 1
      pausedOf[t] = pz
    end
    if pz then
      local e = redis.call('XRANGE', q, eid, eid)
      if #e == 1 then
        local f = e[1][2]
        redis.call('XADD', P .. 'park:{' .. t .. '}', '*', 'h', fieldOf(f, 'h'), 'b', fieldOf(f, 'b'), 't', t, 'q', q)
        local mkey = P .. 'm:' .. id
        local m = hm(mkey, part)
        if m[8] == 'queued' then
          redis.call('HSET', mkey, 's', 'paused', 'pa', now)
          emit(id, m, 'paused', nil, nil)
        end
      end
      res = 1
    end
  end
  if res ~= 0 then
    local list = acks[q]
    if list == nil then list = {}; acks[q] = list end
    list[#list + 1] = eid
  end
  out[#out + 1] = res
end
for q, list in pairs(acks) do
  redis.call('XACK', q, grp, unpack(list))
  redis.call('XDEL', q, unpack(list))
end
leaveExpiryIndex()
return out
`;

/**
 * Moves up to ARGV[6] parked parts of tenant ARGV[5] back to their queues,
 * unless the tenant is paused again (-1). Parts that ended meanwhile
 * (expired, stopped) are dropped. A message leaving `paused` gets `queued`.
 * ARGV: prefix, now, evMax, finalTtl, tenant, count. Returns {moved, scanned} or -1.
 */
const UNPARK_LUA = `${COMMON}${FIELD_OF}
local t, count = ARGV[5], tonumber(ARGV[6])
if redis.call('SISMEMBER', P .. 'pz', t) == 1 then return -1 end
local pk = P .. 'park:{' .. t .. '}'
local es = redis.call('XRANGE', pk, '-', '+', 'COUNT', count)
local moved = 0
for _, e in ipairs(es) do
  local f = e[2]
  local h = fieldOf(f, 'h')
  local a = string.find(h, '|', 1, true)
  local b = string.find(h, '|', a + 1, true)
  local id, part = string.sub(h, 1, a - 1), string.sub(h, a + 1, b - 1)
  local mkey = P .. 'm:' .. id
  local m = hm(mkey, part)
  if m[13] == 'q' and optedOut(t, m[3]) then
    -- The number opted out while the message was parked (an opt-out older than the actors' memory
    -- of recent ones would not be caught later): it ends here instead of going back to its queue.
    apply(id, part, 'S', 'OPTED_OUT', 'the number opted out (STOP) while the message was paused')
  elseif m[13] == 'q' then
    local q = fieldOf(f, 'q')
    local eid = redis.call('XADD', q, '*', 'h', h, 'b', fieldOf(f, 'b'), 't', t)
    -- qe: where part 1 now is in its queue, so that a cancel can still find it unread.
    if part == '1' then redis.call('HSET', mkey, 'qe', (string.match(q, ':(%d+)}$') or '0') .. '|' .. eid) end
    if m[8] == 'paused' then
      redis.call('HSET', mkey, 's', 'queued', 'qa', now)
      redis.call('HDEL', mkey, 'pe')
      emit(id, m, 'queued', nil, nil)
    end
    moved = moved + 1
  end
  redis.call('XDEL', pk, e[1])
end
return { moved, #es }
`;

/**
 * Moves a held message's entries (consecutive in hold:{T}, from `he`) to dst:
 * 'queue' (its SMSC partition; the hash gets qe = "partition|first entry id",
 * so that a cancel can still find them unread), 'park', 'schedule' (the part
 * bytes into the hash, b<k>, for the scheduler) or 'none'. Returns how many.
 */
const MOVE_HELD = `
local function takeHeld(t, id, he, n, dst)
  local hk = P .. 'hold:{' .. t .. '}'
  local mkey = P .. 'm:' .. id
  local es = redis.call('XRANGE', hk, he, '+', 'COUNT', n)
  local moved = 0
  for _, e in ipairs(es) do
    local f = e[2]
    local h = fieldOf(f, 'h')
    if string.sub(h, 1, #id + 1) == id .. '|' then
      if dst == 'queue' then
        local q = fieldOf(f, 'q')
        local eid = redis.call('XADD', q, '*', 'h', h, 'b', fieldOf(f, 'b'), 't', t)
        if moved == 0 then redis.call('HSET', mkey, 'qe', (string.match(q, ':(%d+)}$') or '0') .. '|' .. eid) end
      elseif dst == 'park' then
        redis.call('XADD', P .. 'park:{' .. t .. '}', '*', 'h', h, 'b', fieldOf(f, 'b'), 't', t, 'q', fieldOf(f, 'q'))
      elseif dst == 'schedule' then
        local a = string.find(h, '|', 1, true)
        local b = string.find(h, '|', a + 1, true)
        redis.call('HSET', mkey, 'b' .. string.sub(h, a + 1, b - 1), fieldOf(f, 'b'))
      end
      redis.call('XDEL', hk, e[1])
      moved = moved + 1
    end
  end
  return moved
end
`;

/**
 * Approves held messages. ARGV: prefix, now, evMax, finalTtl, then ids.
 * Per id: 0 not held (unknown, already decided, expired), 1 queued,
 * 2 stopped (the number opted out meanwhile), 3 paused (its tenant is paused),
 * 4 scheduled (its sendAt is still ahead).
 */
const APPROVE_LUA = `${COMMON}${FIELD_OF}${MOVE_HELD}
local out = {}
for i = 5, #ARGV do
  local id = ARGV[i]
  local mkey = P .. 'm:' .. id
  local m = hm(mkey, 1)
  local res = 0
  if m[8] == 'pending_approval' then
    local t, n = m[1], tonumber(m[4])
    local he = redis.call('HGET', mkey, 'he') or '0-0'
    if optedOut(t, m[3]) then
      takeHeld(t, id, he, n, 'none')
      for k = 1, n do apply(id, k, 'S', 'OPTED_OUT', 'the number opted out (STOP) while the message was held') end
      res = 2
    elseif tonumber(redis.call('HGET', mkey, 'da') or '0') > now then
      -- Approved before its sendAt: it waits for it like any scheduled message.
      takeHeld(t, id, he, n, 'schedule')
      redis.call('ZADD', P .. 'sch', redis.call('HGET', mkey, 'da'), id)
      redis.call('HSET', mkey, 's', 'scheduled')
      emit(id, m, 'scheduled', nil, nil)
      res = 4
    elseif redis.call('SISMEMBER', P .. 'pz', t) == 1 then
      takeHeld(t, id, he, n, 'park')
      -- pe: parked whole (a cancel may stop it where it waits); pa: when it was paused
      redis.call('HSET', mkey, 's', 'paused', 'pe', '1', 'pa', now)
      emit(id, m, 'paused', nil, nil)
      res = 3
    else
      takeHeld(t, id, he, n, 'queue')
      redis.call('HSET', mkey, 's', 'queued', 'qa', now)
      emit(id, m, 'queued', nil, nil)
      res = 1
    end
    redis.call('HDEL', mkey, 'he')
  end
  out[#out + 1] = res
end
leaveExpiryIndex()
return out
`;

/** Rejects held messages. ARGV: prefix, now, evMax, finalTtl, reason text, then ids. Per id: 0 not held, 1 rejected. */
const REJECT_LUA = `${COMMON}${FIELD_OF}${MOVE_HELD}
local reason = ARGV[5]
local out = {}
for i = 6, #ARGV do
  local id = ARGV[i]
  local mkey = P .. 'm:' .. id
  local m = hm(mkey, 1)
  local res = 0
  if m[8] == 'pending_approval' then
    local t, n = m[1], tonumber(m[4])
    takeHeld(t, id, redis.call('HGET', mkey, 'he') or '0-0', n, 'none')
    redis.call('HDEL', mkey, 'he')
    for k = 1, n do apply(id, k, 'S', 'MODERATION_REJECTED', reason) end
    res = 1
  end
  out[#out + 1] = res
end
leaveExpiryIndex()
return out
`;

/**
 * Drops entries of a hold or park stream whose message no longer waits there
 * (expired by the sweep, gone): bounded memory when nobody decides.
 * ARGV: prefix, stream key, after id, count, kind (hold|park). Returns {last id scanned, dropped}.
 */
const REAP_LUA = `
local P, key, after, count, kind = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local es = redis.call('XRANGE', key, '(' .. after, '+', 'COUNT', count)
local dropped = 0
local last = after
for _, e in ipairs(es) do
  last = e[1]
  local f = e[2]
  local h = ''
  for k = 1, #f, 2 do if f[k] == 'h' then h = f[k + 1] end end
  local a = string.find(h, '|', 1, true)
  local b = a and string.find(h, '|', a + 1, true)
  local stale = true
  if b then
    local st = redis.call('HMGET', P .. 'm:' .. string.sub(h, 1, a - 1), 's', 'p' .. string.sub(h, a + 1, b - 1))
    stale = st[2] ~= 'q' or (kind == 'hold' and st[1] ~= 'pending_approval')
  end
  if stale then
    redis.call('XDEL', key, e[1])
    dropped = dropped + 1
  end
end
if #es < count then last = '0-0' end
return { last, dropped }
`;

/**
 * An actor's poll: records the paused-set version and the opt-out cursor it
 * applies (with the Redis time), returns the current version (and the set
 * when it differs) and opt-out changes after its cursor.
 * ARGV: prefix, consumer, applied version, opt-out cursor, count.
 */
const POLL_LUA = `
local P = ARGV[1]
local tm = redis.call('TIME')
local ms = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
redis.call('HSET', P .. 'pz:ack', ARGV[2], ARGV[3] .. '|' .. ms .. '|' .. ARGV[4])
local ver = redis.call('GET', P .. 'pz:ver') or '0'
local members = {}
if ver ~= ARGV[3] then members = redis.call('SMEMBERS', P .. 'pz') end
local ev = redis.call('XRANGE', P .. 'ooev', '(' .. ARGV[4], '+', 'COUNT', tonumber(ARGV[5]))
return { ver, members, ev }
`;

/** Pause (ARGV[3] = 1) or resume (0) tenant ARGV[2]. Returns {version, redis time ms}. */
const SET_PAUSED_LUA = `
local P, t = ARGV[1], ARGV[2]
if ARGV[3] == '1' then redis.call('SADD', P .. 'pz', t) else redis.call('SREM', P .. 'pz', t) end
local ver = redis.call('INCR', P .. 'pz:ver')
local tm = redis.call('TIME')
return { ver, tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000) }
`;

/**
 * Which actors may still send on a view older than paused-set version
 * ARGV[2] or opt-out change ARGV[4] (a stream id): those that have not
 * confirmed both and whose last poll is younger than ARGV[3] ms (the
 * self-stop time, plus a margin). Forgets consumers silent for a day.
 * Returns {confirmed consumers, waiting consumers}.
 */
const PAUSE_CHECK_LUA = `
local P, ver, stop, eid = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local function sid(s)
  local a, b = string.match(s or '', '^(%d+)-(%d+)$')
  return tonumber(a or '0'), tonumber(b or '0')
end
local em, es = sid(eid)
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
local acks = redis.call('HGETALL', P .. 'pz:ack')
local ok, waiting = {}, {}
for k = 1, #acks, 2 do
  local c, v = acks[k], acks[k + 1]
  local f = {}
  for x in string.gmatch(v, '[^|]+') do f[#f + 1] = x end
  local av, h = tonumber(f[1]) or 0, tonumber(f[2]) or 0
  local cm, cs = sid(f[3])
  if av >= ver and (cm > em or (cm == em and cs >= es)) then ok[#ok + 1] = c
  elseif h + stop <= now then
    if h < now - 86400000 then redis.call('HDEL', P .. 'pz:ack', c) end
  else waiting[#waiting + 1] = c end
end
return { ok, waiting }
`;

export const enum DivertResult {
  Send = 0,
  Parked = 1,
  Stopped = 2,
}

export const enum ApproveResult {
  NotHeld = 0,
  Queued = 1,
  Stopped = 2,
  Paused = 3,
  Scheduled = 4,
}

export interface PollResult {
  readonly version: string;
  /** The paused tenants, when the version differs from the one applied. */
  readonly paused: string[] | undefined;
  /** Opt-out changes after the cursor, oldest first. */
  readonly optOuts: Array<{ readonly eid: string; readonly add: boolean; readonly tenant: string; readonly number: string }>;
}

interface Scripted {
  syDivert(...a: Array<string | number>): Promise<number[]>;
  syUnpark(...a: Array<string | number>): Promise<[number, number] | -1>;
  syApprove(...a: Array<string | number>): Promise<number[]>;
  syReject(...a: Array<string | number>): Promise<number[]>;
  syReap(...a: Array<string | number>): Promise<[string, number]>;
  syPoll(...a: Array<string | number>): Promise<[string, string[], Array<[string, string[]]>]>;
  sySetPaused(...a: Array<string | number>): Promise<[number, number]>;
  syPauseCheck(...a: Array<string | number>): Promise<[string[], string[]]>;
}

export class ParkingStore {
  private readonly s: Scripted;

  constructor(
    readonly redis: Redis,
    readonly keys: Keys,
    private readonly limits: { readonly eventsMaxLen: number; readonly finalRetentionSec: number },
  ) {
    const def = (name: string, lua: string) => {
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: 0, lua });
    };
    def('syDivert', DIVERT_LUA);
    def('syUnpark', UNPARK_LUA);
    def('syApprove', APPROVE_LUA);
    def('syReject', REJECT_LUA);
    def('syReap', REAP_LUA);
    def('syPoll', POLL_LUA);
    def('sySetPaused', SET_PAUSED_LUA);
    def('syPauseCheck', PAUSE_CHECK_LUA);
    this.s = redis as unknown as Scripted;
  }

  private head(now: number): Array<string | number> {
    return [this.keys.prefix, now, this.limits.eventsMaxLen, this.limits.finalRetentionSec];
  }

  /** Actor: parks or stops entries it held back (DIVERT_LUA); one result per entry. */
  async divert(entries: ReadonlyArray<QueueEntry>, now = Date.now()): Promise<DivertResult[]> {
    const args = this.head(now);
    args.push(GROUP);
    for (const e of entries) args.push(e.queueKey, e.entryId, e.id, e.part, e.tenant, e.to);
    return (await this.s.syDivert(...args)) as DivertResult[];
  }

  /** Moves up to `count` parked parts of a resumed tenant back; undefined when it is paused again. */
  async unpark(tenant: string, count: number, now = Date.now()): Promise<{ moved: number; scanned: number } | undefined> {
    const r = await this.s.syUnpark(...this.head(now), tenant, count);
    return r === -1 ? undefined : { moved: r[0], scanned: r[1] };
  }

  async approve(ids: ReadonlyArray<string>, now = Date.now()): Promise<ApproveResult[]> {
    if (ids.length === 0) return [];
    return (await this.s.syApprove(...this.head(now), ...ids)) as ApproveResult[];
  }

  /** Rejects held messages (`stopped`, MODERATION_REJECTED with `reason`); per id whether it was held. */
  async reject(ids: ReadonlyArray<string>, reason: string, now = Date.now()): Promise<boolean[]> {
    if (ids.length === 0) return [];
    return (await this.s.syReject(...this.head(now), reason, ...ids)).map((r) => r === 1);
  }

  async reap(key: string, after: string, count: number, kind: 'hold' | 'park'): Promise<{ last: string; dropped: number }> {
    const [last, dropped] = await this.s.syReap(this.keys.prefix, key, after, count, kind);
    return { last, dropped };
  }

  async poll(consumer: string, appliedVersion: string, cursor: string, count: number): Promise<PollResult> {
    const [version, members, ev] = await this.s.syPoll(this.keys.prefix, consumer, appliedVersion, cursor, count);
    const optOuts = ev.map(([eid, f]) => {
      const m: Record<string, string> = {};
      for (let i = 0; i + 1 < f.length; i += 2) m[f[i] as string] = f[i + 1] as string;
      return { eid, add: m.k === 'a', tenant: m.t ?? '', number: m.n ?? '' };
    });
    return { version, paused: version === appliedVersion ? undefined : members, optOuts };
  }

  async setPaused(tenant: string, paused: boolean): Promise<{ version: number; at: number }> {
    const [version, at] = await this.s.sySetPaused(this.keys.prefix, tenant, paused ? 1 : 0);
    return { version, at };
  }

  /** Actors that confirmed paused-set `version` and opt-out change `optOutEid`, and those that may not have yet. */
  async pauseCheck(version: number, optOutEid = '0-0'): Promise<{ confirmed: string[]; waiting: string[] }> {
    const [confirmed, waiting] = await this.s.syPauseCheck(this.keys.prefix, version, SELF_STOP_MS + 200, optOutEid);
    return { confirmed, waiting };
  }

  async pausedTenants(): Promise<string[]> {
    return await this.redis.smembers(this.keys.paused());
  }
}
