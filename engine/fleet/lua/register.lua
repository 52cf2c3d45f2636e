--[[
  Registers an engine node (engine/fleet/fleet.ts) in the control slot. A
  node id held by a live node of another boot is not taken: the caller is
  told who holds it (and waits that holder out if it stops renewing).
  KEYS[1] nodes hash: node id -> "boot|expiresAtMs|addr"
  ARGV[1] node id
  ARGV[2] boot (random per process start)
  ARGV[3] heartbeat TTL, ms
  ARGV[4] address ("host:port")
  Returns: { 1, now } registered, or { 0, now, "boot|expiresAtMs|addr" } of the live holder.
]]
--- @include "includes/fleet-common"
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if rec then
  local f = fields(rec)
  if f[1] ~= ARGV[2] and tonumber(f[2]) > now then return { 0, now, rec } end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. (now + tonumber(ARGV[3])) .. '|' .. ARGV[4])
return { 1, now }
