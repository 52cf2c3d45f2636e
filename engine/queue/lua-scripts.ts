/**
 * The Lua scripts that change message state. Each is batched: one EVALSHA
 * carries every item an actor produced in one tick (STYLE.md "batch per tick"),
 * and each state change (part status, DLR mapping, XACK, event) is atomic.
 *
 * Part states in the message hash (field p<i>):
 *   q queued (also while scheduled, held or paused) · s sent (awaiting receipt) · u unreachable (temporary, SMSC retrying)
 *   final: D delivered · K unknown · E expired · U undelivered · R rejected · S stopped (cancelled, opted out,
 *   refused by a moderator)
 * A message is final when every part is; its status is the worst part's
 * (rank D < K < E < U < R < S), with that part's error code and text.
 *
 * Redis time is the scarcest resource of the whole pipeline (one core for every
 * message's state), so each item reads the message hash once (HMGET), writes it
 * once (HSET) and appends one entry to the events stream `ev` (analytics/status-events.ts):
 *   t = tenant, f = the status frame JSON (the dispatcher forwards it as is),
 *   x = what analytics needs beyond the frame, positional
 *       "smsc|to|parts|acceptedAt|country|mcc|mnc|price|currency|latencyMs|raw":
 *       latencyMs (sent → this receipt) and raw (the operator's receipt text, kept
 *       for failures only: delivered receipts say nothing a row does not) are
 *       filled only on events a receipt caused; raw is last and may hold '|',
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
// Exported for the feature scripts that change message state too (engine/parking/, engine/optout/, lifecycle-scripts.ts).
export const COMMON = `
local P = ARGV[1]
local now = tonumber(ARGV[2])
local evMax = ARGV[3]
local finalTtl = ARGV[4]
local RANK = { D = 0, K = 1, E = 2, U = 3, R = 4, S = 5 }
local NAMES = { [0] = 'delivered', [1] = 'unknown', [2] = 'expired', [3] = 'undelivered', [4] = 'rejected', [5] = 'stopped' }
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

-- f: the HMGET above. One XADD per status change. raw ~= nil: a receipt caused it (raw: its text, '' for delivered).
local function emit(id, f, status, err, etxt, raw)
  local fr = { op = 'status', id = id, ref = nz(f[2]), status = status, at = now }
  if nz(err) or nz(etxt) then fr.error = { code = nz(err), text = nz(etxt) } end
  local lat = ''
  if raw ~= nil and f[16] then lat = now - tonumber(f[16]) end
  local x = (f[5] or '') .. '|' .. f[3] .. '|' .. f[4] .. '|' .. f[6] .. '|' .. (f[15] or '||||') .. '|' .. lat .. '|' .. (raw or '')
  if f[7] ~= '0' then
    redis.call('XADD', EV, 'MAXLEN', '~', evMax, '*', 't', f[1], 'f', cjson.encode(fr), 'x', x)
  else
    redis.call('XADD', EV, 'MAXLEN', '~', evMax, '*', 't', f[1], 'f', cjson.encode(fr), 'x', x, 'p', '0')
  end
end

-- Applies a final or temporary part state. Returns 1 applied, 3 duplicate, 4 message gone.
-- Sent time of the message last applied to (for receipt latency), or nil.
local lastSa = nil
local function apply(id, part, st, err, etxt, raw)
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
      emit(id, f, 'unreachable', err, etxt, raw)
    else
      redis.call('HSET', mkey, pf, 'u')
    end
    return 1
  end
  local w = tonumber(f[9] or '-1')
  local we, wt = f[10] or '', f[11] or ''
  -- The worst part's error is the message's. A delivered part has none: a receipt's "000"/"DELIVRD"
  -- is no error, and frames and lookups carry \`error\` for failures only (issue 12).
  if RANK[st] > w then
    w = RANK[st]
    if st ~= 'D' then we = err or ''; wt = etxt or '' end
  end
  local nf = tonumber(f[12] or '0') + 1
  if nf >= tonumber(f[4]) then
    local status = NAMES[w]
    redis.call('HSET', mkey, pf, st, 'w', w, 'we', we, 'wt', wt, 'nf', nf, 's', status, 'fa', now)
    -- Final: keep the hash for the reporting window only, and leave the expiry sweep.
    redis.call('EXPIRE', mkey, finalTtl)
    finished[#finished + 1] = id
    emit(id, f, status, we, wt, raw)
    -- Tenants billed on delivery (bd=1) pay for delivered messages only, every part.
    if w == 0 and f[17] == '1' then bill(f, 1, tonumber(f[4])) end
  else
    redis.call('HSET', mkey, pf, st, 'w', w, 'we', we, 'wt', wt, 'nf', nf)
  end
  return 1
end
`;

/**
 * Stream id order, and a consumer group's last-delivered id of a stream (nil
 * when the stream or the group is missing): entries after it no consumer has
 * read, which is what makes moving (failover) or deleting (cancel) them safe.
 */
