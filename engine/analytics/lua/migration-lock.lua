--[[
  Renews or releases the analytics migration lock, only while this process
  holds it (engine/analytics/migration-lock.ts; taken with SET NX PX).
  KEYS[1] {c}:an:migrate  the lock: a random token of the holder
  ARGV[1] 'renew' or 'release'
  ARGV[2] the holder's token
  ARGV[3] TTL (ms) for 'renew'
  Returns: 1 when this token held the lock, 0 otherwise.
]]
if redis.call('GET', KEYS[1]) ~= ARGV[2] then return 0 end
if ARGV[1] == 'release' then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3])) end
return 1
