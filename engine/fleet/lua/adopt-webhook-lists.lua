--[[
  Appends a dead node's webhook list of one tenant lane to the tail of this
  node's list of the same lane (engine/fleet/takeover.ts), at most ARGV[1]
  events per call; the order of the events is kept. Every key carries the
  tenant's hash tag: one slot.
  Fenced by the `takeover` leader lease's epoch: the highest epoch that moved
  lists of this tenant is kept in KEYS[3], and a lower one is refused (a leader
  deposed since, e.g. paused past its lease, acting late).
  KEYS[1] the dead node's list whq:{T}:{dead}[:lane]
  KEYS[2] this node's list whq:{T}:{node}[:lane]
  KEYS[3] the tenant's takeover fence whf:{T} (highest epoch seen)
  ARGV[1] most events to move in this call
  ARGV[2] this node's epoch of the `takeover` lease
  Returns: { moved, left }, or { -1, 0 } refused (an epoch below the fence).
]]
local epoch, seen = tonumber(ARGV[2]), tonumber(redis.call('GET', KEYS[3]) or '0')
if epoch < seen then return {-1, 0} end
if epoch > seen then redis.call('SET', KEYS[3], epoch) end
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items == 0 then return {0, 0} end
for k = 1, #items, 1000 do redis.call('RPUSH', KEYS[2], unpack(items, k, math.min(k + 999, #items))) end
redis.call('LTRIM', KEYS[1], #items, -1)
return {#items, redis.call('LLEN', KEYS[1])}
