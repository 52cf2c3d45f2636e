--[[
  Rejects held messages: each ends `stopped` (MODERATION_REJECTED with the reason).
  KEYS: none (every key is built from ARGV[1], the prefix, so that one call can
    touch many messages; on Redis Cluster they move into KEYS by slot, issue 13)
  ARGV[1] key prefix
  ARGV[2] now, ms since epoch
  ARGV[3] MAXLEN ~ of the events stream
  ARGV[4] seconds a final message hash is kept
  ARGV[5] reason text
  ARGV[6..] message ids
  Returns: a RejectResult per id (NotHeld, Rejected).
]]
--- @include "../../queue/lua/includes/common"
--- @include "includes/field-of"
--- @include "includes/move-held"
--- @include "@RejectResult"
local reason = ARGV[5]
local out = {}
for i = 6, #ARGV do
  local id = ARGV[i]
  local mkey = P .. 'm:' .. id
  local m = hm(mkey, 1)
  local res = RejectResult.NotHeld
  if m[F.status] == 'pending_approval' then
    local t, n = m[F.tenant], tonumber(m[F.parts])
    takeHeld(t, id, redis.call('HGET', mkey, 'he') or '0-0', n, 'none')
    redis.call('HDEL', mkey, 'he')
    for k = 1, n do apply(id, k, 'S', 'MODERATION_REJECTED', reason) end
    res = RejectResult.Rejected
  end
  out[#out + 1] = res
end
leaveExpiryIndex()
return out
