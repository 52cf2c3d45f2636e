--[[
  Appends a dead node's webhook list of one tenant lane to the tail of this
  node's list of the same lane (engine/fleet/takeover.ts), at most ARGV[1]
  events per call; the order of the events is kept. Both keys carry the
  tenant's hash tag: one slot.
  KEYS[1] the dead node's list whq:{T}:{dead}[:lane]
  KEYS[2] this node's list whq:{T}:{node}[:lane]
  ARGV[1] most events to move in this call
  Returns: { moved, left }.
]]
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items == 0 then return {0, 0} end
for k = 1, #items, 1000 do redis.call('RPUSH', KEYS[2], unpack(items, k, math.min(k + 999, #items))) end
redis.call('LTRIM', KEYS[1], #items, -1)
return {#items, redis.call('LLEN', KEYS[1])}
