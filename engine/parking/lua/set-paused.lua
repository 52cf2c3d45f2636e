--[[
  Pauses or resumes a tenant in the paused set's master copy (control slot)
  and bumps its version. The caller then writes the set, with this version,
  into every shard's copy (copy-paused.lua), which the enqueue scripts read.
  KEYS[1] the paused set pz (control slot)
  KEYS[2] its version pz:ver (control slot)
  ARGV[1] tenant
  ARGV[2] 1 pause, 0 resume
  Returns: { version, Redis time in ms, the paused tenants now }.
]]
local t = ARGV[1]
if ARGV[2] == '1' then redis.call('SADD', KEYS[1], t) else redis.call('SREM', KEYS[1], t) end
local ver = redis.call('INCR', KEYS[2])
local tm = redis.call('TIME')
return { ver, tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000), redis.call('SMEMBERS', KEYS[1]) }
