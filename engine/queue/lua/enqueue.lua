--[[
  Enqueue at ingress: one call per tick for every message accepted in it.
  Writes the message hash (TTL), its expiry-sweep entry (scored by its validity
  end; finalBy is no longer used here: sweep.lua re-scores), its id in the
  tenant's list index (ix:{tenant}:{minute it is due}, a list appended to once
  per batch, tenant and minute; the minute also goes into ixb:{tenant}) and
  puts its parts where they belong, all atomically. That is decided here,
  where it cannot race with a change of the lists (O(1) per message, each list
  looked up once per tenant per call):
    number on the tenant's or the global opt-out list -> no entry, `stopped` (OPTED_OUT), final
    held by moderation (hold code)                      -> {P}hold:{T}, `pending_approval`
    tenant paused (and not scheduled)                   -> {P}park:{T}, `paused`
    scheduled (dueAt)                                   -> the parts in the hash (b1..bn, entry header
                                                           tail qh, partition qp) and {P}sch, `scheduled`;
                                                           a paused tenant's are parked by the actor when due
    otherwise                                           -> its SMSC partition, `queued` (no event); the hash
                                                           keeps qe = "partition|first entry id" for a cancel
  Queue entries carry "h" header, "b" short_message bytes, "t" tenant.
  Idempotent: a batch already written (the call resent by the client library
  after its reply was lost with the connection) writes nothing again and
  returns the dispositions it had.
  KEYS: none (every key is built from ARGV[1], the prefix, so that one call can
    touch many messages; on Redis Cluster they move into KEYS by slot, issue 13)
  ARGV[1] key prefix
  ARGV[2] MAXLEN ~ of the events stream
  ARGV[3] seconds a final message hash is kept
  ARGV[4..] per message 20 fields and its parts: id, tenant, ref, to, from, smsc, partition,
    dataCoding, esmClass, n, acceptedAt, validUntil, ttlSec, finalBy, push(0|1), route record,
    dueAt (ms; 0 = now), billOnDelivery(0|1), hold code ('' = not held), hold text, part 1 .. part n bytes
  Returns: one EnqueueCode character per message (Queued q, Stopped s, Held h, Paused p, Scheduled d).
]]
--- @include "@EnqueueCode"
local P = ARGV[1]
local evMax, finalTtl = ARGV[2], ARGV[3]
local EV = P .. 'ev'
local FIELDS = 20
local i = 4
-- The script is atomic: if the first message exists, the whole batch was written.
if ARGV[4] ~= nil and redis.call('EXISTS', P .. 'm:' .. ARGV[4]) == 1 then
  local CODE = { stopped = EnqueueCode.Stopped, pending_approval = EnqueueCode.Held, paused = EnqueueCode.Paused, scheduled = EnqueueCode.Scheduled }
  local out = {}
  local j = 4
  while j <= #ARGV do
    out[#out + 1] = CODE[redis.call('HGET', P .. 'm:' .. ARGV[j], 's')] or EnqueueCode.Queued
    j = j + FIELDS + tonumber(ARGV[j + 9])
  end
  return table.concat(out)
end
local exp = {}
local sch = {}
local disp = {}
local OOG = P .. 'oo:{*}'
local anyGlobal = redis.call('EXISTS', OOG) == 1
local listOf, pausedOf = {}, {}
-- List index: ids by tenant and minute due, in the order accepted.
local ixLists = {}
local ixOrder = {}
local lastT, lastB, ixl = nil, nil, nil
local function emit(id, t, r, status, at, code, text, sm, to, n, ac, rt, d)
  local fr = { op = 'status', id = id, status = status, at = tonumber(at) }
  if r ~= '' then fr.ref = r end
  if code then fr.error = { code = code, text = text } end
  local x = sm .. '|' .. to .. '|' .. n .. '|' .. ac .. '|' .. rt
  if d ~= '0' then
    redis.call('XADD', EV, 'MAXLEN', '~', evMax, '*', 't', t, 'f', cjson.encode(fr), 'x', x)
  else
    redis.call('XADD', EV, 'MAXLEN', '~', evMax, '*', 't', t, 'f', cjson.encode(fr), 'x', x, 'p', '0')
  end
end
while i <= #ARGV do
  local id, t, r, to, fr, sm, p, dcs, esm = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], ARGV[i + 8]
  local n = tonumber(ARGV[i + 9])
  local ac, v, ttl, fb, d, rt = ARGV[i + 10], ARGV[i + 11], ARGV[i + 12], ARGV[i + 13], ARGV[i + 14], ARGV[i + 15]
  local due, bd, hc, htx = ARGV[i + 16], ARGV[i + 17], ARGV[i + 18], ARGV[i + 19]
  local mkey = P .. 'm:' .. id
  local tail = '|' .. n .. '|' .. to .. '|' .. fr .. '|' .. string.format('%d', math.floor(tonumber(v) / 1000)) .. '|' .. dcs .. '|' .. esm
  local b = math.floor(tonumber(due == '0' and ac or due) / 60000)
  if t ~= lastT or b ~= lastB then
    local k = t .. '}:' .. b
    ixl = ixLists[k]
    if ixl == nil then
      ixl = {}
      ixLists[k] = ixl
      ixOrder[#ixOrder + 1] = { t, b, k }
    end
    lastT, lastB = t, b
  end
  ixl[#ixl + 1] = id
  local list = listOf[t]
  if list == nil then
    list = redis.call('EXISTS', P .. 'oo:{' .. t .. '}') == 1
    listOf[t] = list
  end
  local stopped = (list and redis.call('ZSCORE', P .. 'oo:{' .. t .. '}', to)) or (anyGlobal and redis.call('ZSCORE', OOG, to))
  local q, status, code, text
  if stopped then
    status = 'stopped'
  elseif hc ~= '' then
    status = 'pending_approval'
    q = P .. 'hold:{' .. t .. '}'
    code, text = hc, htx
  elseif due ~= '0' then
    status = 'scheduled'
  else
    local pz = pausedOf[t]
    if pz == nil then
      pz = redis.call('SISMEMBER', P .. 'pz', t) == 1
      pausedOf[t] = pz
    end
    if pz then
      status = 'paused'
      q = P .. 'park:{' .. t .. '}'
    else
      status = 'queued'
    end
  end
  local sq = P .. 'q:{' .. sm .. ':' .. p .. '}'
  if status == 'queued' then
    local first = redis.call('XADD', sq, '*', 'h', id .. '|1' .. tail, 'b', ARGV[i + FIELDS], 't', t)
    for k = 2, n do
      redis.call('XADD', sq, '*', 'h', id .. '|' .. k .. tail, 'b', ARGV[i + FIELDS - 1 + k], 't', t)
    end
    local qe = p .. '|' .. first
    if n == 1 and bd == '0' then
      redis.call('HSET', mkey, 't', t, 'r', r, 'to', to, 'fr', fr, 'n', 1, 's', 'queued', 'ac', ac, 'sm', sm, 'v', v, 'd', d, 'rt', rt, 'p1', 'q', 'qe', qe)
    else
      local f = { 't', t, 'r', r, 'to', to, 'fr', fr, 'n', n, 's', 'queued', 'ac', ac, 'sm', sm, 'v', v, 'd', d, 'rt', rt, 'qe', qe }
      for k = 1, n do f[#f + 1] = 'p' .. k; f[#f + 1] = 'q' end
      if bd == '1' then f[#f + 1] = 'bd'; f[#f + 1] = '1' end
      redis.call('HSET', mkey, unpack(f))
    end
    disp[#disp + 1] = EnqueueCode.Queued
  else
    local f = { 't', t, 'r', r, 'to', to, 'fr', fr, 'n', n, 's', status, 'ac', ac, 'sm', sm, 'v', v, 'd', d, 'rt', rt }
    if bd == '1' then f[#f + 1] = 'bd'; f[#f + 1] = '1' end
    if stopped then
      code, text = 'OPTED_OUT', 'the number is on the opt-out (STOP) list'
      for _, x in ipairs({ 'w', 5, 'we', code, 'wt', text, 'nf', n, 'fa', ac }) do f[#f + 1] = x end
      for k = 1, n do f[#f + 1] = 'p' .. k; f[#f + 1] = 'S' end
      disp[#disp + 1] = EnqueueCode.Stopped
    elseif status == 'scheduled' then
      for _, x in ipairs({ 'da', due, 'qh', tail, 'qp', p }) do f[#f + 1] = x end
      for k = 1, n do
        f[#f + 1] = 'p' .. k; f[#f + 1] = 'q'
        f[#f + 1] = 'b' .. k; f[#f + 1] = ARGV[i + FIELDS - 1 + k]
      end
      sch[#sch + 1] = due
      sch[#sch + 1] = id
      disp[#disp + 1] = EnqueueCode.Scheduled
    else
      if code then for _, x in ipairs({ 'hr', code, 'ht', text }) do f[#f + 1] = x end end
      -- A held message with a sendAt keeps it: approved before it is due, it is scheduled, not queued.
      if code and due ~= '0' then for _, x in ipairs({ 'da', due, 'qh', tail, 'qp', p }) do f[#f + 1] = x end end
      for k = 1, n do f[#f + 1] = 'p' .. k; f[#f + 1] = 'q' end
      -- pa: when it was paused (the lookup's history)
      if status == 'paused' then f[#f + 1] = 'pa'; f[#f + 1] = ac end
      disp[#disp + 1] = status == 'paused' and EnqueueCode.Paused or EnqueueCode.Held
    end
    redis.call('HSET', mkey, unpack(f))
    if q ~= nil then
      for k = 1, n do
        local eid = redis.call('XADD', q, '*', 'h', id .. '|' .. k .. tail, 'b', ARGV[i + FIELDS - 1 + k], 't', t, 'q', sq)
        -- he: where a held message's parts start (approve, reject); pe: the whole message was
        -- parked at acceptance, so a cancel may stop it (parts an actor parks later have none).
        if k == 1 then redis.call('HSET', mkey, code and 'he' or 'pe', eid) end
      end
    end
    emit(id, t, r, status, ac, code, text, sm, to, n, ac, rt, d)
  end
  if stopped then
    redis.call('EXPIRE', mkey, finalTtl)
  else
    redis.call('EXPIRE', mkey, ttl)
    -- The expiry sweep meets it at its validity end (sweep.lua), not at validity + grace (fb).
    exp[#exp + 1] = v
    exp[#exp + 1] = id
  end
  i = i + FIELDS + n
end
-- The expiry index and the schedule in one ZADD per batch, the list index in one RPUSH per tenant and minute.
for k = 1, #exp, 5000 do
  redis.call('ZADD', P .. 'exp', unpack(exp, k, math.min(k + 4999, #exp)))
end
for k = 1, #sch, 5000 do
  redis.call('ZADD', P .. 'sch', unpack(sch, k, math.min(k + 4999, #sch)))
end
for _, e in ipairs(ixOrder) do
  local ids = ixLists[e[3]]
  for k = 1, #ids, 5000 do
    redis.call('RPUSH', P .. 'ix:{' .. e[3], unpack(ids, k, math.min(k + 4999, #ids)))
  end
  redis.call('ZADD', P .. 'ixb:{' .. e[1] .. '}', e[2], e[2])
end
return table.concat(disp)
