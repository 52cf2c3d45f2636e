/**
 * The Lua scripts that change message state. Each is batched: one EVALSHA
 * carries every item an actor produced in one tick (STYLE.md "batch per tick"),
 * and each state change (part status, DLR mapping, XACK, event) is atomic.
 *
 * Part states in the message hash (field p<i>):
 *   q queued · s sent (awaiting receipt) · u unreachable (temporary, SMSC retrying)
 *   final: D delivered · K unknown · E expired · U undelivered · R rejected
 * A message is final when every part is; its status is the worst part's
 * (rank D < K < E < U < R), with that part's error code and text.
 *
 * Keys are built inside the scripts from ARGV[1] (the prefix), so a batch can
 * touch many messages. That is fine on one Redis; on Redis Cluster a batch would
 * have to be split by slot (DESIGN.md §10), which is future work.
 */

const COMMON = `
local P = ARGV[1]
local now = tonumber(ARGV[2])
local evMax = ARGV[3]
local stMax = ARGV[4]
local RANK = { D = 0, K = 1, E = 2, U = 3, R = 4 }
local NAMES = { [0] = 'delivered', [1] = 'unknown', [2] = 'expired', [3] = 'undelivered', [4] = 'rejected' }

local function nz(v) if v == false or v == nil or v == '' then return nil end return v end

local function emit(mkey, id, status, err, etxt)
  local f = redis.call('HMGET', mkey, 't', 'r', 'to', 'n', 'sm', 'ac', 'd', 'fr')
  local ev = { id = id, t = f[1], s = status, at = now, sm = nz(f[5]), to = f[3], n = tonumber(f[4]),
               ref = nz(f[2]), ac = tonumber(f[6]), err = nz(err), etxt = nz(etxt) }
  redis.call('XADD', P .. 'ev', 'MAXLEN', '~', evMax, '*', 'j', cjson.encode(ev))
  if f[7] ~= '0' then
    local fr = { op = 'status', id = id, ref = nz(f[2]), status = status, at = now }
    if nz(err) or nz(etxt) then fr.error = { code = nz(err), text = nz(etxt) } end
    redis.call('XADD', P .. 'st:{' .. f[1] .. '}', 'MAXLEN', '~', stMax, '*', 'f', cjson.encode(fr))
  end
end

-- Applies a final or temporary part state. Returns 1 applied, 3 duplicate, 4 message gone.
local function apply(id, part, st, err, etxt)
  local mkey = P .. 'm:' .. id
  local pf = 'p' .. part
  local cur = redis.call('HGET', mkey, pf)
  if not cur then return 4 end
  if cur ~= 'q' and cur ~= 's' and cur ~= 'u' then return 3 end
  if st == 'u' then
    redis.call('HSET', mkey, pf, 'u')
    if redis.call('HGET', mkey, 's') == 'sent' then
      redis.call('HSET', mkey, 's', 'unreachable')
      emit(mkey, id, 'unreachable', err, etxt)
    end
    return 1
  end
  local rank = RANK[st]
  redis.call('HSET', mkey, pf, st)
  if nz(err) then redis.call('HSET', mkey, 'e' .. part, err) end
  local w = tonumber(redis.call('HGET', mkey, 'w') or '-1')
  if rank > w then redis.call('HSET', mkey, 'w', rank, 'we', err or '', 'wt', etxt or '') end
  local nf = redis.call('HINCRBY', mkey, 'nf', 1)
  local f = redis.call('HMGET', mkey, 'n', 'w', 'we', 'wt')
  if nf >= tonumber(f[1]) then
    local status = NAMES[tonumber(f[2])]
    redis.call('HSET', mkey, 's', status, 'fa', now)
    emit(mkey, id, status, f[3], f[4])
  end
  return 1
end
`;

/**
 * submit_sm_resp OK for a batch of parts.
 * ARGV: prefix, now, evMax, stMax, group, smsc, dlrTtlSec, then 5 per item:
 *   queueKey, entryId, messageId, part, normalisedSmscMessageId(rawId appended after '|')
 * Returns the number of early receipts applied.
 */
export const SUBMITTED_LUA = `${COMMON}
local grp = ARGV[5]
local smsc = ARGV[6]
local ttl = ARGV[7]
local early = 0
for i = 8, #ARGV, 5 do
  local q, eid, id, part, mids = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local bar = string.find(mids, '|', 1, true)
  local norm = string.sub(mids, 1, bar - 1)
  local raw = string.sub(mids, bar + 1)
  redis.call('XACK', q, grp, eid)
  redis.call('XDEL', q, eid)
  local mkey = P .. 'm:' .. id
  local pf = 'p' .. part
  if redis.call('HGET', mkey, pf) == 'q' then
    redis.call('SET', P .. 'd:' .. smsc .. ':' .. norm, id .. '|' .. part, 'EX', ttl)
    redis.call('HSET', mkey, pf, 's', 'i' .. part, raw, 'sm', smsc)
    local ns = redis.call('HINCRBY', mkey, 'ns', 1)
    local f = redis.call('HMGET', mkey, 'n', 's')
    if ns >= tonumber(f[1]) and f[2] == 'queued' then
      redis.call('HSET', mkey, 's', 'sent', 'sa', now)
      emit(mkey, id, 'sent', nil, nil)
    end
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
return early
`;

/**
 * Final failures decided by the actor (rejected at submit, expired in queue).
 * ARGV: prefix, now, evMax, stMax, group, then 6 per item:
 *   queueKey, entryId, messageId, part, state (R|E), error code, error text
 */
export const FAILED_LUA = `${COMMON}
local grp = ARGV[5]
for i = 6, #ARGV, 7 do
  redis.call('XACK', ARGV[i], grp, ARGV[i + 1])
  redis.call('XDEL', ARGV[i], ARGV[i + 1])
  apply(ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6])
end
return 0
`;

/**
 * Delivery receipts. ARGV: prefix, now, evMax, stMax, smsc, earlyTtlSec, then per item:
 *   state (D|U|E|K|u), error code, error text, candidate count c, c candidate ids
 * Returns one code per item: 1 applied, 2 stored as early, 3 duplicate, 4 message gone.
 */
export const RECEIPTS_LUA = `${COMMON}
local smsc = ARGV[5]
local earlyTtl = ARGV[6]
local out = {}
local i = 7
while i <= #ARGV do
  local st, err, etxt, c = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  local found = nil
  for k = 1, c do
    local v = redis.call('GET', P .. 'd:' .. smsc .. ':' .. ARGV[i + 3 + k])
    if v then found = v break end
  end
  if found then
    local bar = string.find(found, '|', 1, true)
    out[#out + 1] = apply(string.sub(found, 1, bar - 1), string.sub(found, bar + 1), st, err, etxt)
  else
    for k = 1, c do
      redis.call('SET', P .. 'de:' .. smsc .. ':' .. ARGV[i + 3 + k], st .. '|' .. err .. '|' .. etxt, 'EX', earlyTtl)
    end
    out[#out + 1] = 2
  end
  i = i + 4 + c
end
return out
`;

/**
 * Ends messages whose validity plus receipt grace has passed: parts never sent
 * become expired (E), parts sent without a receipt become unknown (K).
 * ARGV: prefix, now, evMax, stMax, limit. Returns how many messages it swept.
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
  redis.call('ZREM', P .. 'exp', id)
end
return #ids
`;
