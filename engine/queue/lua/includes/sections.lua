--[[
  Sections (issue 13; engine/queue/sections.ts builds them): a script's work is
  split into sections, one per Redis Cluster slot (a shard, or a receipt
  mapping shard). On a single Redis one call carries every section; on a
  cluster the store sends one section per call, routed to the slot's master.

  After the script's fixed ARGV, each section is
    ARGV[a]      how many keys it has (its keys are KEYS[s+1] .. KEYS[s+count],
                 s = the keys of the sections before it)
    ARGV[a+1]    how many ARGV entries its items take
    ARGV[a+2..]  its items
  Items name the section's keys by index from s (a message hash, a queue), so
  that a key is passed once however many items use it, and every key a script
  touches is declared in KEYS.

    for s, a, b in sections(firstSectionArg) do
      -- KEYS[s + 1] ...; items in ARGV[a .. b]
    end
]]
local function sections(first)
  local s, a = 0, first
  return function()
    if a > #ARGV then return nil end
    local nk, na = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
    local s0, a0 = s, a + 2
    s, a = s + nk, a + 2 + na
    return s0, a0, a0 + na - 1
  end
end
