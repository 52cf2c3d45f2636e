--[[
  takeHeld(t, id, he, n, dst): moves a held message's entries (consecutive in
  hold:{T}, from `he`) to dst: 'queue' (its SMSC partition; the hash gets
  qe = "partition|first entry id", so that a cancel can still find them
  unread), 'park', 'schedule' (the part bytes into the hash, b<k>, for the
  scheduler) or 'none'. Returns how many. Needs P and fieldOf.
]]
local function takeHeld(t, id, he, n, dst)
  local hk = P .. 'hold:{' .. t .. '}'
  local mkey = P .. 'm:' .. id
  local es = redis.call('XRANGE', hk, he, '+', 'COUNT', n)
  local moved = 0
  for _, e in ipairs(es) do
    local f = e[2]
    local h = fieldOf(f, 'h')
    if string.sub(h, 1, #id + 1) == id .. '|' then
      if dst == 'queue' then
        local q = fieldOf(f, 'q')
        local eid = redis.call('XADD', q, '*', 'h', h, 'b', fieldOf(f, 'b'), 't', t)
        if moved == 0 then redis.call('HSET', mkey, 'qe', (string.match(q, ':(%d+)}$') or '0') .. '|' .. eid) end
      elseif dst == 'park' then
        redis.call('XADD', P .. 'park:{' .. t .. '}', '*', 'h', h, 'b', fieldOf(f, 'b'), 't', t, 'q', fieldOf(f, 'q'))
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
