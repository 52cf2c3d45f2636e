--[[
  The opt-out check of a script that moves a waiting message (parking/lua:
  divert, unpark, approve) in a shard: the lists live in their tenants'
  slots, so the caller reads them first (the pre-check, at `checkedAt`) and
  passes what it found; this closes the race with an opt-out written since.
  An opt-out writes its list, then every shard's oor:{T} (number -> ms,
  engine/optout/optout-store.ts), so a number there at or after the
  pre-check (less the clock skew between nodes) went on a list since.

  preCheckStale(checkedAt, maxAge): the pre-check is older than oor:{T}
    reaches back (Redis time): the caller must check again.
  optedOut(oor, t, to, listed, checkedAt, skew): the pre-check found it
    listed, or it went on tenant t's list or the global one since (members
    of oor:{T} are "tenant|number", '*' for the global list).
]]
local function preCheckStale(checkedAt, maxAge)
  local tm = redis.call('TIME')
  return tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000) - checkedAt > maxAge
end
local function optedOut(oor, t, to, listed, checkedAt, skew)
  if listed == '1' then return true end
  local a1, a2 = redis.call('ZSCORE', oor, t .. '|' .. to), redis.call('ZSCORE', oor, '*|' .. to)
  return (a1 ~= false and tonumber(a1) >= checkedAt - skew) or (a2 ~= false and tonumber(a2) >= checkedAt - skew)
end
