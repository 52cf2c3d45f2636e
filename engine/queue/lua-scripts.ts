/**
 * The Lua scripts that change message state. Each is batched: one EVALSHA
 * carries every item an actor produced in one tick (STYLE.md "batch per tick"),
 * and each state change (part status, DLR mapping, XACK, event) is atomic.
 *
 * Part states in the message hash (field p<i>):
 *   q queued (or scheduled) · s sent (awaiting receipt) · u unreachable (temporary, SMSC retrying)
 *   final: D delivered · K unknown · E expired · U undelivered · R rejected · X stopped (cancelled,
 *   lifecycle-scripts.ts)
 * A message is final when every part is; its status is the worst part's
 * (rank D < K < E < U < R), with that part's error code and text.
 *
 * Redis time is the scarcest resource of the whole pipeline (one core for every
 * message's state), so each item reads the message hash once (HMGET), writes it
 * once (HSET) and appends one entry to the events stream `ev` (analytics/status-events.ts):
 *   t = tenant, f = the status frame JSON (the dispatcher forwards it as is),
 *   x = what analytics needs beyond the frame, positional
 *       "smsc|to|parts|acceptedAt|country|mcc|mnc|price|currency",
 *   p = '0' when the client asked for no status pushes.
 * Nothing is written twice: the frame is the event.
 *
 * Usage (billing) is counted here too (`bill`, `flushUsage`): per call, one
 * HINCRBY per tenant and field on us:{tenant}:{day}, never one per message.
 *
 * Keys are built inside the scripts from ARGV[1] (the prefix), so a batch can
 * touch many messages. That is fine on one Redis; on Redis Cluster a batch would
 * have to be split by slot (DESIGN.md §10), which is future work.
 */

