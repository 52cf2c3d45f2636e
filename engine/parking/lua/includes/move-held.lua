--[[
  takeHeld(hk, mkey, id, he, n, dst, dstKey): moves a held message's entries
  (consecutive in its hold stream hk, from `he`) to dst: 'queue' (dstKey, its
  SMSC queue in the shard; the hash gets qe = the first entry id, so that a
  cancel can still find them unread), 'park' (dstKey, the tenant's park
  stream in the shard), 'schedule' (the part bytes into the hash, b<k>, for
  the scheduler) or 'none'. Returns how many. Needs fieldOf.
]]
local function takeHeld(hk, mkey, id, he, n, dst, dstKey)
  local es = redis.call('XRANGE', hk, he, '+', 'COUNT', n)
  local moved = 0
  for _, e in ipairs(es) do
    local f = e[2]
    local h = fieldOf(f, 'h')
    if string.sub(h, 1, #id + 1) == id .. '|' then
      if dst == 'queue' then
        local eid = redis.call('XADD', dstKey, '*', 'h', h, 'b', fieldOf(f, 'b'), 't', fieldOf(f, 't'))
        if moved == 0 then redis.call('HSET', mkey, 'qe', eid) end
      elseif dst == 'park' then
        redis.call('XADD', dstKey, '*', 'h', h, 'b', fieldOf(f, 'b'), 't', fieldOf(f, 't'), 'q', fieldOf(f, 'q'))
      elseif dst == 'schedule' then
        local a = string.find(h, '|', 1, true)
        local b = string.find(h, '|', a + 1, true)
        redis.call('HSET', mkey, 'b' .. string.sub(h, a + 1, b - 1), fieldOf(f, 'b'))
      end
      redis.call('XDEL', hk, e[1])
      moved = moved + 1
    end
  end
  return moved
end
