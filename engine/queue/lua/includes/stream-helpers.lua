--[[
  Stream id order (`after`), and a consumer group's last-delivered id of a
  stream (`lastDelivered`, nil when the stream or the group is missing):
  entries after it no consumer has read, which is what makes moving
  (failover) or deleting (cancel) them safe.
]]
local function after(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am > bm or (am == bm and as > bs)
end
local function lastDelivered(q, grp)
  local groups = redis.pcall('XINFO', 'GROUPS', q)
  if type(groups) ~= 'table' or groups.err then return nil end
  for _, g in ipairs(groups) do
    local name, ld
    for k = 1, #g, 2 do
      if g[k] == 'name' then name = g[k + 1] elseif g[k] == 'last-delivered-id' then ld = g[k + 1] end
    end
    if name == grp then return ld end
  end
  return nil
end
