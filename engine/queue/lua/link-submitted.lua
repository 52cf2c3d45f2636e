--[[
  Records submit_sm_resps in ONE call, on a single Redis only: link.lua and
  submitted.lua together, per part its receipt mapping (d:, in the mapping
  shard of its SMSC message id), any early receipt waiting for it (de:), and
  the submit in its message's shard (includes/submit-part). On a Redis
  Cluster the mapping and the message live in different slots and the store
  runs the two steps (redis-store.ts `submitted`); outside cluster mode the
  keys of several slots may be in one script, and every key here is still
  declared. Atomic, so no crash can fall between the steps; idempotent as
  each step is: a part no longer queued is only acknowledged again, its
  mapping written again.
  KEYS: per section (one per message shard; includes/sections.lua)
  KEYS[s+1] events stream ev:{T}
  KEYS[s+2] expiry index exp:{T}
  KEYS[s+3] usage us:{T}:{day of now}
  KEYS[s+4..] queues q:{T}:{smsc}, message hashes m:{T}:{id}, mappings d:{J}:{smsc}:{mid}, early receipts
    de:{J}:{smsc}:{mid} and early-receipt flags dex:{J}:{smsc} (of the mapping shards J), named by index (from s)
  ARGV[1] now, ms since epoch
  ARGV[2] MAXLEN ~ of the events streams
  ARGV[3] seconds a final message hash is kept
  ARGV[4] consumer group
  ARGV[5] smsc id
  ARGV[6..] sections: key count, ARGV count, then 10 per part: queue key, entry id, message hash key,
    message id, part, the SMSC's message id as it sent it, mapping key, early receipt key, early-receipt
    flag key, the mapping's TTL (s)
  Returns: per section, the number of early receipts applied.
]]
--- @include "includes/common"
--- @include "includes/sections"
--- @include "includes/submit-part"
local grp = ARGV[4]
local smsc = ARGV[5]
local out = {}
-- Early receipts are rare: look for them only while one may exist (a flag per SMSC and mapping shard).
local flags = {}
local function mayHaveEarly(key)
  local e = flags[key]
  if e == nil then
    e = redis.call('EXISTS', key) == 1
    flags[key] = e
  end
  return e
end
for s, a, b in sections(6) do
  section(KEYS[s + 1], KEYS[s + 2], KEYS[s + 3])
  local early = 0
  local acks = {}
  for i = a, b, 10 do
    local q, id, part = KEYS[s + tonumber(ARGV[i])], ARGV[i + 3], ARGV[i + 4]
    local list = acks[q]
    if list == nil then list = {}; acks[q] = list end
    list[#list + 1] = ARGV[i + 1]
    redis.call('SET', KEYS[s + tonumber(ARGV[i + 6])], id .. '|' .. part, 'EX', ARGV[i + 9])
    local er = mayHaveEarly(KEYS[s + tonumber(ARGV[i + 8])]) and redis.call('GET', KEYS[s + tonumber(ARGV[i + 7])]) or ''
    early = early + submitPart(KEYS[s + tonumber(ARGV[i + 2])], id, part, ARGV[i + 5], er, smsc)
  end
  ackAll(acks, grp)
  endSection()
  out[#out + 1] = early
end
return out