// Fields read by every state change, in this order: f[1]..f[12], the part's state f[13], ns f[14], rt f[15], sa f[16], bd f[17].
export const COMMON = `
local P = ARGV[1]
local now = tonumber(ARGV[2])
local evMax = ARGV[3]
local finalTtl = ARGV[4]
local RANK = { D = 0, K = 1, E = 2, U = 3, R = 4 }
local NAMES = { [0] = 'delivered', [1] = 'unknown', [2] = 'expired', [3] = 'undelivered', [4] = 'rejected' }
local EV = P .. 'ev'
-- Messages that became final in this call leave the expiry index in one ZREM at the end.
local finished = {}
local function leaveExpiryIndex()
  for k = 1, #finished, 5000 do
    redis.call('ZREM', P .. 'exp', unpack(finished, k, math.min(k + 4999, #finished)))
  end
end

local function nz(v) if v == false or v == nil or v == '' then return nil end return v end

local function hm(mkey, part)
  return redis.call('HMGET', mkey, 't', 'r', 'to', 'n', 'sm', 'ac', 'd', 's', 'w', 'we', 'wt', 'nf', 'p' .. part, 'ns', 'rt', 'sa', 'bd')
end

-- Usage (billing) totals, gathered per tenant and currency over the whole call and
-- written at its end (flushUsage): us:{tenant}:{UTC day number} holds
-- m messages, s segments, c:<currency> cost in millionths. Kept 400 days.
-- A route record's price is read once per call (most messages of a call share a few).
local rtInfo = {}
local usage = {}
local function bill(f, msgs, segs)
  local rt = f[15] or ''
  local info = rtInfo[rt]
  if info == nil then
    local price, cur = string.match(rt, '^[^|]*|[^|]*|[^|]*|([^|]*)|([^|]*)$')
    info = { math.floor((tonumber(price) or 0) * 1000000 + 0.5), cur or '' }
    rtInfo[rt] = info
  end
  local byCur = usage[f[1]]
  if byCur == nil then byCur = {}; usage[f[1]] = byCur end
  local u = byCur[info[2]]
  if u == nil then u = { 0, 0, 0 }; byCur[info[2]] = u end
  u[1] = u[1] + msgs
  u[2] = u[2] + segs
  u[3] = u[3] + info[1] * segs
end
local function flushUsage()
  if next(usage) == nil then return end
  local day = string.format('%d', math.floor(now / 86400000))
  for t, byCur in pairs(usage) do
    local key = P .. 'us:{' .. t .. '}:' .. day
    for cur, u in pairs(byCur) do
      if u[1] > 0 then redis.call('HINCRBY', key, 'm', u[1]) end
      -- Every write adds segments: a total equal to this call's means the key is new.
      if redis.call('HINCRBY', key, 's', u[2]) == u[2] then redis.call('EXPIRE', key, 400 * 86400) end
      if u[3] > 0 then redis.call('HINCRBY', key, 'c:' .. cur, string.format('%d', u[3])) end
    end
  end
end

-- f: the HMGET above. One XADD per status change.
local function emit(id, f, status, err, etxt)
  local fr = { op = 'status', id = id, ref = nz(f[2]), status = status, at = now }
  if nz(err) or nz(etxt) then fr.error = { code = nz(err), text = nz(etxt) } end
  local x = (f[5] or '') .. '|' .. f[3] .. '|' .. f[4] .. '|' .. f[6] .. '|' .. (f[15] or '||||')
  if f[7] ~= '0' then
    redis.call('XADD', EV, 'MAXLEN', '~', evMax, '*', 't', f[1], 'f', cjson.encode(fr), 'x', x)
  else
    redis.call('XADD', EV, 'MAXLEN', '~', evMax, '*', 't', f[1], 'f', cjson.encode(fr), 'x', x, 'p', '0')
  end
end

-- Applies a final or temporary part state. Returns 1 applied, 3 duplicate, 4 message gone.
-- Sent time of the message last applied to (for receipt latency), or nil.
local lastSa = nil
local function apply(id, part, st, err, etxt)
  local mkey = P .. 'm:' .. id
  local f = hm(mkey, part)
  local cur = f[13]
  lastSa = tonumber(f[16] or '')
  if not cur then return 4 end
  if cur ~= 'q' and cur ~= 's' and cur ~= 'u' then return 3 end
  local pf = 'p' .. part
  if st == 'u' then
    if f[8] == 'sent' then
      redis.call('HSET', mkey, pf, 'u', 's', 'unreachable', 'ua', now)
      emit(id, f, 'unreachable', err, etxt)
    else
      redis.call('HSET', mkey, pf, 'u')
    end
    return 1
  end
  local w = tonumber(f[9] or '-1')
  local we, wt = f[10] or '', f[11] or ''
  if RANK[st] > w then w = RANK[st]; we = err or ''; wt = etxt or '' end
  local nf = tonumber(f[12] or '0') + 1
  if nf >= tonumber(f[4]) then
    local status = NAMES[w]
    redis.call('HSET', mkey, pf, st, 'w', w, 'we', we, 'wt', wt, 'nf', nf, 's', status, 'fa', now)
    -- Final: keep the hash for the reporting window only, and leave the expiry sweep.
    redis.call('EXPIRE', mkey, finalTtl)
    finished[#finished + 1] = id
    emit(id, f, status, we, wt)
    -- Tenants billed on delivery (bd=1) pay for delivered messages only, every part.
    if w == 0 and f[17] == '1' then bill(f, 1, tonumber(f[4])) end
  else
    redis.call('HSET', mkey, pf, st, 'w', w, 'we', we, 'wt', wt, 'nf', nf)
  end
  return 1
end
`;

/**
 * submit_sm_resp OK for a batch of parts.
 * ARGV: prefix, now, evMax, finalTtlSec, group, smsc, dlrTtlSec, then 5 per item:
 *   queueKey, entryId, messageId, part, "normalisedSmscMessageId|rawId"
 * Returns the number of early receipts applied.
 */
