--[[
  Records MO messages: each complete message becomes one entry of the events
  stream `ev` (t tenant, k 'mo', f the MO frame); a STOP adds the sender to
  the tenant's opt-out list and a START removes it, in the same call. Parts of
  a concatenated message wait in mop:{key} (TTL 1 h) until the last one is in;
  the frame is then built from the parts' texts in order. MO messages no
  tenant could be attributed go to mou instead (capped).
  KEYS: none (every key is built from ARGV[1], the prefix, so that one call can
    touch many messages; on Redis Cluster they move into KEYS by slot, issue 13)
  ARGV[1] key prefix
  ARGV[2] MAXLEN ~ of the events stream
  ARGV[3] now, ms since epoch
  ARGV[4] unattributed STOP: global | ignore
  ARGV[5..] 9 per item: tenant, action (S|A|''), number, head, body, tail, concat key (''), seq, total
  Returns: a MoResult per item (Recorded: a whole message, PartStored: a part waiting for the rest).
]]
--- @include "@MoLimits"
local P, evMax, now, ua = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
--- @include "../../optout/lua/includes/optout-functions"
--- @include "@MoResult"
local out = {}
for i = 5, #ARGV, 9 do
  local t, act, num, head, body, tail, ck = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
  local complete = true
  if ck ~= '' then
    local key = P .. 'mop:' .. ck
    local total = tonumber(ARGV[i + 8])
    redis.call('HSET', key, ARGV[i + 7], body)
    redis.call('EXPIRE', key, 3600)
    complete = false
    if redis.call('HLEN', key) >= total then
      local seqs = {}
      for k = 1, total do seqs[k] = tostring(k) end
      local parts = redis.call('HMGET', key, unpack(seqs))
      complete = true
      for k = 1, total do if not parts[k] then complete = false end end
      if complete then
        body = table.concat(parts)
        redis.call('DEL', key)
      end
    end
  end
  if complete then
    local frame = head .. body .. tail
    if t == '' then
      redis.call('XADD', P .. 'mou', 'MAXLEN', '~', MoLimits.UnattributedMax, '*', 'f', frame)
      if act == 'S' and ua == 'global' then optOutAdd('*', num, now, 'mo') end
    else
      if act == 'S' then optOutAdd(t, num, now, 'mo') elseif act == 'A' then optOutRemove(t, num) end
      redis.call('XADD', P .. 'ev', 'MAXLEN', '~', evMax, '*', 't', t, 'k', 'mo', 'f', frame)
    end
    out[#out + 1] = MoResult.Recorded
  else
    out[#out + 1] = MoResult.PartStored
  end
end
return out
