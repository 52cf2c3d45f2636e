--[[
  Which actors may still send on a view older than a paused-set version or an
  opt-out change: those that have not confirmed both and whose last poll is
  younger than the self-stop time (plus a margin). Forgets consumers silent
  for a day.
  KEYS[1] pz:ack (control slot; hash consumer -> "version|ms|ooev id", poll.lua)
  ARGV[1] paused-set version
  ARGV[2] self-stop time, ms
  ARGV[3] opt-out change (ooev entry id)
  Returns: { confirmed consumers, waiting consumers }.
]]
local ver, stop, eid = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local function sid(s)
  local a, b = string.match(s or '', '^(%d+)-(%d+)$')
  return tonumber(a or '0'), tonumber(b or '0')
end
local em, es = sid(eid)
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
local acks = redis.call('HGETALL', KEYS[1])
local ok, waiting = {}, {}
for k = 1, #acks, 2 do
  local c, v = acks[k], acks[k + 1]
  local f = {}
  for x in string.gmatch(v, '[^|]+') do f[#f + 1] = x end
  local av, h = tonumber(f[1]) or 0, tonumber(f[2]) or 0
  local cm, cs = sid(f[3])
  if av >= ver and (cm > em or (cm == em and cs >= es)) then ok[#ok + 1] = c
  elseif h + stop <= now then
    if h < now - 86400000 then redis.call('HDEL', KEYS[1], c) end
  else waiting[#waiting + 1] = c end
end
return { ok, waiting }
