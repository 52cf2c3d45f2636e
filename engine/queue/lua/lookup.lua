--[[
  Step 1 of recording delivery receipts (step 2 is receipts.lua), in the
  receipt mapping shard of each SMSC message id: finds the part a receipt is
  for (d:, written by link.lua). A receipt with no mapping yet (it came before
  its submit_sm_resp was recorded) is kept as an early receipt (de:, with the
  shard's dex: flag) for link.lua to hand to the submit; it is answered as
  recorded. A final receipt shortens its mapping to the final retention
  (EXPIRE … LT): the mapping is needed after that only to recognise a
  redelivered receipt as a duplicate. Idempotent: a crash before step 2 means
  no deliver_sm_resp was sent, and the SMSC redelivers.
  KEYS: per section (one per receipt mapping shard; includes/sections.lua)
  KEYS[s+1] dex:{T}:{smsc}, set while early receipts of the SMSC may exist in the shard
  KEYS[s+2..] mappings d:{T}:{smsc}:{mid} and early receipts de:{T}:{smsc}:{mid}, named by index (from s)
  ARGV[1] seconds a final message hash is kept (the mapping of a final part lives as long)
  ARGV[2] seconds an early receipt is kept
  ARGV[3..] sections: key count, ARGV count, then 4 per receipt: mapping key, early receipt key,
    state (D|U|E|K|u), the receipt as "state|err|text|raw" (kept if early)
  Returns: per section, per receipt "id|part" (found) or '' (kept as early).
]]
--- @include "includes/sections"
local finalTtl, earlyTtl = ARGV[1], ARGV[2]
local out = {}
for s, a, b in sections(3) do
  local r = {}
  local early = false
  for i = a, b, 4 do
    local dkey = KEYS[s + tonumber(ARGV[i])]
    local found = redis.call('GET', dkey)
    if found then
      if ARGV[i + 2] ~= 'u' then redis.call('EXPIRE', dkey, finalTtl, 'LT') end
      r[#r + 1] = found
    else
      redis.call('SET', KEYS[s + tonumber(ARGV[i + 1])], ARGV[i + 3], 'EX', earlyTtl)
      early = true
      r[#r + 1] = ''
    end
  end
  -- Tells link.lua to look for early receipts while any may exist.
  if early then redis.call('SET', KEYS[s + 1], 1, 'EX', earlyTtl) end
  out[#out + 1] = r
end
return out
