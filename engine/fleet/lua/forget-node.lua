--[[
  Deletes the record of a node dead longer than the retention (engine/fleet/takeover.ts):
  its heartbeat and published figures. Only the `takeover` leader does it, once it
  has taken over the node's work; its leader lease is checked here (same slot), so a
  leader deposed since (paused past its lease) is refused. A node that came back
  (another boot, or renewed) is left alone.
  KEYS[1] nodes hash: node id -> "boot|expiresAtMs|addr"
  KEYS[2] figures hash: node id -> published JSON
  KEYS[3] leaders hash: duty -> "node|boot|epoch|expiresAtMs"
  ARGV[1] the dead node's id
  ARGV[2] its boot (as seen dead)
  ARGV[3] retention, ms after its heartbeat ran out
  ARGV[4] this node's id
  ARGV[5] this node's boot
  ARGV[6] this node's epoch of the `takeover` lease
  Returns: 1 deleted, 0 not (yet) to delete, -1 refused (not the takeover leader of that epoch).
]]
--- @include "includes/fleet-common"
local lead = redis.call('HGET', KEYS[3], 'takeover')
if not lead then return -1 end
local l = fields(lead)
if l[1] ~= ARGV[4] or l[2] ~= ARGV[5] or l[3] ~= ARGV[6] or tonumber(l[#l]) <= now then return -1 end
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec then return 0 end
local f = fields(rec)
if f[1] ~= ARGV[2] or tonumber(f[2]) + tonumber(ARGV[3]) > now then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
