--[[
  An actor's poll: records the paused-set version and the opt-out cursor it
  applies (with the Redis time) in pz:ack, returns the current version (and
  the set when it differs) and opt-out changes after its cursor. Every key is
  in the control slot.
  KEYS[1] pz:ack (hash consumer -> "version|ms|ooev id")
  KEYS[2] pz:ver
  KEYS[3] pz (the paused set's master copy)
  KEYS[4] ooev (opt-out changes)
  ARGV[1] consumer (the actor)
  ARGV[2] paused-set version it applies
  ARGV[3] opt-out change cursor (ooev entry id)
  ARGV[4] most opt-out changes to return
  Returns: { version, paused tenants (empty when the version is the one applied), opt-out changes }.
]]
local tm = redis.call('TIME')
local ms = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ms .. '|' .. ARGV[3])
local ver = redis.call('GET', KEYS[2]) or '0'
local members = {}
if ver ~= ARGV[2] then members = redis.call('SMEMBERS', KEYS[3]) end
local ev = redis.call('XRANGE', KEYS[4], '(' .. ARGV[3], '+', 'COUNT', tonumber(ARGV[4]))
return { ver, members, ev }
