--[[
  Drops entries of a hold or park stream whose message no longer waits there
  (expired by the sweep, gone): bounded memory when nobody decides.
  KEYS: none (every key is built from ARGV[1], the prefix, so that one call can
    touch many messages; on Redis Cluster they move into KEYS by slot, issue 13)
  ARGV[1] key prefix
  ARGV[2] stream key
  ARGV[3] scan after this entry id
  ARGV[4] most entries to scan
  ARGV[5] kind: hold | park
  Returns: { last id scanned ('0-0' at the end), dropped }.
]]
local P, key, after, count, kind = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local es = redis.call('XRANGE', key, '(' .. after, '+', 'COUNT', count)
local dropped = 0
local last = after
for _, e in ipairs(es) do
  last = e[1]
  local f = e[2]
  local h = ''
  for k = 1, #f, 2 do if f[k] == 'h' then h = f[k + 1] end end
  local a = string.find(h, '|', 1, true)
  local b = a and string.find(h, '|', a + 1, true)
  local stale = true
  if b then
    local st = redis.call('HMGET', P .. 'm:' .. string.sub(h, 1, a - 1), 's', 'p' .. string.sub(h, a + 1, b - 1))
    stale = st[2] ~= 'q' or (kind == 'hold' and st[1] ~= 'pending_approval')
  end
  if stale then
    redis.call('XDEL', key, e[1])
    dropped = dropped + 1
  end
end
if #es < count then last = '0-0' end
return { last, dropped }
