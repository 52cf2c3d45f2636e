/**
 * The Lua scripts of a message's life before it is sent: moving scheduled
 * messages onto their SMSC queues when due, and cancelling. They share the
 * state machine of lua-scripts.ts (COMMON: hash fields, `emit`, `apply`).
 *
 * Both are atomic, which is what makes them safe with several engine nodes
 * and across restarts: a due message leaves the schedule (ZREM) in the same
 * script that writes its stream entries, so two schedulers can never both
 * move it, and a crash leaves it either scheduled or queued, never both.
 * A cancel deletes stream entries only if no consumer has read them (ids after
 * the group's last-delivered id), so a cancelled message never reaches an SMSC
 * and a message an actor already holds is refused, never half-cancelled.
 */
import { COMMON, STREAM_HELPERS } from './lua-scripts.js';


/**
 * Moves due scheduled messages (sch score <= now) onto their queues.
 * ARGV: prefix, now, evMax, finalTtlSec, limit.
 * Per message: one stream entry per part (from the hash's b1..bn and qh, qp),
 * status `queued` with qa (when) and qe (where, for cancel), a `queued` event;
 * a message whose validity already ended (the engines were down past it) ends
 * `expired` instead and is never sent, and one whose number opted out since it
 * was accepted ends `stopped` (OPTED_OUT). Returns { moved, expired, taken, stopped }.
 */
export const SCHEDULE_LUA = `${COMMON}
local limit = tonumber(ARGV[5])
local ids = redis.call('ZRANGEBYSCORE', P .. 'sch', '-inf', now, 'LIMIT', 0, limit)
local moved, expired, stopped = 0, 0, 0
for _, id in ipairs(ids) do
  redis.call('ZREM', P .. 'sch', id)
  local mkey = P .. 'm:' .. id
  local f = hm(mkey, 1)
  if f[1] and f[8] == 'scheduled' then
    local n = tonumber(f[4])
    local g = redis.call('HMGET', mkey, 'v', 'qh', 'qp')
    local bf = {}
    for k = 1, n do bf[k] = 'b' .. k end
    if tonumber(g[1]) <= now then
      for k = 1, n do apply(id, k, 'E', 'VALIDITY_EXPIRED', 'validity period ran out before the scheduled message could be sent') end
      expired = expired + 1
    elseif redis.call('ZSCORE', P .. 'oo:{' .. f[1] .. '}', f[3]) or redis.call('ZSCORE', P .. 'oo:{*}', f[3]) then
      -- The number opted out since the message was accepted (possibly weeks ago, beyond what the
      -- actors remember of recent opt-outs): it ends here and never reaches a queue.
      for k = 1, n do apply(id, k, 'S', 'OPTED_OUT', 'the number opted out (STOP) before the scheduled message was due') end
      stopped = stopped + 1
    else
      local q = P .. 'q:{' .. f[5] .. ':' .. g[3] .. '}'
      local parts = redis.call('HMGET', mkey, unpack(bf))
      local first
      for k = 1, n do
        -- t: the tenant, read by the actor's send gate (a paused tenant's entries are parked, not sent).
        local eid = redis.call('XADD', q, '*', 'h', id .. '|' .. k .. g[2], 'b', parts[k], 't', f[1])
        if k == 1 then first = eid end
      end
      redis.call('HSET', mkey, 's', 'queued', 'qa', now, 'qe', g[3] .. '|' .. first)
      f[8] = 'queued'
      emit(id, f, 'queued', nil, nil)
      moved = moved + 1
    end
    redis.call('HDEL', mkey, unpack(bf))
  end
end
leaveExpiryIndex()
flushUsage()
return { moved, expired, #ids, stopped }
`;

/**
 * Cancels messages. ARGV: prefix, now, evMax, finalTtlSec, group, then 2 per item: tenant, id.
 * A scheduled message leaves the schedule; a queued one has its stream entries
 * deleted if none has been read by an actor; a held one (pending_approval) or
 * one parked whole at acceptance (paused, `pe`) is stopped where it waits (the
 * approval, the resume and the reaper skip stopped parts). Each ends `stopped` (every part
 * S, error CANCELLED) with a `stopped` event. Returns 2 values per item:
 *   code  S stopped · C not cancellable · N no such message of this tenant
 *   status the message's status (after the cancel for S)
 */
export const CANCEL_LUA = `${COMMON}
${STREAM_HELPERS}
local grp = ARGV[5]
local out = {}
for i = 6, #ARGV, 2 do
  local tenant, id = ARGV[i], ARGV[i + 1]
  local mkey = P .. 'm:' .. id
  local f = hm(mkey, 1)
  local code, st = 'N', ''
  if f[1] == tenant then
    st = f[8]
    local n = tonumber(f[4])
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
        local q = P .. 'q:{' .. f[5] .. ':' .. string.sub(qe, 1, bar - 1) .. '}'
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
      code, st = 'S', 'stopped'
    else
      code = 'C'
    end
  end
  out[#out + 1] = code
  out[#out + 1] = st
end
leaveExpiryIndex()
return out
`;