export const SUBMITTED_LUA = `${COMMON}
local grp = ARGV[5]
local smsc = ARGV[6]
local ttl = ARGV[7]
local early = 0
-- Early receipts are rare: look for them only if one was stored recently.
local anyEarly = redis.call('EXISTS', P .. 'dex:' .. smsc) == 1
local acks = {}
for i = 8, #ARGV, 5 do
  local q, eid, id, part, mids = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local bar = string.find(mids, '|', 1, true)
  local norm = string.sub(mids, 1, bar - 1)
  local raw = string.sub(mids, bar + 1)
  local list = acks[q]
  if list == nil then list = {}; acks[q] = list end
  list[#list + 1] = eid
  local mkey = P .. 'm:' .. id
  local f = hm(mkey, part)
  if f[13] == 'q' then
    local pf = 'p' .. part
    redis.call('SET', P .. 'd:' .. smsc .. ':' .. norm, id .. '|' .. part, 'EX', ttl)
    local ns = tonumber(f[14] or '0') + 1
    -- Billed when sent (unless on delivery): each part the SMSC took; the message with its first part.
    if f[17] ~= '1' then bill(f, ns == 1 and 1 or 0, 1) end
    if ns >= tonumber(f[4]) and f[8] == 'queued' then
      redis.call('HSET', mkey, pf, 's', 'i' .. part, raw, 'ns', ns, 'sm', smsc, 's', 'sent', 'sa', now)
      f[5] = smsc
      emit(id, f, 'sent', nil, nil)
    else
      redis.call('HSET', mkey, pf, 's', 'i' .. part, raw, 'ns', ns, 'sm', smsc)
    end
    if anyEarly then
      local ek = P .. 'de:' .. smsc .. ':' .. norm
      local r = redis.call('GET', ek)
      if r then
        redis.call('DEL', ek)
        local a = string.find(r, '|', 1, true)
        local b = string.find(r, '|', a + 1, true)
        apply(id, part, string.sub(r, 1, a - 1), string.sub(r, a + 1, b - 1), string.sub(r, b + 1))
        early = early + 1
      end
    end
  end
end
-- One XACK and one XDEL per partition for the whole batch.
for q, list in pairs(acks) do
  redis.call('XACK', q, grp, unpack(list))
  redis.call('XDEL', q, unpack(list))
end
leaveExpiryIndex()
flushUsage()
return early
`;

/**
 * Final failures decided by the actor (rejected at submit, expired in queue).
 * ARGV: prefix, now, evMax, finalTtlSec, group, then 7 per item:
 *   queueKey, entryId, messageId, part, state (R|E), error code, error text
 */
export const FAILED_LUA = `${COMMON}
local grp = ARGV[5]
local acks = {}
for i = 6, #ARGV, 7 do
  local list = acks[ARGV[i]]
  if list == nil then list = {}; acks[ARGV[i]] = list end
  list[#list + 1] = ARGV[i + 1]
  apply(ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6])
end
for q, list in pairs(acks) do
  redis.call('XACK', q, grp, unpack(list))
  redis.call('XDEL', q, unpack(list))
end
leaveExpiryIndex()
flushUsage()
return 0
`;

/**
 * Delivery receipts. ARGV: prefix, now, evMax, finalTtlSec, smsc, earlyTtlSec, then 4 per item:
 *   state (D|U|E|K|u), error code, error text, SMSC message id (normalised, receiptKey)
 * Returns two numbers per item: the code (1 applied, 2 stored as early, 3 duplicate,
 * 4 message gone) and the ms from the message's `sent` to now (-1 when unknown).
 */
