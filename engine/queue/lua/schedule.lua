--[[
  Moves due scheduled messages (sch:{T} score <= now) onto their queues, per
  shard. Per message: one stream entry per part (from the hash's b1..bn and
  qh), status `queued` with qa (when) and qe (the first entry's id, for
  cancel), a `queued` event; a message whose validity already ended (the
  engines were down past it) ends `expired` instead and is never sent, and one
  whose number opted out since it was accepted ends `stopped` (OPTED_OUT).
  Atomic: a due message leaves the schedule (ZREM) in the same call that
  writes its entries, so two schedulers never both move it.
  The caller reads the due ids and their numbers first, checks the opt-out
  lists (`listed`; they live in their tenants' slots) and passes the hashes;
  each is moved only if it is still scheduled and due, and the race with an
  opt-out recorded after the check is closed as in enqueue.lua (oor:{T}; a
  check older than the oor window is refused: Recheck).
  KEYS: per section (one per shard; includes/sections.lua)
  KEYS[s+1] events stream ev:{T}
  KEYS[s+2] expiry index exp:{T}
  KEYS[s+3] usage us:{T}:{day of now}
  KEYS[s+4] schedule sch:{T}
  KEYS[s+5] recent opt-outs oor:{T} (number -> ms recorded)
  KEYS[s+6..] the shard's queue q:{T}:{smsc} of each SMSC in ARGV[7] (in that order), then message hashes
    m:{T}:{id}, named by index (from s)
  ARGV[1] now, ms since epoch
  ARGV[2] MAXLEN ~ of the events streams
  ARGV[3] seconds a final message hash is kept
  ARGV[4] opt-out check time, ms (as enqueue.lua)
  ARGV[5] how far back oor:{T} reaches, ms
  ARGV[6] ms by which an oor:{T} entry may predate the check and still stop a message
  ARGV[7] the configured SMSC ids, comma-separated
  ARGV[8..] sections: key count, ARGV count, then 3 per due message: message hash key, message id,
    listed (1: on an opt-out list at the check)
  Returns: per section { moved, expired, stopped, refused } where refused is 1 when the whole
    section was refused (check too old: nothing done).
]]
--- @include "includes/common"
--- @include "includes/sections"
local checkedAt, oorWindow, skew = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local smscIndex = {}
do
  local k = 0
  for sm in string.gmatch(ARGV[7], '[^,]+') do k = k + 1; smscIndex[sm] = k end
end
local tm = redis.call('TIME')
local serverNow = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
local out = {}
for s, a, b in sections(8) do
  section(KEYS[s + 1], KEYS[s + 2], KEYS[s + 3])
  local SCH, OOR = KEYS[s + 4], KEYS[s + 5]
  local moved, expired, stopped = 0, 0, 0
  if serverNow - checkedAt > oorWindow then
    out[#out + 1] = { 0, 0, 0, 1 }
  else
    local anyRecent = redis.call('EXISTS', OOR) == 1
    for i = a, b, 3 do
      local mkey, id, listed = KEYS[s + tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2]
      local score = redis.call('ZSCORE', SCH, id)
      if score and tonumber(score) <= now then
        redis.call('ZREM', SCH, id)
        local f = hm(mkey, 1)
        if f[F.tenant] and f[F.status] == 'scheduled' then
          local n = tonumber(f[F.parts])
          local g = redis.call('HMGET', mkey, 'v', 'qh')
          local bf = {}
          for k = 1, n do bf[k] = 'b' .. k end
          local optedOut = listed == '1'
          if not optedOut and anyRecent then
            local at = redis.call('ZSCORE', OOR, f[F.to])
            optedOut = at ~= false and tonumber(at) >= checkedAt - skew
          end
          local qi = smscIndex[f[F.smsc] or '']
          if tonumber(g[1]) <= now then
            for k = 1, n do apply(mkey, id, k, 'E', 'VALIDITY_EXPIRED', 'validity period ran out before the scheduled message could be sent') end
            expired = expired + 1
          elseif optedOut then
            -- The number opted out since the message was accepted (possibly weeks ago, beyond what the
            -- actors remember of recent opt-outs): it ends here and never reaches a queue.
            for k = 1, n do apply(mkey, id, k, 'S', 'OPTED_OUT', 'the number opted out (STOP) before the scheduled message was due') end
            stopped = stopped + 1
          elseif not qi then
            -- Its SMSC is no longer configured: nothing could send it.
            for k = 1, n do apply(mkey, id, k, 'R', 'NO_ROUTE', 'its SMSC is no longer configured') end
            expired = expired + 1
          else
            local q = KEYS[s + 5 + qi]
            local parts = redis.call('HMGET', mkey, unpack(bf))
            local first
            for k = 1, n do
              -- t: the tenant, read by the actor's send gate (a paused tenant's entries are parked, not sent).
              local eid = redis.call('XADD', q, '*', 'h', id .. '|' .. k .. g[2], 'b', parts[k], 't', f[F.tenant])
              if k == 1 then first = eid end
            end
            redis.call('HSET', mkey, 's', 'queued', 'qa', now, 'qe', first)
            f[F.status] = 'queued'
            emit(id, f, 'queued', nil, nil)
            moved = moved + 1
          end
          redis.call('HDEL', mkey, unpack(bf))
        end
      end
    end
    endSection()
    out[#out + 1] = { moved, expired, stopped, 0 }
  end
end
return out
