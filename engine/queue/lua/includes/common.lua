--[[
  The state machine shared by every script that changes a message's state
  (queue/, parking/ scripts): message-hash reads (hm, F), `emit` (one events
  entry per status change), `apply` (a part's new state, the message's when
  every part is final), usage billing (`bill`) and the expiry index.

  Scripts work in sections (includes/sections.lua), one per shard; the keys a
  state change writes besides the message hash are the shard's, and are named
  once per section:

    section(ev, exp, us)     starts a section: its events stream ev:{T}, expiry
                             index exp:{T} and usage hash us:{T}:{day of now}
                             (us may be nil for a script that never bills)
    hm(mkey, part) / F       the fields every state change reads (message-fields.ts)
    emit(id, f, status, err, etxt, raw)      one entry in the section's events stream
    apply(mkey, id, part, st, err, etxt, raw) a part's new state; returns a ReceiptResult
    bill(f, msgs, segs)      usage, gathered over the section
    finish(id)               the message leaves the section's expiry index
    endSection()             writes what the section gathered: one ZREM on exp, the usage
                             HINCRBYs (every script calls it after each section)

  Part states in the message hash (field p<i>):
    q queued (also while scheduled, held or paused) · s sent (awaiting receipt) · u unreachable (temporary, SMSC retrying)
    final: D delivered · K unknown · E expired · U undelivered · R rejected · S stopped (cancelled, opted out,
    refused by a moderator)
  A message is final when every part is; its status is the worst part's
  (rank D < K < E < U < R < S), with that part's error code and text.

  Each state change reads the message hash once (HMGET), writes it once (HSET)
  and appends one entry to the events stream (analytics/status-events.ts):
    t = tenant, f = the status frame JSON (the dispatcher forwards it as is),
    x = what analytics needs beyond the frame, positional
        "smsc|to|parts|acceptedAt|country|mcc|mnc|price|currency|latencyMs|raw":
        latencyMs (sent -> this receipt) and raw (the operator's receipt text, kept
        for failures only: delivered receipts say nothing a row does not) are
        filled only on events a receipt caused; raw is last and may hold '|',
    p = '0' when the client asked for no status pushes.
  Usage (billing): us:{T}:{day} holds fields <tenant>|m messages, <tenant>|s
  segments, <tenant>|c:<currency> cost in millionths (kept 400 days); one
  HINCRBY per tenant and field per section, never one per message. Readers
  sum the S shards' hashes (engine/lifecycle/usage.ts).

  Reads ARGV[1] now (ms), ARGV[2] evMax (MAXLEN ~ of the events streams),
  ARGV[3] finalTtl (s): every script including it declares those three first.
]]
--- @include "@ReceiptResult"
local now = tonumber(ARGV[1])
local evMax = ARGV[2]
local finalTtl = ARGV[3]
local RANK = { D = 0, K = 1, E = 2, U = 3, R = 4, S = 5 }
local NAMES = { [0] = 'delivered', [1] = 'unknown', [2] = 'expired', [3] = 'undelivered', [4] = 'rejected', [5] = 'stopped' }

local function nz(v) if v == false or v == nil or v == '' then return nil end return v end

--- @include "@message-fields"

-- The current section's keys, and what it gathers until endSection.
local EV, EXP, US
-- Messages that became final in this section leave the expiry index in one ZREM at its end.
local finished = {}
-- Usage totals per tenant and currency; a route record's price is read once per call.
local usage = {}
local rtInfo = {}

local function section(ev, exp, us)
  EV, EXP, US = ev, exp, us
  finished = {}
  usage = {}
end