export const RECEIPTS_LUA = `${COMMON}
local smsc = ARGV[5]
local earlyTtl = ARGV[6]
local out = {}
local i = 7
while i <= #ARGV do
  local st, err, etxt, key = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local found = redis.call('GET', P .. 'd:' .. smsc .. ':' .. key)
  if found then
    local bar = string.find(found, '|', 1, true)
    out[#out + 1] = apply(string.sub(found, 1, bar - 1), string.sub(found, bar + 1), st, err, etxt)
    out[#out + 1] = lastSa and (now - lastSa) or -1
  else
    redis.call('SET', P .. 'de:' .. smsc .. ':' .. key, st .. '|' .. err .. '|' .. etxt, 'EX', earlyTtl)
    -- Tells SUBMITTED_LUA to look for early receipts while any may exist.
    redis.call('SET', P .. 'dex:' .. smsc, 1, 'EX', earlyTtl)
    out[#out + 1] = 2
    out[#out + 1] = -1
  end
  i = i + 4
end
leaveExpiryIndex()
flushUsage()
return out
`;

/**
 * Ends messages whose validity plus receipt grace has passed: parts never sent
 * become expired (E), parts sent without a receipt become unknown (K).
 * ARGV: prefix, now, evMax, finalTtlSec, limit. Returns how many messages it swept.
 */
export const SWEEP_LUA = `${COMMON}
local ids = redis.call('ZRANGEBYSCORE', P .. 'exp', '-inf', now, 'LIMIT', 0, tonumber(ARGV[5]))
for _, id in ipairs(ids) do
  local mkey = P .. 'm:' .. id
  local n = tonumber(redis.call('HGET', mkey, 'n') or '0')
  for part = 1, n do
    local cur = redis.call('HGET', mkey, 'p' .. part)
    if cur == 'q' then apply(id, part, 'E', '', 'validity period ran out before the message could be sent')
    elseif cur == 's' or cur == 'u' then apply(id, part, 'K', '', 'no receipt within the validity period and grace') end
  end
  finished[#finished + 1] = id
end
leaveExpiryIndex()
flushUsage()
return #ids
`;

/**
 * Enqueue at ingress: one call per tick for every message accepted in it.
 * ARGV: prefix, then per message 18 fields and its parts:
 *   id, tenant, ref, to, from, smsc, partition, dataCoding, esmClass, n,
 *   acceptedAt, validUntil, ttlSec, finalBy, push(0|1), route record,
 *   dueAt (ms; 0 = now), billOnDelivery(0|1), part 1 .. part n bytes
 * Writes the message hash (TTL), its expiry-sweep entry, its id in the
 * tenant's list index (ix:{tenant}:{minute it is due}, a list appended to; the
 * minute also goes into ixb:{tenant}, once per batch) and either one stream
 * entry per part ("h" header, "b" short_message bytes; the hash keeps
 * qe = "partition|first entry id" so that a cancel can find them unread) or,
 * when scheduled, the parts in the hash (b1..bn, the entry header tail qh,
 * the partition qp) plus a sch entry for the scheduler and a `scheduled`
 * event — all atomically. The index gets one RPUSH per batch, tenant and
 * minute; the expiry index and the schedule one ZADD per batch.
 */
