--[[
  Entries an actor did not send because their tenant looked paused or their
  number looked opted out (its in-memory view), decided again here, per shard:
  opted out (the caller's pre-check of the lists, or oor:{T} since) -> the
  part is stopped; tenant paused (the shard's copy pz:{T}) -> moved to the
  tenant's park stream of the shard; neither -> left alone and the actor sends it.
  KEYS: per section (one per shard; includes/sections.lua)
  KEYS[s+1] events stream ev:{T}
  KEYS[s+2] expiry index exp:{T}
  KEYS[s+3] paused tenants, the shard's copy pz:{T}
  KEYS[s+4] recent opt-outs oor:{T}
  KEYS[s+5..] queues q:{T}:{smsc}, message hashes m:{T}:{id} and park streams park:{T}:{tenant}, named by
    index (from s) in the items
  ARGV[1] now, ms since epoch
  ARGV[2] MAXLEN ~ of the events streams
  ARGV[3] seconds a final message hash is kept
  ARGV[4] consumer group
  ARGV[5] pre-check time, ms: the opt-out lists were read at or after it
  ARGV[6] how far back oor:{T} reaches, ms (an older pre-check is refused)
  ARGV[7] ms by which an oor:{T} entry may predate the pre-check and still count (clock skew)
  ARGV[8..] sections: key count, ARGV count, then 9 per entry: queue key, message hash key, park key,
    entry id, message id, part, tenant, to, listed (1: on a list at the pre-check)
  Returns: per section, a DivertResult per entry (Send, Parked, Stopped), or PreCheckResult.Stale
    (nothing done: the pre-check is older than oor:{T} reaches).
]]
--- @include "../../queue/lua/includes/common"
--- @include "../../queue/lua/includes/sections"
--- @include "../../optout/lua/includes/opted-out"
--- @include "includes/field-of"
--- @include "@DivertResult"
--- @include "@PreCheckResult"
local grp = ARGV[4]
local checkedAt, maxAge, skew = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local stale = preCheckStale(checkedAt, maxAge)
local res = {}
for s, a, b in sections(8) do
  if stale then
    res[#res + 1] = PreCheckResult.Stale
  else
    section(KEYS[s + 1], KEYS[s + 2], nil)
    local PZ, OOR = KEYS[s + 3], KEYS[s + 4]
    local out, acks, pausedOf = {}, {}, {}
    for i = a, b, 9 do
      local q, mkey, pk = KEYS[s + tonumber(ARGV[i])], KEYS[s + tonumber(ARGV[i + 1])], KEYS[s + tonumber(ARGV[i + 2])]
      local eid, id, part, t, to, listed = ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], ARGV[i + 8]
      local r = DivertResult.Send
      if optedOut(OOR, t, to, listed, checkedAt, skew) then
        apply(mkey, id, part, 'S', 'OPTED_OUT', 'the number opted out (STOP) before the message was sent')
        r = DivertResult.Stopped
      else
        local pz = pausedOf[t]
        if pz == nil then
          pz = redis.call('SISMEMBER', PZ, t) == 1
          pausedOf[t] = pz
        end
        if pz then
          local e = redis.call('XRANGE', q, eid, eid)
          if #e == 1 then
            local f = e[1][2]
            redis.call('XADD', pk, '*', 'h', fieldOf(f, 'h'), 'b', fieldOf(f, 'b'), 't', t, 'q', q)
            local m = hm(mkey, part)
            if m[F.status] == 'queued' then
              redis.call('HSET', mkey, 's', 'paused', 'pa', now)
              emit(id, m, 'paused', nil, nil)
            end
          end
          r = DivertResult.Parked
        end
      end
      if r ~= DivertResult.Send then
        local list = acks[q]
        if list == nil then list = {}; acks[q] = list end
        list[#list + 1] = eid
      end
      out[#out + 1] = r
    end
    ackAll(acks, grp)
    endSection()
    res[#res + 1] = out
  end
end
return res
