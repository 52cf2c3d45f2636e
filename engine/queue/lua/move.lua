--[[
  Failover: moves entries that no consumer has read yet (ids after the group's
  last-delivered id, so certainly never sent) from a down SMSC's partition to
  another SMSC's, keeping the message id, its parts and its status, and records
  the new SMSC and route on the message. An entry read meanwhile by the down
  SMSC's actor is left where it is: nothing is sent twice.
  KEYS: none (every key is built from ARGV[1], the prefix, so that one call can
    touch many messages; on Redis Cluster they move into KEYS by slot, issue 13)
  ARGV[1] key prefix
  ARGV[2] consumer group
  ARGV[3] source queue key
  ARGV[4..] 5 per entry: entryId, destination queue key, messageId, new smsc, new route record
  Returns: the number of entries moved.
]]
--- @include "includes/stream-helpers"
local P, grp, src = ARGV[1], ARGV[2], ARGV[3]
local last = lastDelivered(src, grp) or '0-0'
local moved = 0
for i = 4, #ARGV, 5 do
  local eid, dst, id, sm, rt = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  if after(eid, last) then
    local e = redis.call('XRANGE', src, eid, eid)
    if #e == 1 then
      local nid = redis.call('XADD', dst, '*', unpack(e[1][2]))
      redis.call('XDEL', src, eid)
      -- The first part's new place is where a cancel looks for the message (qe).
      local h = e[1][2][1] == 'h' and e[1][2][2] or e[1][2][4]
      if string.match(h or '', '^[^|]*|(%d+)|') == '1' then
        redis.call('HSET', P .. 'm:' .. id, 'sm', sm, 'rt', rt, 'qe', string.match(dst, ':(%d+)}$') .. '|' .. nid)
      else
        redis.call('HSET', P .. 'm:' .. id, 'sm', sm, 'rt', rt)
      end
      moved = moved + 1
    end
  end
end
return moved
