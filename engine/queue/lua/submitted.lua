--[[
  submit_sm_resp OK for a batch of parts: the part is sent (the message `sent`
  once every part is), its receipt key d:{smsc}:{id} is written, the entry is
  acknowledged and deleted, and an early receipt waiting for it is applied.
  The receipt key lives for the part's validity plus the receipt grace
  (dlrTtlSec, from the actor); once the part is final receipts.lua shortens
  it to the final retention (a redelivered receipt is still a duplicate).
  KEYS: none (every key is built from ARGV[1], the prefix, so that one call can
    touch many messages; on Redis Cluster they move into KEYS by slot, issue 13)
  ARGV[1] key prefix (keys are built from it inside the script: see KEYS)
  ARGV[2] now, ms since epoch
  ARGV[3] MAXLEN ~ of the events stream
  ARGV[4] seconds a final message hash is kept
  ARGV[5] consumer group
  ARGV[6] smsc id
  ARGV[7] unused
  ARGV[8..] 6 per item: queueKey, entryId, messageId, part, "normalisedSmscMessageId|rawId", dlrTtlSec
  Returns: the number of early receipts applied.
]]
--- @include "includes/common"
local grp = ARGV[5]
local smsc = ARGV[6]
local early = 0
-- Early receipts are rare: look for them only if one was stored recently.
local anyEarly = redis.call('EXISTS', P .. 'dex:' .. smsc) == 1
local acks = {}
for i = 8, #ARGV, 6 do
  local q, eid, id, part, mids, ttl = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local bar = string.find(mids, '|', 1, true)
  local norm = string.sub(mids, 1, bar - 1)
  local raw = string.sub(mids, bar + 1)
  local list = acks[q]
  if list == nil then list = {}; acks[q] = list end
  list[#list + 1] = eid
  local mkey = P .. 'm:' .. id
  local f = hm(mkey, part)
  if f[F.partState] == 'q' then
    local pf = 'p' .. part
    redis.call('SET', P .. 'd:' .. smsc .. ':' .. norm, id .. '|' .. part, 'EX', ttl)
    local ns = tonumber(f[F.partsSent] or '0') + 1
    -- Billed when sent (unless on delivery): each part the SMSC took; the message with its first part.
    if f[F.billOnDelivery] ~= '1' then bill(f, ns == 1 and 1 or 0, 1) end
    if ns >= tonumber(f[F.parts]) and f[F.status] == 'queued' then
      redis.call('HSET', mkey, pf, 's', 'i' .. part, raw, 'ns', ns, 'sm', smsc, 's', 'sent', 'sa', now)
      f[F.smsc] = smsc
      emit(id, f, 'sent', nil, nil)
    else
      redis.call('HSET', mkey, pf, 's', 'i' .. part, raw, 'ns', ns, 'sm', smsc)
    end
    if anyEarly then
      local ek = P .. 'de:' .. smsc .. ':' .. norm
      local r = redis.call('GET', ek)
      if r then
        redis.call('DEL', ek)
        local a = string.find(r, '|', 1, true)
        local b = string.find(r, '|', a + 1, true)
        local c = string.find(r, '|', b + 1, true)
        apply(id, part, string.sub(r, 1, a - 1), string.sub(r, a + 1, b - 1), string.sub(r, b + 1, (c or 0) - 1), c and string.sub(r, c + 1) or '')
        early = early + 1
      end
    end
  end
end
-- One XACK and one XDEL per partition for the whole batch.
for q, list in pairs(acks) do
  redis.call('XACK', q, grp, unpack(list))
  redis.call('XDEL', q, unpack(list))
end
leaveExpiryIndex()
flushUsage()
return early
