--[[
  Ends messages whose validity plus receipt grace has passed (the exp index):
  parts never sent become expired (E), parts sent without a receipt unknown (K).
  KEYS: none (every key is built from ARGV[1], the prefix, so that one call can
    touch many messages; on Redis Cluster they move into KEYS by slot, issue 13)
  ARGV[1] key prefix (keys are built from it inside the script: see KEYS)
  ARGV[2] now, ms since epoch
  ARGV[3] MAXLEN ~ of the events stream
  ARGV[4] seconds a final message hash is kept
  ARGV[5] most messages to sweep
  Returns: how many messages it swept.
]]
--- @include "includes/common"
local ids = redis.call('ZRANGEBYSCORE', P .. 'exp', '-inf', now, 'LIMIT', 0, tonumber(ARGV[5]))
for _, id in ipairs(ids) do
  local mkey = P .. 'm:' .. id
  local n = tonumber(redis.call('HGET', mkey, 'n') or '0')
  for part = 1, n do
    local cur = redis.call('HGET', mkey, 'p' .. part)
    if cur == 'q' then apply(id, part, 'E', '', 'validity period ran out before the message could be sent')
    elseif cur == 's' or cur == 'u' then apply(id, part, 'K', '', 'no receipt within the validity period and grace') end
  end
  finished[#finished + 1] = id
end
leaveExpiryIndex()
flushUsage()
return #ids
