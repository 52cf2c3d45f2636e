--[[
  One part's submit_sm_resp in its message's shard (submitted.lua, and
  link-submitted.lua on a single Redis): the part is sent (the message `sent`
  once every part is), its SMSC message id is kept (i<part>), and a receipt
  that came early is applied: `er` (one link.lua or link-submitted.lua found,
  stored before the mapping existed), or one receipts.lua parked in the hash
  (rc<part>: it came after the mapping, before this step). A part no longer
  queued is left as it is. Needs includes/common (and a section started).

    submitPart(mkey, id, part, raw, er, smsc) -> 1 when an early receipt was applied, else 0
]]
local function submitPart(mkey, id, part, raw, er, smsc)
  local f = hm(mkey, part)
  if f[F.partState] ~= 'q' then return 0 end
  local pf = 'p' .. part
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
  local parked = f[F.parkedReceipt]
  if parked then redis.call('HDEL', mkey, 'rc' .. part) end
  local r = (er ~= '' and er) or parked
  if not r then return 0 end
  local st, err, etxt, rraw = splitReceipt(r)
  apply(mkey, id, part, st, err, etxt, rraw)
  return 1
end
