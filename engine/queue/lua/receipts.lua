--[[
  Delivery receipts: each is matched by d:{smsc}:{id} and applied to its part;
  a receipt with no mapping yet (before its submit_sm_resp) is kept as
  de:{smsc}:{id} for submitted.lua, with dex:{smsc} set while any may exist.
  KEYS: none (every key is built from ARGV[1], the prefix, so that one call can
    touch many messages; on Redis Cluster they move into KEYS by slot, issue 13)
  ARGV[1] key prefix (keys are built from it inside the script: see KEYS)
  ARGV[2] now, ms since epoch
  ARGV[3] MAXLEN ~ of the events stream
  ARGV[4] seconds a final message hash is kept
  ARGV[5] smsc id
  ARGV[6] seconds an early receipt is kept
  ARGV[7..] 5 per item: state (D|U|E|K|u), error code, error text, SMSC message id (normalised,
    receiptKey), the receipt's raw text for analytics ('' for delivered ones)
  Returns: two numbers per item: a ReceiptResult (Applied, Early: stored as early, Duplicate,
    Gone: message gone) and the ms from the message's `sent` to now (-1 when unknown).
]]
--- @include "includes/common"
local smsc = ARGV[5]
local earlyTtl = ARGV[6]
local out = {}
local i = 7
while i <= #ARGV do
  local st, err, etxt, key, raw = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local dkey = P .. 'd:' .. smsc .. ':' .. key
  local found = redis.call('GET', dkey)
  if found then
    local bar = string.find(found, '|', 1, true)
    local r = apply(string.sub(found, 1, bar - 1), string.sub(found, bar + 1), st, err, etxt, raw)
    -- A final part needs its receipt key only to recognise redelivered receipts.
    if r == ReceiptResult.Applied and st ~= 'u' then redis.call('EXPIRE', dkey, finalTtl, 'LT') end
    out[#out + 1] = r
    out[#out + 1] = lastSa and (now - lastSa) or -1
  else
    redis.call('SET', P .. 'de:' .. smsc .. ':' .. key, st .. '|' .. err .. '|' .. etxt .. '|' .. raw, 'EX', earlyTtl)
    -- Tells SUBMITTED_LUA to look for early receipts while any may exist.
    redis.call('SET', P .. 'dex:' .. smsc, 1, 'EX', earlyTtl)
    out[#out + 1] = ReceiptResult.Early
    out[#out + 1] = -1
  end
  i = i + 5
end
leaveExpiryIndex()
flushUsage()
return out
