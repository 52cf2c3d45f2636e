--[[
  Moves due scheduled messages (sch score <= now) onto their queues.
  Per message: one stream entry per part (from the hash's b1..bn and qh, qp),
  status `queued` with qa (when) and qe (where, for cancel), a `queued` event;
  a message whose validity already ended (the engines were down past it) ends
  `expired` instead and is never sent, and one whose number opted out since it
  was accepted ends `stopped` (OPTED_OUT). Atomic: a due message leaves the
  schedule (ZREM) in the same call that writes its entries, so two schedulers
  never both move it.
  KEYS: none (every key is built from ARGV[1], the prefix, so that one call can
    touch many messages; on Redis Cluster they move into KEYS by slot, issue 13)
  ARGV[1] key prefix (keys are built from it inside the script: see KEYS)
  ARGV[2] now, ms since epoch
  ARGV[3] MAXLEN ~ of the events stream
  ARGV[4] seconds a final message hash is kept
  ARGV[5] most messages to move
  Returns: { moved, expired, taken, stopped }.
]]
--- @include "includes/common"
local limit = tonumber(ARGV[5])
local ids = redis.call('ZRANGEBYSCORE', P .. 'sch', '-inf', now, 'LIMIT', 0, limit)
local moved, expired, stopped = 0, 0, 0
for _, id in ipairs(ids) do
  redis.call('ZREM', P .. 'sch', id)
  local mkey = P .. 'm:' .. id
  local f = hm(mkey, 1)
  if f[F.tenant] and f[F.status] == 'scheduled' then
    local n = tonumber(f[F.parts])
    local g = redis.call('HMGET', mkey, 'v', 'qh', 'qp')
    local bf = {}
    for k = 1, n do bf[k] = 'b' .. k end
    if tonumber(g[1]) <= now then
      for k = 1, n do apply(id, k, 'E', 'VALIDITY_EXPIRED', 'validity period ran out before the scheduled message could be sent') end
      expired = expired + 1
    elseif redis.call('ZSCORE', P .. 'oo:{' .. f[F.tenant] .. '}', f[F.to]) or redis.call('ZSCORE', P .. 'oo:{*}', f[F.to]) then
      -- The number opted out since the message was accepted (possibly weeks ago, beyond what the
      -- actors remember of recent opt-outs): it ends here and never reaches a queue.
      for k = 1, n do apply(id, k, 'S', 'OPTED_OUT', 'the number opted out (STOP) before the scheduled message was due') end
      stopped = stopped + 1
    else
      local q = P .. 'q:{' .. f[F.smsc] .. ':' .. g[3] .. '}'
      local parts = redis.call('HMGET', mkey, unpack(bf))
      local first
      for k = 1, n do
        -- t: the tenant, read by the actor's send gate (a paused tenant's entries are parked, not sent).
        local eid = redis.call('XADD', q, '*', 'h', id .. '|' .. k .. g[2], 'b', parts[k], 't', f[F.tenant])
        if k == 1 then first = eid end
      end
      redis.call('HSET', mkey, 's', 'queued', 'qa', now, 'qe', g[3] .. '|' .. first)
      f[F.status] = 'queued'
      emit(id, f, 'queued', nil, nil)
      moved = moved + 1
    end
    redis.call('HDEL', mkey, unpack(bf))
  end
end
leaveExpiryIndex()
flushUsage()
return { moved, expired, #ids, stopped }
