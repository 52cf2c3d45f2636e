--[[
  Approves held messages: each is queued, or stopped (its number opted out
  meanwhile), parked (its tenant is paused) or scheduled (its sendAt is still
  ahead).
  KEYS: none (every key is built from ARGV[1], the prefix, so that one call can
    touch many messages; on Redis Cluster they move into KEYS by slot, issue 13)
  ARGV[1] key prefix
  ARGV[2] now, ms since epoch
  ARGV[3] MAXLEN ~ of the events stream
  ARGV[4] seconds a final message hash is kept
  ARGV[5..] message ids
  Returns: an ApproveResult per id (NotHeld: unknown, already decided, expired; Queued, Stopped,
    Paused, Scheduled).
]]
--- @include "../../queue/lua/includes/common"
--- @include "includes/field-of"
--- @include "includes/move-held"
--- @include "@ApproveResult"
local out = {}
for i = 5, #ARGV do
  local id = ARGV[i]
  local mkey = P .. 'm:' .. id
  local m = hm(mkey, 1)
  local res = ApproveResult.NotHeld
  if m[F.status] == 'pending_approval' then
    local t, n = m[F.tenant], tonumber(m[F.parts])
    local he = redis.call('HGET', mkey, 'he') or '0-0'
    if optedOut(t, m[F.to]) then
      takeHeld(t, id, he, n, 'none')
      for k = 1, n do apply(id, k, 'S', 'OPTED_OUT', 'the number opted out (STOP) while the message was held') end
      res = ApproveResult.Stopped
    elseif tonumber(redis.call('HGET', mkey, 'da') or '0') > now then
      -- Approved before its sendAt: it waits for it like any scheduled message.
      takeHeld(t, id, he, n, 'schedule')
      redis.call('ZADD', P .. 'sch', redis.call('HGET', mkey, 'da'), id)
      redis.call('HSET', mkey, 's', 'scheduled')
      emit(id, m, 'scheduled', nil, nil)
      res = ApproveResult.Scheduled
    elseif redis.call('SISMEMBER', P .. 'pz', t) == 1 then
      takeHeld(t, id, he, n, 'park')
      -- pe: parked whole (a cancel may stop it where it waits); pa: when it was paused
      redis.call('HSET', mkey, 's', 'paused', 'pe', '1', 'pa', now)
      emit(id, m, 'paused', nil, nil)
      res = ApproveResult.Paused
    else
      takeHeld(t, id, he, n, 'queue')
      redis.call('HSET', mkey, 's', 'queued', 'qa', now)
      emit(id, m, 'queued', nil, nil)
      res = ApproveResult.Queued
    end
    redis.call('HDEL', mkey, 'he')
  end
  out[#out + 1] = res
end
leaveExpiryIndex()
return out
