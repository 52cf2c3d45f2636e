--[[
  Writes the paused set, as of a version of its master copy, into one shard's
  copy, unless that copy already holds this version or a later one: copies
  only move forward, so two nodes writing (a pause and a late repair) cannot
  leave an older set behind.
  KEYS[1] the shard's copy pz:{T} (set of paused tenants)
  KEYS[2] the version it holds pzv:{T}
  ARGV[1] version of the master copy
  ARGV[2..] the paused tenants at that version
  Returns: 1 written, 0 the copy was as new or newer.
]]
local ver = tonumber(ARGV[1])
if tonumber(redis.call('GET', KEYS[2]) or '-1') >= ver then return 0 end
redis.call('DEL', KEYS[1])
for k = 2, #ARGV, 5000 do redis.call('SADD', KEYS[1], unpack(ARGV, k, math.min(k + 4999, #ARGV))) end
redis.call('SET', KEYS[2], ARGV[1])
return 1
