--[[
  Failover, per shard: moves entries that no consumer has read yet (ids after
  the group's last-delivered id, so certainly never sent) from a down SMSC's
  queue to another SMSC's queue of the same shard, keeping the message id, its
  parts and its status, and records the new SMSC and route on the message. An
  entry read meanwhile by the down SMSC's actor is left where it is: nothing
  is sent twice.
  KEYS: per section (one per shard; includes/sections.lua)
  KEYS[s+1] the down SMSC's queue q:{T}:{smsc}
  KEYS[s+2..] destination queues q:{T}:{smsc} and message hashes m:{T}:{id}, named by index (from s)
  ARGV[1] consumer group
  ARGV[2..] sections: key count, ARGV count, then 5 per entry: entry id, destination queue key,
    message hash key, new smsc, new route record
  Returns: per section, the number of entries moved.
]]
--- @include "includes/stream-helpers"
--- @include "includes/sections"
local grp = ARGV[1]
local out = {}
for s, a, b in sections(2) do
  local src = KEYS[s + 1]
  local last = lastDelivered(src, grp) or '0-0'
  local moved = 0
  for i = a, b, 5 do
    local eid, dst, mkey, sm, rt = ARGV[i], KEYS[s + tonumber(ARGV[i + 1])], KEYS[s + tonumber(ARGV[i + 2])], ARGV[i + 3], ARGV[i + 4]
    if after(eid, last) then
      local e = redis.call('XRANGE', src, eid, eid)
      if #e == 1 then
        local nid = redis.call('XADD', dst, '*', unpack(e[1][2]))
        redis.call('XDEL', src, eid)
        -- The first part's new place is where a cancel looks for the message (qe).
        local h = e[1][2][1] == 'h' and e[1][2][2] or e[1][2][4]
        if string.match(h or '', '^[^|]*|(%d+)|') == '1' then
          redis.call('HSET', mkey, 'sm', sm, 'rt', rt, 'qe', nid)
        else
          redis.call('HSET', mkey, 'sm', sm, 'rt', rt)
        end
        moved = moved + 1
      end
    end
  end
  out[#out + 1] = moved
end
return out
