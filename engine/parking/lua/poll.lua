--[[
  An actor's poll: records the paused-set version and the opt-out cursor it
  applies (with the Redis time) in pz:ack, returns the current version (and
  the set when it differs) and opt-out changes after its cursor.
  KEYS: none (every key is built from ARGV[1], the prefix, so that one call can
    touch many messages; on Redis Cluster they move into KEYS by slot, issue 13)
  ARGV[1] key prefix
  ARGV[2] consumer (the actor)
  ARGV[3] paused-set version it applies
  ARGV[4] opt-out change cursor (ooev entry id)
  ARGV[5] most opt-out changes to return
  Returns: { version, paused tenants (empty when the version is the one applied), opt-out changes }.
]]
local P = ARGV[1]
local tm = redis.call('TIME')
local ms = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
redis.call('HSET', P .. 'pz:ack', ARGV[2], ARGV[3] .. '|' .. ms .. '|' .. ARGV[4])
local ver = redis.call('GET', P .. 'pz:ver') or '0'
local members = {}
if ver ~= ARGV[3] then members = redis.call('SMEMBERS', P .. 'pz') end
local ev = redis.call('XRANGE', P .. 'ooev', '(' .. ARGV[4], '+', 'COUNT', tonumber(ARGV[5]))
return { ver, members, ev }
