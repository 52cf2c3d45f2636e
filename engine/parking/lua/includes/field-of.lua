--[[
  fieldOf(f, name): a field of a stream entry's field list; optedOut(t, to):
  whether a number is on tenant t's or the global opt-out list. Needs P.
]]
local function fieldOf(f, name)
  for k = 1, #f, 2 do if f[k] == name then return f[k + 1] end end
  return nil
end
local function optedOut(t, to)
  return redis.call('ZSCORE', P .. 'oo:{' .. t .. '}', to) or redis.call('ZSCORE', P .. 'oo:{*}', to)
end