local function finish(id)
  finished[#finished + 1] = id
end

local function bill(f, msgs, segs)
  local rt = f[F.route] or ''
  local info = rtInfo[rt]
  if info == nil then
    local price, cur = string.match(rt, '^[^|]*|[^|]*|[^|]*|([^|]*)|([^|]*)$')
    info = { math.floor((tonumber(price) or 0) * 1000000 + 0.5), cur or '' }
    rtInfo[rt] = info
  end
  local byCur = usage[f[F.tenant]]
  if byCur == nil then byCur = {}; usage[f[F.tenant]] = byCur end
  local u = byCur[info[2]]
  if u == nil then u = { 0, 0, 0 }; byCur[info[2]] = u end
  u[1] = u[1] + msgs
  u[2] = u[2] + segs
  u[3] = u[3] + info[1] * segs
end

local function endSection()
  for k = 1, #finished, 5000 do
    redis.call('ZREM', EXP, unpack(finished, k, math.min(k + 4999, #finished)))
  end
  finished = {}
  if next(usage) == nil then return end
  for t, byCur in pairs(usage) do
    for cur, u in pairs(byCur) do
      if u[1] > 0 then redis.call('HINCRBY', US, t .. '|m', u[1]) end
      redis.call('HINCRBY', US, t .. '|s', u[2])
      if u[3] > 0 then redis.call('HINCRBY', US, t .. '|c:' .. cur, string.format('%d', u[3])) end
    end
  end
  -- Kept 400 days from the first write of the day.
  redis.call('EXPIRE', US, 400 * 86400, 'NX')
  usage = {}
end

-- "state|err|text|raw" -> its four fields (raw is last and may hold '|').
local function splitReceipt(r)
  local a = string.find(r, '|', 1, true)
  local b = string.find(r, '|', a + 1, true)
  local c = string.find(r, '|', b + 1, true)
  return string.sub(r, 1, a - 1), string.sub(r, a + 1, b - 1), string.sub(r, b + 1, (c or 0) - 1), c and string.sub(r, c + 1) or ''
end

-- Notes that queue entry `id` of queue stream `q` left its queue (acknowledged by ackAll at the end of the call).
local function addAck(acks, q, id)
  local list = acks[q]
  if list == nil then list = {}; acks[q] = list end
  list[#list + 1] = id
end

-- Acknowledges and deletes the queue entries that left their queue: acks[queue stream] = { entry ids }.
-- One XACK and one XDEL per queue, in chunks of 5,000 (unpack's stack limit).
local function ackAll(acks, grp)
  for q, list in pairs(acks) do
    for k = 1, #list, 5000 do
      local last = math.min(k + 4999, #list)
      redis.call('XACK', q, grp, unpack(list, k, last))
      redis.call('XDEL', q, unpack(list, k, last))
    end
  end
end

-- f: the HMGET above. One XADD per status change. raw ~= nil: a receipt caused it (raw: its text, '' for delivered).
local function emit(id, f, status, err, etxt, raw)
  local fr = { op = 'status', id = id, ref = nz(f[F.ref]), status = status, at = now }
  if nz(err) or nz(etxt) then fr.error = { code = nz(err), text = nz(etxt) } end
  local lat = ''
  if raw ~= nil and f[F.sentAt] then lat = now - tonumber(f[F.sentAt]) end
  local x = (f[F.smsc] or '') .. '|' .. f[F.to] .. '|' .. f[F.parts] .. '|' .. f[F.acceptedAt] .. '|' .. (f[F.route] or '||||') .. '|' .. lat .. '|' .. (raw or '')
  -- o: "from|callbackUrl" (issue 15: webhook payloads; a per-message callback overrides the tenant's URL).
  local o = (f[F.from] or '') .. '|' .. (f[F.callbackUrl] or '')
  if f[F.push] ~= '0' then
    redis.call('XADD', EV, 'MAXLEN', '~', evMax, '*', 't', f[F.tenant], 'f', cjson.encode(fr), 'x', x, 'o', o)
  else
    redis.call('XADD', EV, 'MAXLEN', '~', evMax, '*', 't', f[F.tenant], 'f', cjson.encode(fr), 'x', x, 'o', o, 'p', '0')
  end
end

-- Sent time of the message last applied to (for receipt latency), or nil.
local lastSa = nil
-- Applies a final or temporary part state to message `id` (hash mkey). Returns ReceiptResult.Applied,
-- .Duplicate (the part is final already) or .Gone (no such message). `f`, when given, is hm(mkey, part)
-- read by the caller just before.
local function apply(mkey, id, part, st, err, etxt, raw, f)
  f = f or hm(mkey, part)
  local cur = f[F.partState]
  lastSa = tonumber(f[F.sentAt] or '')
  if not cur then return ReceiptResult.Gone end
  if cur ~= 'q' and cur ~= 's' and cur ~= 'u' then return ReceiptResult.Duplicate end
  local pf = 'p' .. part
  if st == 'u' then
    if f[F.status] == 'sent' then
      redis.call('HSET', mkey, pf, 'u', 's', 'unreachable', 'ua', now)
      emit(id, f, 'unreachable', err, etxt, raw)
    else
      redis.call('HSET', mkey, pf, 'u')
    end
    return ReceiptResult.Applied
  end
  local w = tonumber(f[F.worstRank] or '-1')
  local we, wt = f[F.worstError] or '', f[F.worstText] or ''
  -- The worst part's error is the message's. A delivered part has none: a receipt's "000"/"DELIVRD"
  -- is no error, and frames and lookups carry `error` for failures only (issue 12).
  if RANK[st] > w then
    w = RANK[st]
    if st ~= 'D' then we = err or ''; wt = etxt or '' end
  end
  local nf = tonumber(f[F.partsFinal] or '0') + 1
  if nf >= tonumber(f[F.parts]) then
    local status = NAMES[w]
    redis.call('HSET', mkey, pf, st, 'w', w, 'we', we, 'wt', wt, 'nf', nf, 's', status, 'fa', now)
    -- Final: keep the hash for the reporting window only, and leave the expiry sweep.
    redis.call('EXPIRE', mkey, finalTtl)
    finish(id)
    emit(id, f, status, we, wt, raw)
    -- Tenants billed on delivery (bd=1) pay for delivered messages only, every part.
    if w == 0 and f[F.billOnDelivery] == '1' then bill(f, 1, tonumber(f[F.parts])) end
  else
    redis.call('HSET', mkey, pf, st, 'w', w, 'we', we, 'wt', wt, 'nf', nf)
  end
  return ReceiptResult.Applied
end
