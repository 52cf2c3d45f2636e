--[[
  Takes the oldest dead letters of a tenant and appends their events to a
  webhook queue (admin replay, engine/http/webhook-routes.ts).
  KEYS[1] the tenant's dead letters (whd:{T})
  KEYS[2] the webhook queue to append to (whq:{T}:{node})
  ARGV[1] most dead letters to move
  Returns: { moved, left }.
]]
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items == 0 then return {0, redis.call('LLEN', KEYS[1])} end
local evs = {}
for _, s in ipairs(items) do
  local p = string.find(s, ',"event":', 1, true)
  if p then evs[#evs + 1] = string.sub(s, p + 9, -2) end
end
for k = 1, #evs, 1000 do redis.call('RPUSH', KEYS[2], unpack(evs, k, math.min(k + 999, #evs))) end
redis.call('LTRIM', KEYS[1], #items, -1)
return {#items, redis.call('LLEN', KEYS[1])}
