--[[
  Cancels messages, per shard. A scheduled message leaves the schedule; a
  queued one has its stream entries deleted if none has been read by an actor
  (ids after the group's last-delivered id); a held one (pending_approval) or
  one parked whole at acceptance (paused, `pe`) is stopped where it waits (the
  approval, the resume and the reaper skip stopped parts). Each ends `stopped`
  (every part S, error CANCELLED) with a `stopped` event.
  KEYS: per section (one per shard; includes/sections.lua)
  KEYS[s+1] events stream ev:{T}
  KEYS[s+2] expiry index exp:{T}
  KEYS[s+3] schedule sch:{T}
  KEYS[s+4..] the shard's queue q:{T}:{smsc} of each SMSC in ARGV[5] (in that order), then message hashes
    m:{T}:{id}, named by index (from s)
  ARGV[1] now, ms since epoch
  ARGV[2] MAXLEN ~ of the events streams
  ARGV[3] seconds a final message hash is kept
  ARGV[4] consumer group
  ARGV[5] the configured SMSC ids, comma-separated
  ARGV[6..] sections: key count, ARGV count, then 3 per item: message hash key, tenant, message id
  Returns: per section, 2 values per item: a CancelOutcome (Stopped S, NotCancellable C, NotFound N:
    no such message of this tenant) and the message's status (after the cancel for Stopped).
]]
--- @include "includes/common"
--- @include "includes/stream-helpers"
--- @include "includes/sections"
--- @include "@CancelOutcome"
local grp = ARGV[4]
local smscIndex = {}
do
  local k = 0
  for sm in string.gmatch(ARGV[5], '[^,]+') do k = k + 1; smscIndex[sm] = k end
end
local res = {}
for s, a, b in sections(6) do
  section(KEYS[s + 1], KEYS[s + 2], nil)
  local SCH = KEYS[s + 3]
  local out = {}
  for i = a, b, 3 do
    local mkey, tenant, id = KEYS[s + tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2]
    local f = hm(mkey, 1)
    local code, st = CancelOutcome.NotFound, ''
    if f[F.tenant] == tenant then
      st = f[F.status]
      local n = tonumber(f[F.parts])
      local ok = false
      if st == 'scheduled' then
        ok = redis.call('ZREM', SCH, id) == 1
        if ok then
          local bf = {}
          for k = 1, n do bf[k] = 'b' .. k end
          redis.call('HDEL', mkey, unpack(bf))
        end
      elseif st == 'pending_approval' then
        -- Held for moderation: every part waits in hold:{T}:{tenant}; stopped here, an approval finds it
        -- no longer held and the reaper drops its entries.
        ok = true
      elseif st == 'paused' and redis.call('HEXISTS', mkey, 'pe') == 1 then
        -- Parked whole at acceptance (tenant paused): the resume skips parts that are no longer queued.
        -- A message its actor parked later may still have parts in its SMSC queue: not cancellable.
        ok = true
      elseif st == 'queued' then
        local qe = redis.call('HGET', mkey, 'qe')
        local qi = smscIndex[f[F.smsc] or '']
        if qe and qi then
          local q = KEYS[s + 3 + qi]
          -- qe: the first part's entry id ("partition|id" before issue 13: the id is last).
          local eid = string.match(qe, '([^|]*)$')
          local last = lastDelivered(q, grp)
          if last and after(eid, last) then
            -- The parts were added one after the other by one script: they follow eid.
            local es = redis.call('XRANGE', q, eid, '+', 'COUNT', n)
            local del = {}
            for k = 1, #es do
              local fl = es[k][2]
              local h = fl[1] == 'h' and fl[2] or fl[4]
              if string.sub(h or '', 1, #id + #tostring(k) + 2) == id .. '|' .. k .. '|' then del[#del + 1] = es[k][1] end
            end
            if #del == n then
              redis.call('XDEL', q, unpack(del))
              ok = true
            end
          end
        end
      end
      if ok then
        local fields = { 's', 'stopped', 'w', 5, 'we', 'CANCELLED', 'wt', 'cancelled by the client', 'nf', n, 'fa', now }
        for k = 1, n do fields[#fields + 1] = 'p' .. k; fields[#fields + 1] = 'S' end
        redis.call('HSET', mkey, unpack(fields))
        redis.call('EXPIRE', mkey, finalTtl)
        finish(id)
        emit(id, f, 'stopped', 'CANCELLED', 'cancelled by the client')
        code, st = CancelOutcome.Stopped, 'stopped'
      else
        code = CancelOutcome.NotCancellable
      end
    end
    out[#out + 1] = code
    out[#out + 1] = st
  end
  endSection()
  res[#res + 1] = out
end
return res
