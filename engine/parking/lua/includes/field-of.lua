--[[
  fieldOf(f, name): a field of a stream entry's field list.
]]
local function fieldOf(f, name)
  for k = 1, #f, 2 do if f[k] == name then return f[k + 1] end end
  return nil
end
