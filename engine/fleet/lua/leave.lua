--[[
  A node that stops gracefully: its heartbeat, its bind leases and leader
  leases go at once (the others take its slots at their next tick, not after
  the leases' TTL). Only what this boot holds is touched.
  KEYS[1] nodes hash: node id -> "boot|expiresAtMs|addr"
  KEYS[2] leases hash: "smsc#i" -> "node|boot|epoch|expiresAtMs"
  KEYS[3] leaders hash: duty -> "node|boot|epoch|expiresAtMs"
  KEYS[4] figures hash: node id -> published JSON
  ARGV[1] node id
  ARGV[2] boot
  Returns: the number of leases released.
]]
--- @include "includes/fleet-common"
local mine = ARGV[1] .. '|' .. ARGV[2] .. '|'
local function drop(key)
  local n = 0
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    if string.sub(all[i + 1], 1, #mine) == mine then
      redis.call('HDEL', key, all[i])
      n = n + 1
    end
  end
  return n
end
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if rec and fields(rec)[1] == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[1])
end
drop(KEYS[3])
return drop(KEYS[2])
