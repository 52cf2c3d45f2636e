--[[
  Pauses or resumes a tenant: the paused set pz and its version pz:ver.
  KEYS: none (every key is built from ARGV[1], the prefix, so that one call can
    touch many messages; on Redis Cluster they move into KEYS by slot, issue 13)
  ARGV[1] key prefix
  ARGV[2] tenant
  ARGV[3] 1 pause, 0 resume
  Returns: { version, Redis time in ms }.
]]
local P, t = ARGV[1], ARGV[2]
if ARGV[3] == '1' then redis.call('SADD', P .. 'pz', t) else redis.call('SREM', P .. 'pz', t) end
local ver = redis.call('INCR', P .. 'pz:ver')
local tm = redis.call('TIME')
return { ver, tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000) }
