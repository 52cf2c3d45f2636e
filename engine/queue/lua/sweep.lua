--[[
  The expiry sweep. The expiry index (exp) holds every message not yet final,
  scored by its validity end (enqueue.lua), so the sweep meets a message when
  its validity runs out:
    - if nothing of it can still reach an SMSC it ends `expired` now
      (VALIDITY_EXPIRED): held for moderation, scheduled, parked whole at
      acceptance, or queued with every part's entry still unread in its SMSC
      queue (after the consumer group's last-delivered id: an SMSC that is down
      reads nothing; the entries are deleted, as a cancel does);
    - otherwise (parts sent and awaiting receipts, or entries an actor has read
      and may be sending) it is re-scored to validity + grace. (An actor ends
      the entries it holds past their validity itself: before sending them,
      and while it has no bind, operator-actor.ts expireHeld.)
  Met at validity + grace, parts never sent end expired (VALIDITY_EXPIRED) and
  parts sent without a receipt unknown (NO_RECEIPT).
  Scoring by validity + grace from the start kept a message whose only SMSC was
  down `queued` for validity + grace (54 h by default) instead of ending it at
  its validity. The re-score costs one ZADD for a message still without its
  final receipt at validity end, and nothing on the hot path.
  KEYS: none (every key is built from ARGV[1], the prefix, so that one call can
    touch many messages; on Redis Cluster they move into KEYS by slot, issue 13)
  ARGV[1] key prefix (keys are built from it inside the script: see KEYS)
  ARGV[2] now, ms since epoch
  ARGV[3] MAXLEN ~ of the events stream
  ARGV[4] seconds a final message hash is kept
  ARGV[5] most messages to meet
  ARGV[6] receipt grace, ms
  ARGV[7] consumer group
  Returns: how many messages it met.
]]
--- @include "includes/common"
--- @include "includes/stream-helpers"
local grace = tonumber(ARGV[6] or '0')
local grp = ARGV[7] or 'g'
local EXPIRED_TEXT = 'validity period ran out before the message could be sent'
local ids = redis.call('ZRANGEBYSCORE', P .. 'exp', '-inf', now, 'LIMIT', 0, tonumber(ARGV[5]))
local later = {}
-- Last-delivered id per queue (false: no group), read once per call.
local lastOf = {}
-- True when every part of a queued message is still unread in its SMSC queue; deletes those entries.
local function takeUnread(id, n, sm, qe)
  local bar = qe and string.find(qe, '|', 1, true)
  if not bar then return false end
  local q = P .. 'q:{' .. sm .. ':' .. string.sub(qe, 1, bar - 1) .. '}'
  local eid = string.sub(qe, bar + 1)
  local last = lastOf[q]
  if last == nil then last = lastDelivered(q, grp) or false; lastOf[q] = last end
  if not last or not after(eid, last) then return false end
  -- The parts were added one after the other by one script: they follow eid (as cancel.lua reads them).
  local es = redis.call('XRANGE', q, eid, '+', 'COUNT', n)
  local del = {}
  for k = 1, #es do
    local fl = es[k][2]
    local h = fl[1] == 'h' and fl[2] or fl[4]
    if string.sub(h or '', 1, #id + #tostring(k) + 2) == id .. '|' .. k .. '|' then del[#del + 1] = es[k][1] end
  end
  if #del ~= n then return false end
  redis.call('XDEL', q, unpack(del))
  return true
end
for _, id in ipairs(ids) do
  local mkey = P .. 'm:' .. id
  local g = redis.call('HMGET', mkey, 'n', 'v', 's', 'qe', 'sm', 'pe')
  local n = tonumber(g[1] or '0')
  local v = tonumber(g[2] or '0')
  if n == 0 then
    finished[#finished + 1] = id
  elseif now < v + grace then
    local st = g[3]
    local ends = st == 'pending_approval' or st == 'scheduled' or (st == 'paused' and g[6] ~= false)
    if st == 'queued' then
      local pf = {}
      for k = 1, n do pf[k] = 'p' .. k end
      local ps = redis.call('HMGET', mkey, unpack(pf))
      local allQueued = true
      for k = 1, n do if ps[k] ~= 'q' then allQueued = false end end
      ends = allQueued and takeUnread(id, n, g[5], g[4])
    end
    if ends then
      if st == 'scheduled' then redis.call('ZREM', P .. 'sch', id) end
      for part = 1, n do
        if redis.call('HGET', mkey, 'p' .. part) == 'q' then apply(id, part, 'E', 'VALIDITY_EXPIRED', EXPIRED_TEXT) end
      end
    else
      later[#later + 1] = v + grace
      later[#later + 1] = id
    end
  else
    for part = 1, n do
      local cur = redis.call('HGET', mkey, 'p' .. part)
      if cur == 'q' then apply(id, part, 'E', 'VALIDITY_EXPIRED', EXPIRED_TEXT)
      elseif cur == 's' or cur == 'u' then apply(id, part, 'K', 'NO_RECEIPT', 'no receipt within the validity period and grace') end
    end
    finished[#finished + 1] = id
  end
end
for k = 1, #later, 5000 do
  redis.call('ZADD', P .. 'exp', unpack(later, k, math.min(k + 4999, #later)))
end
leaveExpiryIndex()
flushUsage()
return #ids
