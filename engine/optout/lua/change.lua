--[[
  Adds numbers to, or removes them from, a tenant's opt-out list ('*': the
  global one), each with its record and change event.
  KEYS: none (every key is built from ARGV[1], the prefix, so that one call can
    touch many messages; on Redis Cluster they move into KEYS by slot, issue 13)
  ARGV[1] key prefix
  ARGV[2] tenant
  ARGV[3] op: a add, r remove
  ARGV[4] now, ms since epoch
  ARGV[5] source (api, admin, mo)
  ARGV[6..] numbers (E.164 digits)
  Returns: { how many changed, the last change's event id }.
]]
local P, t, op, at, src = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
--- @include "includes/optout-functions"
local changed = 0
for i = 6, #ARGV do
  if op == 'a' then changed = changed + optOutAdd(t, ARGV[i], at, src) else changed = changed + optOutRemove(t, ARGV[i]) end
end
return { changed, lastOptOutEvent }
