--[[
  Step 2 of recording submit_sm_resps (after link.lua), in the message's
  shard: the part is sent (the message `sent` once every part is), its SMSC
  message id is kept (i<part>), the queue entry is acknowledged and deleted,
  and a receipt that came early is applied: one link.lua returned (stored
  before the mapping existed), or one receipts.lua parked in the hash (rc<part>:
  it came after the mapping, before this step). Idempotent: a part no longer
  queued is only acknowledged again.
  KEYS: per section (one per shard; includes/sections.lua)
  KEYS[s+1] events stream ev:{T}
  KEYS[s+2] expiry index exp:{T}
  KEYS[s+3] usage us:{T}:{day of now}
  KEYS[s+4..] queues q:{T}:{smsc} and message hashes m:{T}:{id}, named by index (from s)
  ARGV[1] now, ms since epoch
  ARGV[2] MAXLEN ~ of the events streams
  ARGV[3] seconds a final message hash is kept
  ARGV[4] consumer group
  ARGV[5] smsc id
  ARGV[6..] sections: key count, ARGV count, then 7 per part: queue key, entry id, message hash key,
    message id, part, the SMSC's message id as it sent it, early receipt from link.lua ('' none)
  Returns: per section, the number of early receipts applied.
]]
--- @include "includes/common"
--- @include "includes/sections"
--- @include "includes/submit-part"
local grp = ARGV[4]
local smsc = ARGV[5]
local out = {}
for s, a, b in sections(6) do
  section(KEYS[s + 1], KEYS[s + 2], KEYS[s + 3])
  local early = 0
  local acks = {}
  for i = a, b, 7 do
    local q = KEYS[s + tonumber(ARGV[i])]
    addAck(acks, q, ARGV[i + 1])
    early = early + submitPart(KEYS[s + tonumber(ARGV[i + 2])], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], smsc)
  end
  ackAll(acks, grp)
  endSection()
  out[#out + 1] = early
end
return out
