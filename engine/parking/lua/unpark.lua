--[[
  Moves parked parts of a resumed tenant back to their queues, unless the
  tenant is paused again. Parts that ended meanwhile (expired, stopped) are
  dropped. A message leaving `paused` gets `queued`.
  KEYS: none (every key is built from ARGV[1], the prefix, so that one call can
    touch many messages; on Redis Cluster they move into KEYS by slot, issue 13)
  ARGV[1] key prefix
  ARGV[2] now, ms since epoch
  ARGV[3] MAXLEN ~ of the events stream
  ARGV[4] seconds a final message hash is kept
  ARGV[5] tenant
  ARGV[6] most parts to move
  Returns: { moved, scanned }, or UnparkResult.PausedAgain.
]]
--- @include "../../queue/lua/includes/common"
--- @include "includes/field-of"
--- @include "@UnparkResult"
local t, count = ARGV[5], tonumber(ARGV[6])
if redis.call('SISMEMBER', P .. 'pz', t) == 1 then return UnparkResult.PausedAgain end
local pk = P .. 'park:{' .. t .. '}'
local es = redis.call('XRANGE', pk, '-', '+', 'COUNT', count)
local moved = 0
for _, e in ipairs(es) do
  local f = e[2]
  local h = fieldOf(f, 'h')
  local a = string.find(h, '|', 1, true)
  local b = string.find(h, '|', a + 1, true)
  local id, part = string.sub(h, 1, a - 1), string.sub(h, a + 1, b - 1)
  local mkey = P .. 'm:' .. id
  local m = hm(mkey, part)
  if m[F.partState] == 'q' and optedOut(t, m[F.to]) then
    -- The number opted out while the message was parked (an opt-out older than the actors' memory
    -- of recent ones would not be caught later): it ends here instead of going back to its queue.
    apply(id, part, 'S', 'OPTED_OUT', 'the number opted out (STOP) while the message was paused')
  elseif m[F.partState] == 'q' then
    local q = fieldOf(f, 'q')
    local eid = redis.call('XADD', q, '*', 'h', h, 'b', fieldOf(f, 'b'), 't', t)
    -- qe: where part 1 now is in its queue, so that a cancel can still find it unread.
    if part == '1' then redis.call('HSET', mkey, 'qe', (string.match(q, ':(%d+)}$') or '0') .. '|' .. eid) end
    if m[F.status] == 'paused' then
      redis.call('HSET', mkey, 's', 'queued', 'qa', now)
      redis.call('HDEL', mkey, 'pe')
      emit(id, m, 'queued', nil, nil)
    end
    moved = moved + 1
  end
  redis.call('XDEL', pk, e[1])
end
return { moved, #es }
