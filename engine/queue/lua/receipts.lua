--[[
  Step 2 of recording delivery receipts (after lookup.lua), in the message's
  shard: each receipt is applied to its part. A part still queued has its
  submit_sm_resp linked (link.lua) but not yet recorded (submitted.lua): the
  receipt is parked in the hash (rc<part> = "state|err|text|raw") and
  submitted.lua applies it when it marks the part sent. A parked final
  receipt is not replaced by a later temporary one. Idempotent: applying a
  receipt twice finds the part final (Duplicate) or parks the same text again.
  KEYS: per section (one per shard; includes/sections.lua)
  KEYS[s+1] events stream ev:{T}
  KEYS[s+2] expiry index exp:{T}
  KEYS[s+3] usage us:{T}:{day of now}
  KEYS[s+4..] message hashes m:{T}:{id}, named by index (from s)
  ARGV[1] now, ms since epoch
  ARGV[2] MAXLEN ~ of the events streams
  ARGV[3] seconds a final message hash is kept
  ARGV[4..] sections: key count, ARGV count, then 7 per receipt: message hash key, message id, part,
    state (D|U|E|K|u), error code, error text, the receipt's raw text for analytics ('' for delivered ones)
  Returns: per section, two numbers per receipt: a ReceiptResult (Applied, Parked, Duplicate, Gone:
    message gone) and the ms from the message's `sent` to now (-1 when unknown).
]]
--- @include "includes/common"
--- @include "includes/sections"
--- @include "includes/receipt-part"
local out = {}
for s, a, b in sections(4) do
  section(KEYS[s + 1], KEYS[s + 2], KEYS[s + 3])
  local r = {}
  for i = a, b, 7 do
    local code, ms = receiptPart(KEYS[s + tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6])
    r[#r + 1] = code
    r[#r + 1] = ms
  end
  endSection()
  out[#out + 1] = r
end
return out
