--[[
  Records delivery receipts in ONE call, on a single Redis only: lookup.lua
  and receipts.lua together. Per receipt its mapping (d:, in the mapping
  shard of its SMSC message id) is read; found, the receipt is applied to
  its part in the message's shard (includes/receipt-part); not found, it is
  kept as an early receipt (de:, and the shard's dex: flag) or, with no
  room, answered Gone. On a Redis Cluster the mapping and the message live
  in different slots and the store runs the two steps (redis-store.ts
  `receipts`). Atomic; idempotent as each step is (a receipt applied twice
  finds its part final: Duplicate).

  Undeclared keys: every key it touches. Which shard a receipt's message
  is in comes from the mapping this call reads, so no caller can declare
  the message hash, nor its shard's events, expiry and usage keys; the
  mapping, early receipt and flag keys are built with them. The script
  builds their names (as engine/queue/keys.ts does: msg, eventsOf,
  expiryOf, usageOf, dlrOf, earlyDlrOf, earlyFlagOf) from the key prefix,
  the shard tags and each receipt's mapping shard: legal outside cluster
  mode only, the only place the store sends this script. (Declaring every
  shard's keys cost 48 arguments a call with 16 shards, on calls that often
  carry one receipt; declaring the mapping keys, about 90 bytes a receipt.)
  KEYS: none (all built here, see above)
  ARGV[1] now, ms since epoch
  ARGV[2] MAXLEN ~ of the events streams
  ARGV[3] seconds a final message hash is kept (the mapping of a final part lives as long)
  ARGV[4] seconds an early receipt is kept; 0: none is kept (see lookup.lua)
  ARGV[5] the key prefix {P}
  ARGV[6] the shard tags, braces included, shard 0 first, separated by spaces ("{s0} {s1.7} ...")
  ARGV[7] the UTC day of now (days since 1970: the usage hash's)
  ARGV[8] smsc id
  ARGV[9..] 3 per receipt: the SMSC's message id (normalised: receiptKey), its mapping shard J
    (Shards.mappingShard), the receipt as "state|err|text|raw"
  Returns: two numbers per receipt: a ReceiptResult (Applied, Parked, Duplicate, Gone, Early: kept as an
    early receipt) and the ms from the message's `sent` to now (-1 when unknown).
]]
--- @include "@ReceiptResult"
--- @include "includes/common"
--- @include "includes/receipt-part"
local earlyTtl, P, day, smsc = ARGV[4], ARGV[5], ARGV[7], ARGV[8]
local tags = {}
for t in string.gmatch(ARGV[6], '%S+') do tags[#tags + 1] = t end
local S = #tags
local out = {}
-- Found receipts by message shard: { out index, id, part, receipt } ...
local byShard = {}
for i = 9, #ARGV, 3 do
  local o = (i - 9) / 3 * 2 + 1
  local text = ARGV[i + 2]
  local st = string.sub(text, 1, 1)
  local jtag = tags[tonumber(ARGV[i + 1]) + 1]
  local dkey = P .. 'd:' .. jtag .. ':' .. smsc .. ':' .. ARGV[i]
  local found = redis.call('GET', dkey)
  local k
  if found then
    local bar = string.find(found, '|', 1, true)
    local id = bar and string.sub(found, 1, bar - 1) or ''
    -- The shard is written at the end of the id (shards.ts, two base-36 characters).
    k = #id == 18 and tonumber(string.sub(id, 17), 36) or nil
    if k ~= nil and k >= S then k = nil end
    if k ~= nil then
      if st ~= 'u' then redis.call('EXPIRE', dkey, finalTtl, 'LT') end
      local l = byShard[k]
      if l == nil then l = {}; byShard[k] = l end
      l[#l + 1] = { o, id, string.sub(found, bar + 1), text }
      out[o], out[o + 1] = 0, -1
    else
      out[o], out[o + 1] = ReceiptResult.Gone, -1
    end
  elseif earlyTtl == '0' then
    out[o], out[o + 1] = ReceiptResult.Gone, -1
  else
    redis.call('SET', P .. 'de:' .. jtag .. ':' .. smsc .. ':' .. ARGV[i], text, 'EX', earlyTtl)
    -- Tells the submit to look for early receipts while any may exist.
    redis.call('SET', P .. 'dex:' .. jtag .. ':' .. smsc, 1, 'EX', earlyTtl)
    out[o], out[o + 1] = ReceiptResult.Early, -1
  end
end
for k = 0, S - 1 do
  local l = byShard[k]
  if l ~= nil then
    local tag = tags[k + 1]
    section(P .. 'ev:' .. tag, P .. 'exp:' .. tag, P .. 'us:' .. tag .. ':' .. day)
    local prefix = P .. 'm:' .. tag .. ':'
    for _, it in ipairs(l) do
      local st, err, etxt, raw = splitReceipt(it[4])
      out[it[1]], out[it[1] + 1] = receiptPart(prefix .. it[2], it[2], it[3], st, err, etxt, raw)
    end
    endSection()
  end
end
return out
