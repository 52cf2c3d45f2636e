--[[
  Step 2 of an opt-out change, for the operator actors (optout-store.ts): one
  entry per number in the change stream, which the actors follow (parking
  poll.lua) to stop messages queued before the change.
  KEYS[1] the change stream ooev (control slot)
  ARGV[1] kind: a added, r removed
  ARGV[2] tenant ('*': the global list)
  ARGV[3..] numbers (E.164 digits)
  Returns: the last entry's id.
]]
--- @include "@OptOutLimits"
local last = '0-0'
for i = 3, #ARGV do
  last = redis.call('XADD', KEYS[1], 'MAXLEN', '~', OptOutLimits.EventsMax, '*', 'k', ARGV[1], 't', ARGV[2], 'n', ARGV[i])
end
return last
