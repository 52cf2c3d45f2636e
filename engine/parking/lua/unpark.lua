--[[
  Moves parked parts of a resumed tenant back to their queues, per shard,
  unless the tenant is paused again (the shard's copy pz:{T}). The caller
  read the entries (to name their queues and messages) and pre-checked their
  numbers; each entry is looked up again here (a concurrent unpark may have
  moved it). Parts that ended meanwhile (expired, stopped) are dropped; a
  number that opted out while the message was parked (the pre-check, or
  oor:{T} since) stops it. A message leaving `paused` gets `queued`.
  KEYS: per section (one per shard; includes/sections.lua)
  KEYS[s+1] events stream ev:{T}
  KEYS[s+2] expiry index exp:{T}
  KEYS[s+3] paused tenants, the shard's copy pz:{T}
  KEYS[s+4] recent opt-outs oor:{T}
  KEYS[s+5] the tenant's park stream park:{T}:{tenant}
  KEYS[s+6..] queues q:{T}:{smsc} and message hashes m:{T}:{id}, named by index (from s) in the items
  ARGV[1] now, ms since epoch
  ARGV[2] MAXLEN ~ of the events streams
  ARGV[3] seconds a final message hash is kept
  ARGV[4] pre-check time, ms: the opt-out lists were read at or after it
  ARGV[5] how far back oor:{T} reaches, ms (an older pre-check is refused)
  ARGV[6] ms by which an oor:{T} entry may predate the pre-check and still count (clock skew)
  ARGV[7..] sections: key count, ARGV count, the tenant, then 6 per entry: park entry id, queue key,
    message hash key, message id, part, listed (1: on a list at the pre-check)
  Returns: per section { moved, entries dropped from the park stream }, UnparkResult.PausedAgain, or
    PreCheckResult.Stale (nothing done).
]]
--- @include "../../queue/lua/includes/common"
--- @include "../../queue/lua/includes/sections"
--- @include "../../optout/lua/includes/opted-out"
--- @include "includes/field-of"
--- @include "@UnparkResult"
--- @include "@PreCheckResult"
local checkedAt, maxAge, skew = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local stale = preCheckStale(checkedAt, maxAge)
local res = {}
for s, a, b in sections(7) do
  local t = ARGV[a]
  if stale then
    res[#res + 1] = PreCheckResult.Stale
  elseif redis.call('SISMEMBER', KEYS[s + 3], t) == 1 then
    res[#res + 1] = UnparkResult.PausedAgain
  else
    section(KEYS[s + 1], KEYS[s + 2], nil)
    local OOR, PK = KEYS[s + 4], KEYS[s + 5]
    local moved, dropped = 0, 0
    for i = a + 1, b, 6 do
      local pe, q, mkey = ARGV[i], KEYS[s + tonumber(ARGV[i + 1])], KEYS[s + tonumber(ARGV[i + 2])]
      local id, part, listed = ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
      local e = redis.call('XRANGE', PK, pe, pe)
      if #e == 1 then
        local f = e[1][2]
        local m = hm(mkey, part)
        if m[F.partState] == 'q' and optedOut(OOR, t, m[F.to], listed, checkedAt, skew) then
          -- The number opted out while the message was parked (an opt-out older than the actors'
          -- memory of recent ones would not be caught later): it ends here instead of going back.
          apply(mkey, id, part, 'S', 'OPTED_OUT', 'the number opted out (STOP) while the message was paused', nil, m)
        elseif m[F.partState] == 'q' then
          local eid = redis.call('XADD', q, '*', 'h', fieldOf(f, 'h'), 'b', fieldOf(f, 'b'), 't', t)
          -- qe: where part 1 now is in its queue, so that a cancel can still find it unread.
          if part == '1' then redis.call('HSET', mkey, 'qe', eid) end
          if m[F.status] == 'paused' then
            redis.call('HSET', mkey, 's', 'queued', 'qa', now)
            redis.call('HDEL', mkey, 'pe')
            emit(id, m, 'queued', nil, nil)
          end
          moved = moved + 1
        end
        redis.call('XDEL', PK, pe)
        dropped = dropped + 1
      end
    end
    endSection()
    res[#res + 1] = { moved, dropped }
  end
end
return res
