--[[
  Takes a grant of tokens from a tenant's fleet-wide rate bucket
  (engine/fleet/tenant-rate.ts). The bucket refills by Redis time (the clock
  of record: nodes' clocks may differ) at the tenant's tps, up to `burst`.
  KEYS[1] {P}rate:{T}  hash: k tokens (float), t last refill (ms, Redis time)
  ARGV[1] tps (tokens per second)
  ARGV[2] burst (most tokens the bucket holds)
  ARGV[3] tokens wanted
  Returns: { granted, msUntilOne } (msUntilOne: how long until one token is there, 0 when granted > 0).
]]
local rate = tonumber(ARGV[1]) / 1000
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local s = redis.call('HMGET', KEYS[1], 'k', 't')
local tokens = tonumber(s[1])
local last = tonumber(s[2])
if tokens == nil or last == nil then tokens, last = burst, now end
if now > last then tokens = math.min(burst, tokens + (now - last) * rate) end
local granted = math.min(want, math.floor(tokens))
if granted < 0 then granted = 0 end
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'k', tostring(tokens), 't', now)
-- Gone once it would be full again anyway (an idle tenant leaves nothing behind).
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
local wait = 0
if granted == 0 then wait = math.ceil((1 - tokens) / rate) end
return {granted, wait}