export const ENQUEUE_LUA = `
local P = ARGV[1]
local i = 2
local count = 0
local exp = {}
local sch = {}
-- List index: ids by tenant and minute due, in the order accepted.
local ixLists = {}
local ixOrder = {}
local lastT, lastB, list = nil, nil, nil
while i <= #ARGV do
  local id, t, r, to, fr, sm, p, dcs, esm = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], ARGV[i + 8]
  local n = tonumber(ARGV[i + 9])
  local ac, v, ttl, fb, d, rt = ARGV[i + 10], ARGV[i + 11], ARGV[i + 12], ARGV[i + 13], ARGV[i + 14], ARGV[i + 15]
  local due, bd = ARGV[i + 16], ARGV[i + 17]
  local mkey = P .. 'm:' .. id
  local tail = '|' .. n .. '|' .. to .. '|' .. fr .. '|' .. string.format('%d', math.floor(tonumber(v) / 1000)) .. '|' .. dcs .. '|' .. esm
  local b = math.floor(tonumber(due == '0' and ac or due) / 60000)
  if t ~= lastT or b ~= lastB then
    local k = t .. '}:' .. b
    list = ixLists[k]
    if list == nil then
      list = {}
      ixLists[k] = list
      ixOrder[#ixOrder + 1] = { t, b, k }
    end
    lastT, lastB = t, b
  end
  list[#list + 1] = id
  if due == '0' then
    local q = P .. 'q:{' .. sm .. ':' .. p .. '}'
    local first = redis.call('XADD', q, '*', 'h', id .. '|1' .. tail, 'b', ARGV[i + 18])
    for k = 2, n do
      redis.call('XADD', q, '*', 'h', id .. '|' .. k .. tail, 'b', ARGV[i + 17 + k])
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
  else
    local f = { 't', t, 'r', r, 'to', to, 'fr', fr, 'n', n, 's', 'scheduled', 'ac', ac, 'sm', sm, 'v', v, 'd', d, 'rt', rt, 'da', due, 'qh', tail, 'qp', p }
    for k = 1, n do
      f[#f + 1] = 'p' .. k; f[#f + 1] = 'q'
      f[#f + 1] = 'b' .. k; f[#f + 1] = ARGV[i + 17 + k]
    end
    if bd == '1' then f[#f + 1] = 'bd'; f[#f + 1] = '1' end
    redis.call('HSET', mkey, unpack(f))
    sch[#sch + 1] = due
    sch[#sch + 1] = id
    local fr2 = { op = 'status', id = id, status = 'scheduled', at = tonumber(ac) }
    if r ~= '' then fr2.ref = r end
    local x = sm .. '|' .. to .. '|' .. n .. '|' .. ac .. '|' .. rt
    if d ~= '0' then
      redis.call('XADD', P .. 'ev', '*', 't', t, 'f', cjson.encode(fr2), 'x', x)
    else
      redis.call('XADD', P .. 'ev', '*', 't', t, 'f', cjson.encode(fr2), 'x', x, 'p', '0')
    end
  end
  redis.call('EXPIRE', mkey, ttl)
  exp[#exp + 1] = fb
  exp[#exp + 1] = id
  i = i + 18 + n
  count = count + 1
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
return count
`;

/**
 * Failover: moves entries that no consumer has read yet (ids after the group's
 * last-delivered id, so certainly never sent) from a down SMSC's partition to
 * another SMSC's, keeping the message id, its parts and its status, and records
 * the new SMSC and route on the message. An entry read meanwhile by the down
 * SMSC's actor is left where it is: nothing is sent twice.
 * ARGV: prefix, group, source queue key, then 5 per entry:
 *   entryId, destination queue key, messageId, new smsc, new route record
 * Returns the number of entries moved.
 */
export const MOVE_LUA = `
local P, grp, src = ARGV[1], ARGV[2], ARGV[3]
local last = '0-0'
for _, g in ipairs(redis.call('XINFO', 'GROUPS', src)) do
  local name, ld
  for k = 1, #g, 2 do
    if g[k] == 'name' then name = g[k + 1] elseif g[k] == 'last-delivered-id' then ld = g[k + 1] end
  end
  if name == grp then last = ld end
end
local function after(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am > bm or (am == bm and as > bs)
end
local moved = 0
for i = 4, #ARGV, 5 do
  local eid, dst, id, sm, rt = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  if after(eid, last) then
    local e = redis.call('XRANGE', src, eid, eid)
    if #e == 1 then
      local nid = redis.call('XADD', dst, '*', unpack(e[1][2]))
      redis.call('XDEL', src, eid)
      -- The first part's new place is where a cancel looks for the message (qe).
      local h = e[1][2][1] == 'h' and e[1][2][2] or e[1][2][4]
      if string.match(h or '', '^[^|]*|(%d+)|') == '1' then
        redis.call('HSET', P .. 'm:' .. id, 'sm', sm, 'rt', rt, 'qe', string.match(dst, ':(%d+)}$') .. '|' .. nid)
      else
        redis.call('HSET', P .. 'm:' .. id, 'sm', sm, 'rt', rt)
      end
      moved = moved + 1
    end
  end
end
return moved
`;
