--[[
  One node's fleet tick (engine/fleet/fleet.ts), once a second, every key in
  the control slot {c}; Redis TIME is the clock of record.
  1. The node's heartbeat: its record renewed for the heartbeat TTL (refused,
     status 0, when another boot holds the node id: this process was
     superseded, e.g. paused past its TTL while a new one took the id).
  2. Its figures (an opaque JSON string) stored, unless ARGV[6] is ''.
  3. Leader leases: each duty it asks for is renewed if it holds it, taken if
     free or expired; a taking gets a new fencing epoch (INCR of the same
     counter as the bind leases'), a renewal keeps it. The holder passes the
     epoch to the scripts of its duty's work, which refuse an epoch lower than
     one they have seen (a deposed leader's late action).
  4. Bind leases, per SMSC of B slots: live nodes sorted by id, node k's fair
     share is floor(B/n) + (k < B mod n ? 1 : 0). The node renews what it
     holds (its node id and boot, not expired), deletes the slots it asks to
     release (drained), takes free or expired slots up to its share, each
     taking with a new fencing epoch (INCR), and is told which slots it holds
     beyond its share (to drain and release).
  KEYS[1] nodes hash: node id -> "boot|expiresAtMs|addr"
  KEYS[2] figures hash: node id -> published JSON
  KEYS[3] leases hash: "smsc#i" -> "node|boot|epoch|expiresAtMs"
  KEYS[4] lease epoch counter (bind and leader leases)
  KEYS[5] leaders hash: duty -> "node|boot|epoch|expiresAtMs"
  ARGV[1] node id
  ARGV[2] boot
  ARGV[3] address ("host:port")
  ARGV[4] heartbeat TTL, ms
  ARGV[5] lease TTL, ms (bind and leader leases)
  ARGV[6] figures JSON ('' keeps the last stored)
  ARGV[7] D, the number of duties asked for
  ARGV[8] N, the number of SMSCs
  ARGV[9..] D duties, then 3 per SMSC: id, binds, slots to release ("0,3" or '')
  Returns: { 1, now, nodes, leases, leaders } or { 0, now, holder record }:
    nodes   flat: id, boot, expiresAtMs, addr, figures ('' none) per node (live and dead)
    leases  per SMSC: { held: flat index, epoch, expiresAtMs; extra: indexes beyond the share }
    leaders flat: duty, holder node id, holder's epoch per duty asked for
]]
--- @include "includes/fleet-common"
local me, boot = ARGV[1], ARGV[2]
local hbTtl, leaseTtl = tonumber(ARGV[4]), tonumber(ARGV[5])
local rec = redis.call('HGET', KEYS[1], me)
if rec then
  local f = fields(rec)
  if f[1] ~= boot and tonumber(f[2]) > now then return { 0, now, rec } end
end
redis.call('HSET', KEYS[1], me, boot .. '|' .. (now + hbTtl) .. '|' .. ARGV[3])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[2], me, ARGV[6]) end

-- Every node, and the live ones sorted by id (the fair share's order).
local all = redis.call('HGETALL', KEYS[1])
local nodes, live = {}, {}
for i = 1, #all, 2 do
  local f = fields(all[i + 1])
  local fig = redis.call('HGET', KEYS[2], all[i]) or ''
  nodes[#nodes + 1] = all[i]
  nodes[#nodes + 1] = f[1]
  nodes[#nodes + 1] = f[2]
  nodes[#nodes + 1] = f[3] or ''
  nodes[#nodes + 1] = fig
  if tonumber(f[2]) > now then live[#live + 1] = all[i] end
end
table.sort(live)
local rank = 0
for i = 1, #live do if live[i] == me then rank = i - 1 end end
local n = #live

-- A record this boot holds and that has not expired.
local mine = me .. '|' .. boot .. '|'
local function heldByMe(r) return r and string.sub(r, 1, #mine) == mine and tonumber(fields(r)[4]) > now end
local function free(r) if not r then return true end local f = fields(r) return tonumber(f[#f]) <= now end

local D, N = tonumber(ARGV[7]), tonumber(ARGV[8])
local leaders = {}
for d = 1, D do
  local duty = ARGV[8 + d]
  local r = redis.call('HGET', KEYS[5], duty)
  local holder, epoch = me, nil
  if r then
    -- node|boot|epoch|expiresAtMs (a record of before the epochs, node|boot|expiresAtMs, counts as epoch 0).
    local f = fields(r)
    local e = (#f >= 4) and tonumber(f[3]) or 0
    if tonumber(f[#f]) > now then
      if f[1] == me and f[2] == boot then epoch = e else holder, epoch = f[1], e end
    end
  end
  if holder == me then
    if not epoch then epoch = redis.call('INCR', KEYS[4]) end
    redis.call('HSET', KEYS[5], duty, me .. '|' .. boot .. '|' .. epoch .. '|' .. (now + leaseTtl))
  end
  leaders[#leaders + 1] = duty
  leaders[#leaders + 1] = holder
  leaders[#leaders + 1] = epoch
end

local leases = {}
local base = 8 + D
for s = 0, N - 1 do
  local smsc, B, rel = ARGV[base + 3 * s + 1], tonumber(ARGV[base + 3 * s + 2]), ARGV[base + 3 * s + 3]
  local release = {}
  for i in string.gmatch(rel, '%d+') do release[tonumber(i)] = true end
  local share = math.floor(B / n) + ((rank < B % n) and 1 or 0)
  local held, candidates = {}, {}
  for i = 0, B - 1 do
    local field = smsc .. '#' .. i
    local r = redis.call('HGET', KEYS[3], field)
    if heldByMe(r) then
      if release[i] then
        redis.call('HDEL', KEYS[3], field)
      else
        local f = fields(r)
        redis.call('HSET', KEYS[3], field, mine .. f[3] .. '|' .. (now + leaseTtl))
        held[#held + 1] = { i, tonumber(f[3]) }
      end
    elseif free(r) and not release[i] then
      candidates[#candidates + 1] = i
    end
  end
  local c = 1
  while #held < share and c <= #candidates do
    local i = candidates[c]
    local epoch = redis.call('INCR', KEYS[4])
    redis.call('HSET', KEYS[3], smsc .. '#' .. i, mine .. epoch .. '|' .. (now + leaseTtl))
    held[#held + 1] = { i, epoch }
    c = c + 1
  end
  table.sort(held, function(a, b) return a[1] < b[1] end)
  local flat, extra = {}, {}
  for h = 1, #held do
    flat[#flat + 1] = held[h][1]
    flat[#flat + 1] = held[h][2]
    flat[#flat + 1] = now + leaseTtl
    -- The highest slots beyond the share are the ones to give back.
    if h > share then extra[#extra + 1] = held[h][1] end
  end
  leases[#leases + 1] = { flat, extra }
end
return { 1, now, nodes, leases, leaders }
