--[[
  Rejects held messages, per shard: each still pending_approval ends
  `stopped` (MODERATION_REJECTED with the reason), its parts taken out of the
  hold stream the caller named (it read the message's tenant).
  KEYS: per section (one per shard; includes/sections.lua)
  KEYS[s+1] events stream ev:{T}
  KEYS[s+2] expiry index exp:{T}
  KEYS[s+3..] message hashes m:{T}:{id} and hold streams hold:{T}:{tenant}, named by index (from s) in the items
  ARGV[1] now, ms since epoch
  ARGV[2] MAXLEN ~ of the events streams
  ARGV[3] seconds a final message hash is kept
  ARGV[4] reason text
  ARGV[5..] sections: key count, ARGV count, then 3 per item: message hash key, hold key, message id
  Returns: per section, a RejectResult per item (NotHeld, Rejected).
]]
--- @include "../../queue/lua/includes/common"
--- @include "../../queue/lua/includes/sections"
--- @include "includes/field-of"
--- @include "includes/move-held"
--- @include "@RejectResult"
local reason = ARGV[4]
local res = {}
for s, a, b in sections(5) do
  section(KEYS[s + 1], KEYS[s + 2], nil)
  local out = {}
  for i = a, b, 3 do
    local mkey, hk, id = KEYS[s + tonumber(ARGV[i])], KEYS[s + tonumber(ARGV[i + 1])], ARGV[i + 2]
    local m = hm(mkey, 1)
    local r = RejectResult.NotHeld
    if m[F.status] == 'pending_approval' then
      local n = tonumber(m[F.parts])
      takeHeld(hk, mkey, id, redis.call('HGET', mkey, 'he') or '0-0', n, 'none')
      redis.call('HDEL', mkey, 'he')
      for k = 1, n do apply(mkey, id, k, 'S', 'MODERATION_REJECTED', reason) end
      r = RejectResult.Rejected
    end
    out[#out + 1] = r
  end
  endSection()
  res[#res + 1] = out
end
return res
