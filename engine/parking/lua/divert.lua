--[[
  Entries an actor did not send because their tenant looked paused or their
  number looked opted out (its in-memory view), decided again here:
  opted out -> the part is stopped; tenant paused -> moved to park:{T};
  neither -> left alone and the actor sends it.
  KEYS: none (every key is built from ARGV[1], the prefix, so that one call can
    touch many messages; on Redis Cluster they move into KEYS by slot, issue 13)
  ARGV[1] key prefix
  ARGV[2] now, ms since epoch
  ARGV[3] MAXLEN ~ of the events stream
  ARGV[4] seconds a final message hash is kept
  ARGV[5] consumer group
  ARGV[6..] 6 per entry: queueKey, entryId, messageId, part, tenant, to
  Returns: a DivertResult per entry (Send, Parked, Stopped).
]]
--- @include "../../queue/lua/includes/common"
--- @include "includes/field-of"
--- @include "@DivertResult"
local grp = ARGV[5]
local out, acks, pausedOf = {}, {}, {}
for i = 6, #ARGV, 6 do
  local q, eid, id, part, t, to = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local res = DivertResult.Send
  if optedOut(t, to) then
    apply(id, part, 'S', 'OPTED_OUT', 'the number opted out (STOP) before the message was sent')
    res = DivertResult.Stopped
  else
    local pz = pausedOf[t]
    if pz == nil then
      pz = redis.call('SISMEMBER', P .. 'pz', t) == 1
      pausedOf[t] = pz
    end
    if pz then
      local e = redis.call('XRANGE', q, eid, eid)
      if #e == 1 then
        local f = e[1][2]
        redis.call('XADD', P .. 'park:{' .. t .. '}', '*', 'h', fieldOf(f, 'h'), 'b', fieldOf(f, 'b'), 't', t, 'q', q)
        local mkey = P .. 'm:' .. id
        local m = hm(mkey, part)
        if m[F.status] == 'queued' then
          redis.call('HSET', mkey, 's', 'paused', 'pa', now)
          emit(id, m, 'paused', nil, nil)
        end
      end
      res = DivertResult.Parked
    end
  end
  if res ~= DivertResult.Send then
    local list = acks[q]
    if list == nil then list = {}; acks[q] = list end
    list[#list + 1] = eid
  end
  out[#out + 1] = res
end
for q, list in pairs(acks) do
  redis.call('XACK', q, grp, unpack(list))
  redis.call('XDEL', q, unpack(list))
end
leaveExpiryIndex()
return out
