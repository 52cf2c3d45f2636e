--[[
  Records submit_sm_resps in ONE call, on a single Redis only: link.lua and
  submitted.lua together, per part its receipt mapping (d:, in the mapping
  shard of its SMSC message id), any early receipt waiting for it (de:), and
  the submit in its message's shard (includes/submit-part). On a Redis
  Cluster the mapping and the message live in different slots and the store
  runs the two steps (redis-store.ts `submitted`); outside cluster mode the
  keys of several slots may be in one script. Atomic, so no crash can fall
  between the steps; idempotent as each step is: a part no longer queued is
  only acknowledged again, its mapping written again.

  Undeclared keys: the message hashes m:{T}:{id}, mappings d:{J}:{smsc}:{mid},
  early receipts de:{J}:{smsc}:{mid} and flags dex:{J}:{smsc}. The script
  builds their names (as engine/queue/keys.ts does: msg, dlrOf, earlyDlrOf,
  earlyFlagOf) from the key prefix, the shard tags and each part's mapping
  shard J: legal outside cluster mode only, the only place the store sends
  this script. Declared, they were four keys per part, about 170 bytes that
  the engine encoded and Redis parsed for every message (the unsharded
  scripts before issue 13 built them too).
  KEYS: per section (one per message shard; includes/sections.lua)
  KEYS[s+1] events stream ev:{T}
  KEYS[s+2] expiry index exp:{T}
  KEYS[s+3] usage us:{T}:{day of now}
  KEYS[s+4..] queues q:{T}:{smsc}, named by index (from s)
  ARGV[1] now, ms since epoch
  ARGV[2] MAXLEN ~ of the events streams
  ARGV[3] seconds a final message hash is kept
  ARGV[4] consumer group
  ARGV[5] smsc id
  ARGV[6] the key prefix {P}
  ARGV[7] the shard tags, braces included, shard 0 first, separated by spaces ("{s0} {s1.7} ...")
  ARGV[8..] sections: key count, ARGV count, then 8 per part: queue key, entry id, message id, part,
    the SMSC's message id as it sent it and normalised (receipts match by that), its mapping shard J
    (Shards.mappingShard), the mapping's TTL (s)
  Returns: per section, the number of early receipts applied.
]]
--- @include "includes/common"
--- @include "includes/sections"
--- @include "includes/submit-part"
local grp = ARGV[4]
local smsc = ARGV[5]
local P = ARGV[6]
local tags = {}
for t in string.gmatch(ARGV[7], '%S+') do tags[#tags + 1] = t end
local out = {}
-- Early receipts are rare: look for them only while one may exist (a flag per SMSC and mapping shard).
local flags = {}
local function mayHaveEarly(tag)
  local e = flags[tag]
  if e == nil then
    e = redis.call('EXISTS', P .. 'dex:' .. tag .. ':' .. smsc) == 1
    flags[tag] = e
  end
  return e
end
for s, a, b in sections(8) do
  section(KEYS[s + 1], KEYS[s + 2], KEYS[s + 3])
  local early = 0
  local acks = {}
  for i = a, b, 8 do
    local q, id, part, norm = KEYS[s + tonumber(ARGV[i])], ARGV[i + 2], ARGV[i + 3], ARGV[i + 5]
    addAck(acks, q, ARGV[i + 1])
    -- The message's shard is written at the end of its id (shards.ts, two base-36 characters).
    local mkey = P .. 'm:' .. tags[tonumber(string.sub(id, -2), 36) + 1] .. ':' .. id
    local jtag = tags[tonumber(ARGV[i + 6]) + 1]
    local tail = jtag .. ':' .. smsc .. ':' .. norm
    redis.call('SET', P .. 'd:' .. tail, id .. '|' .. part, 'EX', ARGV[i + 7])
    local er = mayHaveEarly(jtag) and redis.call('GET', P .. 'de:' .. tail) or ''
    early = early + submitPart(mkey, id, part, ARGV[i + 4], er, smsc)
  end
  ackAll(acks, grp)
  endSection()
  out[#out + 1] = early
end
return out
