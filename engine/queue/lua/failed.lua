--[[
  Final failures decided by the actor (rejected at submit, expired in queue):
  the part ends R or E, the entry is acknowledged and deleted.
  KEYS: per section (one per shard; includes/sections.lua)
  KEYS[s+1] events stream ev:{T}
  KEYS[s+2] expiry index exp:{T}
  KEYS[s+3] usage us:{T}:{day of now}
  KEYS[s+4..] queues q:{T}:{smsc} and message hashes m:{T}:{id}, named by index (from s)
  ARGV[1] now, ms since epoch
  ARGV[2] MAXLEN ~ of the events streams
  ARGV[3] seconds a final message hash is kept
  ARGV[4] consumer group
  ARGV[5..] sections: key count, ARGV count, then 8 per part: queue key, entry id, message hash key,
    message id, part, state (R|E), error code, error text
  Returns: per section, 0.
]]
--- @include "includes/common"
--- @include "includes/sections"
local grp = ARGV[4]
local out = {}
for s, a, b in sections(5) do
  section(KEYS[s + 1], KEYS[s + 2], KEYS[s + 3])
  local acks = {}
  for i = a, b, 8 do
    local q = KEYS[s + tonumber(ARGV[i])]
    addAck(acks, q, ARGV[i + 1])
    apply(KEYS[s + tonumber(ARGV[i + 2])], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7])
  end
  ackAll(acks, grp)
  endSection()
  out[#out + 1] = 0
end
return out
