--[[
  Approves held messages, per shard: each is queued, or stopped (its number
  opted out meanwhile: the caller's pre-check of the lists, or oor:{T}
  since), parked (its tenant is paused: the shard's copy pz:{T}) or scheduled
  (its sendAt is still ahead). The caller read each message's tenant and
  first held entry to name its hold, park and queue keys; the status is
  checked again here (only a message still pending_approval moves).
  KEYS: per section (one per shard; includes/sections.lua)
  KEYS[s+1] events stream ev:{T}
  KEYS[s+2] expiry index exp:{T}
  KEYS[s+3] schedule sch:{T}
  KEYS[s+4] paused tenants, the shard's copy pz:{T}
  KEYS[s+5] recent opt-outs oor:{T}
  KEYS[s+6..] message hashes m:{T}:{id}, hold:{T}:{tenant}, park:{T}:{tenant} and queues q:{T}:{smsc},
    named by index (from s) in the items
  ARGV[1] now, ms since epoch
  ARGV[2] MAXLEN ~ of the events streams
  ARGV[3] seconds a final message hash is kept
  ARGV[4] pre-check time, ms: the opt-out lists were read at or after it
  ARGV[5] how far back oor:{T} reaches, ms (an older pre-check is refused)
  ARGV[6] ms by which an oor:{T} entry may predate the pre-check and still count (clock skew)
  ARGV[7..] sections: key count, ARGV count, then 6 per item: message hash key, hold key, park key,
    queue key, message id, listed (1: on a list at the pre-check)
  Returns: per section, an ApproveResult per item (NotHeld: unknown, already decided, expired; Queued,
    Stopped, Paused, Scheduled), or PreCheckResult.Stale (nothing done).
]]
--- @include "../../queue/lua/includes/common"
--- @include "../../queue/lua/includes/sections"
--- @include "../../optout/lua/includes/opted-out"
--- @include "includes/field-of"
--- @include "includes/move-held"
--- @include "@ApproveResult"
--- @include "@PreCheckResult"
local checkedAt, maxAge, skew = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local stale = preCheckStale(checkedAt, maxAge)
local res = {}
for s, a, b in sections(7) do
  if stale then
    res[#res + 1] = PreCheckResult.Stale
  else
    section(KEYS[s + 1], KEYS[s + 2], nil)
    local SCH, PZ, OOR = KEYS[s + 3], KEYS[s + 4], KEYS[s + 5]
    local out = {}
    for i = a, b, 6 do
      local mkey, hk, pk, q = KEYS[s + tonumber(ARGV[i])], KEYS[s + tonumber(ARGV[i + 1])], KEYS[s + tonumber(ARGV[i + 2])], KEYS[s + tonumber(ARGV[i + 3])]
      local id, listed = ARGV[i + 4], ARGV[i + 5]
      local m = hm(mkey, 1)
      local r = ApproveResult.NotHeld
      if m[F.status] == 'pending_approval' then
        local t, n = m[F.tenant], tonumber(m[F.parts])
        local he = redis.call('HGET', mkey, 'he') or '0-0'
        if optedOut(OOR, t, m[F.to], listed, checkedAt, skew) then
          takeHeld(hk, mkey, id, he, n, 'none')
          for k = 1, n do apply(mkey, id, k, 'S', 'OPTED_OUT', 'the number opted out (STOP) while the message was held') end
          r = ApproveResult.Stopped
        elseif tonumber(redis.call('HGET', mkey, 'da') or '0') > now then
          -- Approved before its sendAt: it waits for it like any scheduled message.
          takeHeld(hk, mkey, id, he, n, 'schedule')
          redis.call('ZADD', SCH, redis.call('HGET', mkey, 'da'), id)
          redis.call('HSET', mkey, 's', 'scheduled')
          emit(id, m, 'scheduled', nil, nil)
          r = ApproveResult.Scheduled
        elseif redis.call('SISMEMBER', PZ, t) == 1 then
          takeHeld(hk, mkey, id, he, n, 'park', pk)
          -- pe: parked whole (a cancel may stop it where it waits); pa: when it was paused
          redis.call('HSET', mkey, 's', 'paused', 'pe', '1', 'pa', now)
          emit(id, m, 'paused', nil, nil)
          r = ApproveResult.Paused
        else
          takeHeld(hk, mkey, id, he, n, 'queue', q)
          redis.call('HSET', mkey, 's', 'queued', 'qa', now)
          emit(id, m, 'queued', nil, nil)
          r = ApproveResult.Queued
        end
        redis.call('HDEL', mkey, 'he')
      end
      out[#out + 1] = r
    end
    endSection()
    res[#res + 1] = out
  end
end
return res
