--[[
  optOutAdd(t, n, at, src) / optOutRemove(t, n): one opt-out list change with
  its record (oom:{T}) and change event (ooev, read by the actors); each
  returns 1 if it changed the list. lastOptOutEvent: the last change's event
  id. Shared by optout/lua/change.lua and mo/lua/mo.lua. Needs P.
]]
--- @include "@OptOutLimits"
local lastOptOutEvent = '0-0'
local function optOutAdd(t, n, at, src)
  if redis.call('ZADD', P .. 'oo:{' .. t .. '}', 'NX', 0, n) == 1 then
    redis.call('HSET', P .. 'oom:{' .. t .. '}', n, at .. '|' .. src)
    lastOptOutEvent = redis.call('XADD', P .. 'ooev', 'MAXLEN', '~', OptOutLimits.EventsMax, '*', 'k', 'a', 't', t, 'n', n)
    return 1
  end
  return 0
end
local function optOutRemove(t, n)
  if redis.call('ZREM', P .. 'oo:{' .. t .. '}', n) == 1 then
    redis.call('HDEL', P .. 'oom:{' .. t .. '}', n)
    lastOptOutEvent = redis.call('XADD', P .. 'ooev', 'MAXLEN', '~', OptOutLimits.EventsMax, '*', 'k', 'r', 't', t, 'n', n)
    return 1
  end
  return 0
end
