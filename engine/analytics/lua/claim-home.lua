--[[
  Claims (or renews) where this node's analytics writes: embedded chdb (one
  node in the fleet, its own disk) or a ClickHouse server (any number of
  nodes, all on the same server). engine/analytics/analytics-home.ts.
  KEYS[1] {c}:an:embedded  the node that runs analytics on embedded chdb (its node id), with a TTL
  KEYS[2] {c}:an:server    the server every analytics node writes to (a hash of its URL), with a TTL
  ARGV[1] kind: 'embedded' or 'server'
  ARGV[2] the value to hold: the node id (embedded) or the server's URL hash (server)
  ARGV[3] TTL (ms)
  Returns: { 'ok' } or { 'embedded', node } / { 'server', urlHash }: what holds the fleet's analytics instead.
]]
local mine, other
if ARGV[1] == 'embedded' then mine, other = KEYS[1], KEYS[2] else mine, other = KEYS[2], KEYS[1] end
local o = redis.call('GET', other)
if o then
  if ARGV[1] == 'embedded' then return {'server', o} else return {'embedded', o} end
end
local v = redis.call('GET', mine)
if v and v ~= ARGV[2] then return {ARGV[1], v} end
redis.call('SET', mine, ARGV[2], 'PX', tonumber(ARGV[3]))
return {'ok'}
