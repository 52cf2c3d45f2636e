--[[
  One receipt applied to its part, in the message's shard (receipts.lua, and
  lookup-receipts.lua on a single Redis). A part still queued has its
  submit_sm_resp linked but not yet recorded (submitted.lua): the receipt is
  parked in the hash (rc<part> = "state|err|text|raw") and submitted.lua
  applies it when it marks the part sent. A parked final receipt is not
  replaced by a later temporary one. Needs includes/common (and a section
  started).

    receiptPart(mkey, id, part, st, err, etxt, raw) -> ReceiptResult, ms from the message's `sent` (-1 unknown)
]]
local function receiptPart(mkey, id, part, st, err, etxt, raw)
  local f = hm(mkey, part)
  if f[F.partState] == 'q' then
    local prev = f[F.parkedReceipt]
    if not (st == 'u' and prev and string.sub(prev, 1, 1) ~= 'u') then
      redis.call('HSET', mkey, 'rc' .. part, st .. '|' .. err .. '|' .. etxt .. '|' .. raw)
    end
    return ReceiptResult.Parked, -1
  end
  local code = apply(mkey, id, part, st, err, etxt, raw, f)
  return code, lastSa and (now - lastSa) or -1
end
