--[[
  Cancels messages. A scheduled message leaves the schedule; a queued one has
  its stream entries deleted if none has been read by an actor (ids after the
  group's last-delivered id); a held one (pending_approval) or one parked whole
  at acceptance (paused, `pe`) is stopped where it waits (the approval, the
  resume and the reaper skip stopped parts). Each ends `stopped` (every part S,
  error CANCELLED) with a `stopped` event.
  KEYS: none (every key is built from ARGV[1], the prefix, so that one call can
    touch many messages; on Redis Cluster they move into KEYS by slot, issue 13)
  ARGV[1] key prefix (keys are built from it inside the script: see KEYS)
  ARGV[2] now, ms since epoch
  ARGV[3] MAXLEN ~ of the events stream
  ARGV[4] seconds a final message hash is kept
  ARGV[5] consumer group
  ARGV[6..] 2 per item: tenant, message id
  Returns: 2 values per item: a CancelOutcome (Stopped S, NotCancellable C, NotFound N: no such
    message of this tenant) and the message's status (after the cancel for Stopped).
]]
--- @include "includes/common"
--- @include "includes/stream-helpers"
--- @include "@CancelOutcome"
local grp = ARGV[5]
local out = {}
for i = 6, #ARGV, 2 do
  local tenant, id = ARGV[i], ARGV[i + 1]
  local mkey = P .. 'm:' .. id
  local f = hm(mkey, 1)
  local code, st = CancelOutcome.NotFound, ''
  if f[F.tenant] == tenant then
    st = f[F.status]
    local n = tonumber(f[F.parts])
    local ok = false
    if st == 'scheduled' then
      ok = redis.call('ZREM', P .. 'sch', id) == 1
      if ok then
        local bf = {}
        for k = 1, n do bf[k] = 'b' .. k end
        redis.call('HDEL', mkey, unpack(bf))
      end
    elseif st == 'pending_approval' then
      -- Held for moderation: every part waits in hold:{T}; stopped here, an approval finds it
      -- no longer held and the reaper drops its entries.
      ok = true
    elseif st == 'paused' and redis.call('HEXISTS', mkey, 'pe') == 1 then
      -- Parked whole at acceptance (tenant paused): the resume skips parts that are no longer queued.
      -- A message its actor parked later may still have parts in its SMSC queue: not cancellable.
      ok = true
    elseif st == 'queued' then
      local qe = redis.call('HGET', mkey, 'qe')
      local bar = qe and string.find(qe, '|', 1, true)
      if bar then
        local q = P .. 'q:{' .. f[F.smsc] .. ':' .. string.sub(qe, 1, bar - 1) .. '}'
        local eid = string.sub(qe, bar + 1)
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
      finished[#finished + 1] = id
      emit(id, f, 'stopped', 'CANCELLED', 'cancelled by the client')
      code, st = CancelOutcome.Stopped, 'stopped'
    else
      code = CancelOutcome.NotCancellable
    end
  end
  out[#out + 1] = code
  out[#out + 1] = st
end
leaveExpiryIndex()
return out
