--[[
  Final failures decided by the actor (rejected at submit, expired in queue):
  the part ends R or E, the entry is acknowledged and deleted.
  KEYS: none (every key is built from ARGV[1], the prefix, so that one call can
    touch many messages; on Redis Cluster they move into KEYS by slot, issue 13)
  ARGV[1] key prefix (keys are built from it inside the script: see KEYS)
  ARGV[2] now, ms since epoch
  ARGV[3] MAXLEN ~ of the events stream
  ARGV[4] seconds a final message hash is kept
  ARGV[5] consumer group
  ARGV[6..] 7 per item: queueKey, entryId, messageId, part, state (R|E), error code, error text
  Returns: 0.
]]
--- @include "includes/common"
local grp = ARGV[5]
local acks = {}
for i = 6, #ARGV, 7 do
  local list = acks[ARGV[i]]
  if list == nil then list = {}; acks[ARGV[i]] = list end
  list[#list + 1] = ARGV[i + 1]
  apply(ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6])
end
for q, list in pairs(acks) do
  redis.call('XACK', q, grp, unpack(list))
  redis.call('XDEL', q, unpack(list))
end
leaveExpiryIndex()
flushUsage()
return 0
