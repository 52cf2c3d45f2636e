--[[
  Drops entries of hold and park streams whose message no longer waits there
  (expired by the sweep, cancelled, gone): bounded memory when nobody
  decides. One section per stream (its shard's slot); the caller read the
  entries to name their messages, and each entry's message is checked here.
  KEYS: per section (one stream; includes/sections.lua)
  KEYS[s+1] the stream hold:{T}:{tenant} or park:{T}:{tenant}
  KEYS[s+2..] message hashes m:{T}:{id}, named by index (from s) in the items
  ARGV[1..] sections: key count, ARGV count, the kind (hold | park), then 3 per entry: entry id, message hash
    key (0: not a message id of this deployment), part
  Returns: per section, how many entries it dropped.
]]
--- @include "../../queue/lua/includes/sections"
local res = {}
for s, a, b in sections(1) do
  local key, kind = KEYS[s + 1], ARGV[a]
  local dropped = 0
  for i = a + 1, b, 3 do
    local eid, mi, part = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
    local stale = true
    if mi > 0 then
      local st = redis.call('HMGET', KEYS[s + mi], 's', 'p' .. part)
      stale = st[2] ~= 'q' or (kind == 'hold' and st[1] ~= 'pending_approval')
    end
    if stale then dropped = dropped + redis.call('XDEL', key, eid) end
  end
  res[#res + 1] = dropped
end
return res
