--[[
  The expiry sweep, per shard. The expiry index (exp:{T}) holds every message
  not yet final, scored by its validity end (enqueue.lua), so the sweep meets
  a message when its validity runs out:
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
  The caller reads the due ids (ZRANGEBYSCORE) and passes their hashes; each
  is met only if it is still due (another node's sweep may have met it). The
  queues are the shard's streams of the configured SMSCs: a message of an
  SMSC no longer configured is not taken from its queue here, and ends at
  validity + grace.
  KEYS: per section (one per shard; includes/sections.lua)
  KEYS[s+1] events stream ev:{T}
  KEYS[s+2] expiry index exp:{T}
  KEYS[s+3] usage us:{T}:{day of now}
  KEYS[s+4] schedule sch:{T}
  KEYS[s+5..] the shard's queue q:{T}:{smsc} of each SMSC in ARGV[6] (in that order), then message hashes
    m:{T}:{id}, named by index (from s)
  ARGV[1] now, ms since epoch
  ARGV[2] MAXLEN ~ of the events streams
  ARGV[3] seconds a final message hash is kept
  ARGV[4] receipt grace, ms
  ARGV[5] consumer group
  ARGV[6] the configured SMSC ids, comma-separated
  ARGV[7..] sections: key count, ARGV count, then 2 per due message: message hash key, message id
  Returns: per section, how many messages it met.
]]
--- @include "includes/common"
--- @include "includes/stream-helpers"
--- @include "includes/sections"
local grace = tonumber(ARGV[4])
local grp = ARGV[5]
local EXPIRED_TEXT = 'validity period ran out before the message could be sent'
local smscIndex = {}
do
  local k = 0
  for sm in string.gmatch(ARGV[6], '[^,]+') do k = k + 1; smscIndex[sm] = k end
end
local out = {}
for s, a, b in sections(7) do
  section(KEYS[s + 1], KEYS[s + 2], KEYS[s + 3])
  local EXP, SCH = KEYS[s + 2], KEYS[s + 4]
  local later = {}
  local met = 0
  -- Last-delivered id per queue (false: no group), read once per section.
  local lastOf = {}
  -- True when every part of a queued message is still unread in its SMSC queue; deletes those entries.
  local function takeUnread(id, n, sm, qe)
    local qi = smscIndex[sm or '']
    if not qi or not qe then return false end
    local q = KEYS[s + 4 + qi]
    -- qe: the first part's entry id ("partition|id" before issue 13: the id is last).
    local eid = string.match(qe, '([^|]*)$')
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
  for i = a, b, 2 do
    local mkey, id = KEYS[s + tonumber(ARGV[i])], ARGV[i + 1]
    local score = redis.call('ZSCORE', EXP, id)
    if score and tonumber(score) <= now then
      met = met + 1
      local g = redis.call('HMGET', mkey, 'n', 'v', 's', 'qe', 'sm', 'pe')
      local n = tonumber(g[1] or '0')
      local v = tonumber(g[2] or '0')
      if n == 0 then
        finish(id)
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
          if st == 'scheduled' then redis.call('ZREM', SCH, id) end
          for part = 1, n do
            if redis.call('HGET', mkey, 'p' .. part) == 'q' then apply(mkey, id, part, 'E', 'VALIDITY_EXPIRED', EXPIRED_TEXT) end
          end
        else
          later[#later + 1] = v + grace
          later[#later + 1] = id
        end
      else
        for part = 1, n do
          local cur = redis.call('HGET', mkey, 'p' .. part)
          if cur == 'q' then apply(mkey, id, part, 'E', 'VALIDITY_EXPIRED', EXPIRED_TEXT)
          elseif cur == 's' or cur == 'u' then apply(mkey, id, part, 'K', 'NO_RECEIPT', 'no receipt within the validity period and grace') end
        end
        finish(id)
      end
    end
  end
  for k = 1, #later, 5000 do
    redis.call('ZADD', EXP, unpack(later, k, math.min(k + 4999, #later)))
  end
  endSection()
  out[#out + 1] = met
end
return out
