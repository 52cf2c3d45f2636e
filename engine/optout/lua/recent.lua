--[[
  Step 2 of an opt-out change (optout-store.ts), for the scripts of one shard
  that cannot read the lists (enqueue, schedule, the parking moves): an
  addition records the numbers that just went on a list, scored with the
  time they did, so that a script whose opt-out pre-check ran before that
  time stops them; a removal takes them out (a message submitted after the
  removal answered must not be stopped by the addition's time, which the
  scripts' clock-skew margin would otherwise still count). Trimmed to the
  window and to at most a number of entries; the key expires a window after
  its last write.
  KEYS[1] the shard's recent opt-outs oor:{T} (sorted set: "tenant|number" -> ms, '*' the global list)
  ARGV[1] op: a add, r remove
  ARGV[2] ms the numbers went on their lists (the writer's clock, after the list write)
  ARGV[3] window, ms
  ARGV[4] most entries kept (the newest)
  ARGV[5..] members: "tenant|number" (E.164 digits)
  Returns: the entries now held.
]]
if ARGV[1] == 'r' then
  for k = 5, #ARGV, 5000 do redis.call('ZREM', KEYS[1], unpack(ARGV, k, math.min(k + 4999, #ARGV))) end
  return redis.call('ZCARD', KEYS[1])
end
local at, window, max = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local args = {}
for i = 5, #ARGV do
  args[#args + 1] = ARGV[2]
  args[#args + 1] = ARGV[i]
end
-- GT: a number already here keeps the later of the two times.
for k = 1, #args, 2000 do redis.call('ZADD', KEYS[1], 'GT', unpack(args, k, math.min(k + 1999, #args))) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('(%d', at - window))
local n = redis.call('ZCARD', KEYS[1])
if n > max then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - max - 1)
  n = max
end
redis.call('PEXPIRE', KEYS[1], window)
return n
