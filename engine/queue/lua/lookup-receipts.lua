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

  Undeclared keys: the message hashes m:{T}:{id}. Their names come from the
  mappings this call reads, so no caller can declare them; the script builds
  them from ARGV (the m: prefix of each shard). That is legal outside cluster
  mode only, which is the only place the store sends this script; every
  other key, the shards' events, expiry and usage keys included, is declared.
  KEYS: per section (one section, s = 0: the call spans every shard, as only a single Redis allows)
  KEYS[s+1..] per message shard k (0..S-1) its events stream ev:{T}, expiry index exp:{T} and usage
    us:{T}:{day of now} (KEYS[s+3k+1], +2, +3); then mappings d:{J}:{smsc}:{mid}, early receipts
    de:{J}:{smsc}:{mid} and early-receipt flags dex:{J}:{smsc}, named by index (from s) in the items
  ARGV[1] now, ms since epoch
  ARGV[2] MAXLEN ~ of the events streams
  ARGV[3] seconds a final message hash is kept (the mapping of a final part lives as long)
  ARGV[4] seconds an early receipt is kept; 0: none is kept (see lookup.lua)
  ARGV[5] S, the number of shards
  ARGV[6..] the S message-hash key prefixes "{P}m:{T}:" (shard 0 first), then the section
    (includes/sections.lua): key count, ARGV count, 4 per receipt: mapping key, early receipt key,
    early-receipt flag key (indexes from s), the receipt as "state|err|text|raw"
  Returns: for its one section, two numbers per receipt: a ReceiptResult (Applied, Parked, Duplicate, Gone, Early: kept as an
    early receipt) and the ms from the message's `sent` to now (-1 when unknown).
]]
--- @include "@ReceiptResult"
--- @include "includes/common"
--- @include "includes/sections"
--- @include "includes/receipt-part"
local earlyTtl = ARGV[4]
local S = tonumber(ARGV[5])
local out = {}
-- Found receipts by message shard: { out index, id, part, receipt } ...
local byShard = {}
local s, first, last = sections(6 + S)()
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
    section(KEYS[s + 3 * k + 1], KEYS[s + 3 * k + 2], KEYS[s + 3 * k + 3])
    local prefix = ARGV[6 + k]
    for _, it in ipairs(l) do
      local st, err, etxt, raw = splitReceipt(it[4])
      out[it[1]], out[it[1] + 1] = receiptPart(prefix .. it[2], it[2], it[3], st, err, etxt, raw)
    end
    endSection()
  end
end
-- One result per section (sections.ts), and there is one.
return { out }
