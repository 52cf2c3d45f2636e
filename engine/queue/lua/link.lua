--[[
  Step 1 of recording submit_sm_resps (step 2 is submitted.lua): the receipt
  mapping of each part, in the shard its SMSC message id hashes to
  (Shards.mappingShard: a receipt carries only that id), and any early
  receipt that came before it.
  d:{T}:{smsc}:{mid} = "id|part" lives for the part's validity plus the
  receipt grace (dlrTtlSec, from the actor); once the part is final
  lookup.lua shortens it to the final retention (a redelivered receipt is
  still recognised as a duplicate).
  An early receipt (de:, stored by lookup.lua when it found no mapping) is
  returned, not deleted: a crash between this step and the next must not lose
  it (its TTL cleans it up). Idempotent: a crash between the steps leaves the
  part queued, its entry pending; the actor re-reads and re-sends it, and the
  new resp is linked again.
  KEYS: per section (one per receipt mapping shard; includes/sections.lua)
  KEYS[s+1] dex:{T}:{smsc}, set while early receipts of the SMSC may exist in the shard
  KEYS[s+2..] mappings d:{T}:{smsc}:{mid} and early receipts de:{T}:{smsc}:{mid}, named by index (from s)
  ARGV[1..] sections: key count, ARGV count, then 4 per part: mapping key, early receipt key, "id|part", dlrTtlSec
  Returns: per section, per part the early receipt ("state|err|text|raw") or ''.
]]
--- @include "includes/sections"
local out = {}
for s, a, b in sections(1) do
  -- Early receipts are rare: look for them only while one may exist.
  local anyEarly = redis.call('EXISTS', KEYS[s + 1]) == 1
  local r = {}
  for i = a, b, 4 do
    redis.call('SET', KEYS[s + tonumber(ARGV[i])], ARGV[i + 2], 'EX', ARGV[i + 3])
    r[#r + 1] = anyEarly and redis.call('GET', KEYS[s + tonumber(ARGV[i + 1])]) or ''
  end
  out[#out + 1] = r
end
return out
