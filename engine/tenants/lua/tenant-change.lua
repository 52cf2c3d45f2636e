--[[
  One change to the tenant directory (engine/tenants/), all or nothing: a
  tenant record or an API key record is set or removed if the field still
  holds what the caller read (compare and set), the directory's version is
  bumped, the change is appended to the audit stream and announced on the
  change channel. Every key is in the {tn} slot.
  KEYS[1] tenants hash: tenant id -> tenant record JSON
  KEYS[2] keys hash: SHA-256 of an API key (hex) -> key record JSON
  KEYS[3] version counter of the directory
  KEYS[4] audit stream
  ARGV[1] which hash: "t" (tenants) or "k" (keys)
  ARGV[2] the field (tenant id, or key hash)
  ARGV[3] what the field must hold now: its JSON, "" for absent, "*" for anything
  ARGV[4] the new value ("" removes the field)
  ARGV[5] the audit entry (JSON, no secrets)
  ARGV[6] most entries kept in the audit stream (MAXLEN ~)
  ARGV[7] the change channel (PUBLISH; nodes reload on it)
  ARGV[8..] key hashes removed with it (a deleted tenant's keys)
  Returns: the directory's new version, or -1 when the field did not hold ARGV[3] (nothing written).
]]
local hash = KEYS[1]
if ARGV[1] == 'k' then hash = KEYS[2] end
if ARGV[3] ~= '*' then
  local cur = redis.call('HGET', hash, ARGV[2])
  if not cur then cur = '' end
  if cur ~= ARGV[3] then return -1 end
end
if ARGV[4] == '' then
  redis.call('HDEL', hash, ARGV[2])
else
  redis.call('HSET', hash, ARGV[2], ARGV[4])
end
for i = 8, #ARGV do
  redis.call('HDEL', KEYS[2], ARGV[i])
end
local ver = redis.call('INCR', KEYS[3])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[6], '*', 'e', ARGV[5], 'v', ver)
redis.call('PUBLISH', ARGV[7], ver)
return ver
