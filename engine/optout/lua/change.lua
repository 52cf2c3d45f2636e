--[[
  Step 1 of an opt-out change (optout-store.ts): adds numbers to, or removes
  them from, one list (a tenant's, or '*' the global one) with their records.
  Step 2 (announce.lua, recent.lua) tells the actors and the enqueue scripts.
  KEYS[1] the list oo:{T} (sorted set, score 0: ordered by number)
  KEYS[2] its records oom:{T} (hash number -> "atMs|source")
  ARGV[1] op: a add, r remove
  ARGV[2] now, ms since epoch (the record's time)
  ARGV[3] source (api, admin, mo)
  ARGV[4..] numbers (E.164 digits)
  Returns: how many changed the list (added: were not on it; removed: were on it).
]]
local op, at, src = ARGV[1], ARGV[2], ARGV[3]
local changed = 0
for i = 4, #ARGV do
  local n = ARGV[i]
  if op == 'a' then
    if redis.call('ZADD', KEYS[1], 'NX', 0, n) == 1 then
      redis.call('HSET', KEYS[2], n, at .. '|' .. src)
      changed = changed + 1
    end
  elseif redis.call('ZREM', KEYS[1], n) == 1 then
    redis.call('HDEL', KEYS[2], n)
    changed = changed + 1
  end
end
return changed
