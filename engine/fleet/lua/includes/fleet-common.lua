--[[
  Shared by the fleet scripts: the Redis clock in ms (the fleet's clock of
  record) and the record parser.
]]
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)

-- Splits "a|b|c" into its fields (no field holds '|': ids are [a-z0-9_-], addresses host:port).
local function fields(rec)
  local out, start = {}, 1
  while true do
    local i = string.find(rec, '|', start, true)
    if not i then
      out[#out + 1] = string.sub(rec, start)
      return out
    end
    out[#out + 1] = string.sub(rec, start, i - 1)
    start = i + 1
  end
end
