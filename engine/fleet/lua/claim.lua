--[[
  Fenced claim of pending queue entries (engine/fleet/fenced-reclaim.ts): each
  entry moves to the new consumer only if the consumer named still holds it
  and it has been idle at least the given time, so two nodes can never both
  take one entry, and an entry someone took since it was listed is left to
  them. Used to take a dead node's entries (idle >= fleet.reclaimAfterMs),
  to take entries handed back to the free consumer (idle >= 0), and to hand
  back an actor's own unsent entries when it lost its binds' leases.
  KEYS[1] the queue stream q:{T}:{smsc}
  ARGV[1] consumer group
  ARGV[2] the consumer that must hold each entry
  ARGV[3] the consumer to move them to
  ARGV[4] least idle time, ms
  ARGV[5] 1: return the entries (id, fields); 0: return how many moved
  ARGV[6..] entry ids
  Returns: the entries moved ({id, fields} each; entries deleted meanwhile are dropped from the pending list by XCLAIM and not returned), or their count.
]]
local out, n = {}, 0
local minIdle = tonumber(ARGV[4])
for i = 6, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  local e = p[1]
  if e and e[2] == ARGV[2] and tonumber(e[3]) >= minIdle then
    local got = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, ARGV[i])
    if got[1] then
      n = n + 1
      if ARGV[5] == '1' then out[#out + 1] = got[1] end
    end
  end
end
if ARGV[5] == '1' then return out end
return n
