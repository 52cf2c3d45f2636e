--[[
  One page of a catch-up scan of one shard's events stream: the entries of a
  time window, filtered in Redis by tenant (engine/push/status-dispatcher.ts
  calls it for every shard of a page, in one pipeline per master). Entries
  with p=0 (no pushes) are skipped. Each call holds Redis for one page only
  (at most a few hundred entries, ~2 ms); between pages everything else runs.
  KEYS[1] the shard's events stream ev:{T}
  ARGV[1] the position to read after (exclusive)
  ARGV[2] the window's end (inclusive stream id)
  ARGV[3] how many entries to scan at most
  ARGV[4..] the tenants wanted
  Returns: { scanned, last id scanned (ARGV[1] when none), the first id after
    the window ('' when there is none yet; only looked up when the page was
    not full), then per frame of a wanted tenant: stream id, tenant, frame }.
]]
local count = tonumber(ARGV[3])
local es = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], ARGV[2], 'COUNT', count)
local want = {}
for i = 4, #ARGV do want[ARGV[i]] = true end
local nextId = ''
if #es < count then
  local n = redis.call('XRANGE', KEYS[1], '(' .. ARGV[2], '+', 'COUNT', 1)
  if #n > 0 then nextId = n[1][1] end
end
local out = { #es, #es > 0 and es[#es][1] or ARGV[1], nextId }
for _, e in ipairs(es) do
  local f = e[2]
  local t, fr, push = nil, nil, true
  for k = 1, #f, 2 do
    local name = f[k]
    if name == 't' then t = f[k + 1] elseif name == 'f' then fr = f[k + 1] elseif name == 'p' and f[k + 1] == '0' then push = false end
  end
  if push and fr and t and want[t] then
    out[#out + 1] = e[1]
    out[#out + 1] = t
    out[#out + 1] = fr
  end
end
return out
