--[[
  Step 2 of an opt-out (optout-store.ts), for the enqueue script of one shard:
  the numbers that just went on a list, scored with the time they did, so that
  an enqueue whose opt-out pre-check ran before that time stops them (the
  lists live in other slots than the shard). Trimmed to the window and to at
  most a number of entries; the key expires a window after its last write.
  KEYS[1] the shard's recent opt-outs oor:{T} (sorted set: "tenant|number" -> ms, '*' the global list)
  ARGV[1] ms the numbers went on their lists (the writer's clock, after the list write)
  ARGV[2] window, ms
  ARGV[3] most entries kept (the newest)
  ARGV[4..] members: "tenant|number" (E.164 digits)
  Returns: the entries now held.
]]
local at, window, max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local args = {}
for i = 4, #ARGV do
  args[#args + 1] = ARGV[1]
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