export const STREAM_HELPERS = `
local function after(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am > bm or (am == bm and as > bs)
end
local function lastDelivered(q, grp)
  local groups = redis.pcall('XINFO', 'GROUPS', q)
  if type(groups) ~= 'table' or groups.err then return nil end
  for _, g in ipairs(groups) do
    local name, ld
    for k = 1, #g, 2 do
      if g[k] == 'name' then name = g[k + 1] elseif g[k] == 'last-delivered-id' then ld = g[k + 1] end
    end
    if name == grp then return ld end
  end
  return nil
end
`;

/**
 * submit_sm_resp OK for a batch of parts.
 * ARGV: prefix, now, evMax, finalTtlSec, group, smsc, unused, then 6 per item:
 *   queueKey, entryId, messageId, part, "normalisedSmscMessageId|rawId", dlrTtlSec
 * The receipt key d:{smsc}:{id} lives for the part's validity plus the receipt
 * grace (dlrTtlSec, from the actor); once the part is final RECEIPTS_LUA
 * shortens it to the final retention (a redelivered receipt is still a duplicate).
 * Returns the number of early receipts applied.
 */
export const SUBMITTED_LUA = `${COMMON}
local grp = ARGV[5]
local smsc = ARGV[6]
local early = 0
-- Early receipts are rare: look for them only if one was stored recently.
local anyEarly = redis.call('EXISTS', P .. 'dex:' .. smsc) == 1
local acks = {}
for i = 8, #ARGV, 6 do
  local q, eid, id, part, mids, ttl = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
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
        local c = string.find(r, '|', b + 1, true)
        apply(id, part, string.sub(r, 1, a - 1), string.sub(r, a + 1, b - 1), string.sub(r, b + 1, (c or 0) - 1), c and string.sub(r, c + 1) or '')
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
 * Delivery receipts. ARGV: prefix, now, evMax, finalTtlSec, smsc, earlyTtlSec, then 5 per item:
 *   state (D|U|E|K|u), error code, error text, SMSC message id (normalised, receiptKey),
 *   the receipt's raw text for analytics ('' for delivered ones)
 * Returns two numbers per item: the code (1 applied, 2 stored as early, 3 duplicate,
 * 4 message gone) and the ms from the message's `sent` to now (-1 when unknown).
 */
export const RECEIPTS_LUA = `${COMMON}
local smsc = ARGV[5]
local earlyTtl = ARGV[6]
local out = {}
local i = 7
while i <= #ARGV do
  local st, err, etxt, key, raw = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local dkey = P .. 'd:' .. smsc .. ':' .. key
  local found = redis.call('GET', dkey)
  if found then
    local bar = string.find(found, '|', 1, true)
    local r = apply(string.sub(found, 1, bar - 1), string.sub(found, bar + 1), st, err, etxt, raw)
    -- A final part needs its receipt key only to recognise redelivered receipts.
    if r == 1 and st ~= 'u' then redis.call('EXPIRE', dkey, finalTtl, 'LT') end
    out[#out + 1] = r
    out[#out + 1] = lastSa and (now - lastSa) or -1
  else
    redis.call('SET', P .. 'de:' .. smsc .. ':' .. key, st .. '|' .. err .. '|' .. etxt .. '|' .. raw, 'EX', earlyTtl)
    -- Tells SUBMITTED_LUA to look for early receipts while any may exist.
    redis.call('SET', P .. 'dex:' .. smsc, 1, 'EX', earlyTtl)
    out[#out + 1] = 2
    out[#out + 1] = -1
  end
  i = i + 5
end
leaveExpiryIndex()
flushUsage()
return out
`;

/**
 * The expiry sweep. The expiry index (exp) holds every message not yet final,
 * scored by its validity end (ENQUEUE_LUA), so the sweep meets a message when
 * its validity runs out:
 *   - if nothing of it can still reach an SMSC it ends \`expired\` now
 *     (VALIDITY_EXPIRED): held for moderation, scheduled, parked whole at
 *     acceptance, or queued with every part's entry still unread in its SMSC
 *     queue (after the consumer group's last-delivered id: an SMSC that is down
 *     reads nothing; the entries are deleted, as a cancel does);
 *   - otherwise (parts sent and awaiting receipts, or entries an actor has read
 *     and may be sending) it is re-scored to validity + grace. (An actor ends
 *     the entries it holds past their validity itself: before sending them,
 *     and while it has no bind, operator-actor.ts expireHeld.)
 * Met at validity + grace, parts never sent end expired (VALIDITY_EXPIRED) and
 * parts sent without a receipt unknown (NO_RECEIPT).
 * Scoring by validity + grace from the start kept a message whose only SMSC was
 * down \`queued\` for validity + grace (54 h by default) instead of ending it at
 * its validity. The re-score costs one ZADD for a message still without its
 * final receipt at validity end, and nothing on the hot path.
 * ARGV: prefix, now, evMax, finalTtlSec, limit, graceMs, group. Returns how many messages it met.
 */
export const SWEEP_LUA = `${COMMON}
${STREAM_HELPERS}
local grace = tonumber(ARGV[6] or '0')
local grp = ARGV[7] or 'g'
local EXPIRED_TEXT = 'validity period ran out before the message could be sent'
local ids = redis.call('ZRANGEBYSCORE', P .. 'exp', '-inf', now, 'LIMIT', 0, tonumber(ARGV[5]))
local later = {}
-- Last-delivered id per queue (false: no group), read once per call.
local lastOf = {}
-- True when every part of a queued message is still unread in its SMSC queue; deletes those entries.
local function takeUnread(id, n, sm, qe)
  local bar = qe and string.find(qe, '|', 1, true)
  if not bar then return false end
  local q = P .. 'q:{' .. sm .. ':' .. string.sub(qe, 1, bar - 1) .. '}'
  local eid = string.sub(qe, bar + 1)
  local last = lastOf[q]
  if last == nil then last = lastDelivered(q, grp) or false; lastOf[q] = last end
  if not last or not after(eid, last) then return false end
  -- The parts were added one after the other by one script: they follow eid (as CANCEL_LUA reads them).
  local es = redis.call('XRANGE', q, eid, '+', 'COUNT', n)
  local del = {}
  for k = 1, #es do
    local fl = es[k][2]
    local h = fl[1] == 'h' and fl[2] or fl[4]
    if string.sub(h or '', 1, #id + #tostring(k) + 2) == id .. '|' .. k .. '|' then del[#del + 1] = es[k][1] end
  end
  if #del ~= n then return false end
  redis.call('XDEL', q, unpack(del))
  return true
end
for _, id in ipairs(ids) do
  local mkey = P .. 'm:' .. id
  local g = redis.call('HMGET', mkey, 'n', 'v', 's', 'qe', 'sm', 'pe')
  local n = tonumber(g[1] or '0')
  local v = tonumber(g[2] or '0')
  if n == 0 then
    finished[#finished + 1] = id
  elseif now < v + grace then
    local st = g[3]
    local ends = st == 'pending_approval' or st == 'scheduled' or (st == 'paused' and g[6] ~= false)
    if st == 'queued' then
      local pf = {}
      for k = 1, n do pf[k] = 'p' .. k end
      local ps = redis.call('HMGET', mkey, unpack(pf))
      local allQueued = true
      for k = 1, n do if ps[k] ~= 'q' then allQueued = false end end
      ends = allQueued and takeUnread(id, n, g[5], g[4])
    end
    if ends then
      if st == 'scheduled' then redis.call('ZREM', P .. 'sch', id) end
      for part = 1, n do
        if redis.call('HGET', mkey, 'p' .. part) == 'q' then apply(id, part, 'E', 'VALIDITY_EXPIRED', EXPIRED_TEXT) end
      end
    else
      later[#later + 1] = v + grace
      later[#later + 1] = id
    end
  else
    for part = 1, n do
      local cur = redis.call('HGET', mkey, 'p' .. part)
      if cur == 'q' then apply(id, part, 'E', 'VALIDITY_EXPIRED', EXPIRED_TEXT)
      elseif cur == 's' or cur == 'u' then apply(id, part, 'K', 'NO_RECEIPT', 'no receipt within the validity period and grace') end
    end
    finished[#finished + 1] = id
  end
end
for k = 1, #later, 5000 do
  redis.call('ZADD', P .. 'exp', unpack(later, k, math.min(k + 4999, #later)))
end
leaveExpiryIndex()
flushUsage()
return #ids
`;

/**
 * Enqueue at ingress: one call per tick for every message accepted in it.
 * ARGV: prefix, evMax, finalTtlSec, then per message 20 fields and its parts:
 *   id, tenant, ref, to, from, smsc, partition, dataCoding, esmClass, n,
 *   acceptedAt, validUntil, ttlSec, finalBy, push(0|1), route record,
 *   dueAt (ms; 0 = now), billOnDelivery(0|1), hold code ('' = not held), hold text,
 *   part 1 .. part n bytes
 * Writes the message hash (TTL), its expiry-sweep entry (scored by its validity
 * end; finalBy is no longer used here: SWEEP_LUA re-scores), its id in the
 * tenant's list index (ix:{tenant}:{minute it is due}, a list appended to once
 * per batch, tenant and minute; the minute also goes into ixb:{tenant}) and
 * puts its parts where they belong, all atomically. That is decided here,
 * where it cannot race with a change of the lists (O(1) per message, each list
 * looked up once per tenant per call):
 *   number on the tenant's or the global opt-out list -> no entry, `stopped` (OPTED_OUT), final
 *   held by moderation (hold code)                      -> {P}hold:{T}, `pending_approval`
 *   tenant paused (and not scheduled)                   -> {P}park:{T}, `paused`
 *   scheduled (dueAt)                                   -> the parts in the hash (b1..bn, entry header
 *                                                          tail qh, partition qp) and {P}sch, `scheduled`;
 *                                                          a paused tenant's are parked by the actor when due
 *   otherwise                                           -> its SMSC partition, `queued` (no event); the hash
 *                                                          keeps qe = "partition|first entry id" for a cancel
 * Queue entries carry "h" header, "b" short_message bytes, "t" tenant.
 * Returns one character per message: q queued, s stopped, h held, p paused, d scheduled.
 * Idempotent: a batch already written (the call resent by the client library
 * after its reply was lost with the connection) writes nothing again and
 * returns the dispositions it had.
 */
export const ENQUEUE_LUA = `
local P = ARGV[1]
local evMax, finalTtl = ARGV[2], ARGV[3]
local EV = P .. 'ev'
local FIELDS = 20
local i = 4
-- The script is atomic: if the first message exists, the whole batch was written.
if ARGV[4] ~= nil and redis.call('EXISTS', P .. 'm:' .. ARGV[4]) == 1 then
  local CODE = { stopped = 's', pending_approval = 'h', paused = 'p', scheduled = 'd' }
  local out = {}
  local j = 4
  while j <= #ARGV do
    out[#out + 1] = CODE[redis.call('HGET', P .. 'm:' .. ARGV[j], 's')] or 'q'
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
    disp[#disp + 1] = 'q'
  else
    local f = { 't', t, 'r', r, 'to', to, 'fr', fr, 'n', n, 's', status, 'ac', ac, 'sm', sm, 'v', v, 'd', d, 'rt', rt }
    if bd == '1' then f[#f + 1] = 'bd'; f[#f + 1] = '1' end
    if stopped then
      code, text = 'OPTED_OUT', 'the number is on the opt-out (STOP) list'
      for _, x in ipairs({ 'w', 5, 'we', code, 'wt', text, 'nf', n, 'fa', ac }) do f[#f + 1] = x end
      for k = 1, n do f[#f + 1] = 'p' .. k; f[#f + 1] = 'S' end
      disp[#disp + 1] = 's'
    elseif status == 'scheduled' then
      for _, x in ipairs({ 'da', due, 'qh', tail, 'qp', p }) do f[#f + 1] = x end
      for k = 1, n do
        f[#f + 1] = 'p' .. k; f[#f + 1] = 'q'
        f[#f + 1] = 'b' .. k; f[#f + 1] = ARGV[i + FIELDS - 1 + k]
      end
      sch[#sch + 1] = due
      sch[#sch + 1] = id
      disp[#disp + 1] = 'd'
    else
      if code then for _, x in ipairs({ 'hr', code, 'ht', text }) do f[#f + 1] = x end end
      -- A held message with a sendAt keeps it: approved before it is due, it is scheduled, not queued.
      if code and due ~= '0' then for _, x in ipairs({ 'da', due, 'qh', tail, 'qp', p }) do f[#f + 1] = x end end
      for k = 1, n do f[#f + 1] = 'p' .. k; f[#f + 1] = 'q' end
      -- pa: when it was paused (the lookup's history)
      if status == 'paused' then f[#f + 1] = 'pa'; f[#f + 1] = ac end
      disp[#disp + 1] = status == 'paused' and 'p' or 'h'
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
    -- The expiry sweep meets it at its validity end (SWEEP_LUA), not at validity + grace (fb).
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
export const MOVE_LUA = `${STREAM_HELPERS}
local P, grp, src = ARGV[1], ARGV[2], ARGV[3]
local last = lastDelivered(src, grp) or '0-0'
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
