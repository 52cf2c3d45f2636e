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

  Undeclared keys: the message hashes m:{T}:{id} and the events, expiry
  and usage keys of their shards. Which shard a receipt's message is in
  comes from the mapping this call reads, so no caller can declare them; the
  script builds their names (as engine/queue/keys.ts does: msg, eventsOf,
  expiryOf, usageOf) from the key prefix and the shard tags. That is legal
  outside cluster mode only, the only place the store sends this script.
  Passing every shard's keys instead cost 3 keys per shard per call: with
  16 shards, 48 arguments on a call that often carries one receipt.
  KEYS: per section (one section, s = 0: the call spans every shard, as only a single Redis allows)
  KEYS[s+1..] mappings d:{J}:{smsc}:{mid}, early receipts de:{J}:{smsc}:{mid} and early-receipt flags
    dex:{J}:{smsc}, named by index (from s) in the items
  ARGV[1] now, ms since epoch
  ARGV[2] MAXLEN ~ of the events streams
  ARGV[3] seconds a final message hash is kept (the mapping of a final part lives as long)
  ARGV[4] seconds an early receipt is kept; 0: none is kept (see lookup.lua)
  ARGV[5] the key prefix {P}
  ARGV[6] the shard tags, braces included, shard 0 first, separated by spaces ("{s0} {s1.7} ...")
  ARGV[7] the UTC day of now (days since 1970: the usage hash's)
  ARGV[8..] the section (includes/sections.lua): key count, ARGV count, 4 per receipt: mapping key,
    early receipt key, early-receipt flag key (indexes from s), the receipt as "state|err|text|raw"
  Returns: for its one section, two numbers per receipt: a ReceiptResult (Applied, Parked, Duplicate, Gone, Early: kept as an
    early receipt) and the ms from the message's `sent` to now (-1 when unknown).
]]
--- @include "@ReceiptResult"
--- @include "includes/common"
--- @include "includes/sections"
--- @include "includes/receipt-part"
local earlyTtl, P, day = ARGV[4], ARGV[5], ARGV[7]
local tags = {}
for t in string.gmatch(ARGV[6], '%S+') do tags[#tags + 1] = t end
local S = #tags
local out = {}
-- Found receipts by message shard: { out index, id, part, receipt } ...
local byShard = {}
local s, first, last = sections(8)()
if s == nil then return {} end
for i = first, last, 4 do
  local o = (i - first) / 2 + 1
  local text = ARGV[i + 3]
  local st = string.sub(text, 1, 1)
  local dkey = KEYS[s + tonumber(ARGV[i])]
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
    redis.call('SET', KEYS[s + tonumber(ARGV[i + 1])], text, 'EX', earlyTtl)
    -- Tells the submit to look for early receipts while any may exist.
    redis.call('SET', KEYS[s + tonumber(ARGV[i + 2])], 1, 'EX', earlyTtl)
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
-- One result per section (sections.ts), and there is one.
return { out }
