--[[
  Enqueue at ingress: one call per tick for every message accepted in it, in
  sections, one per shard (a message's shard is in its id: shards.ts).
  Writes the message hash (TTL), its expiry-sweep entry (scored by its validity
  end: sweep.lua), its id in the tenant's list index of the shard
  (ix:{T}:{tenant}:{minute it is due}, appended once per section, tenant and
  minute; the minute also goes into ixb:{T}:{tenant}) and puts its parts where
  they belong, all atomically per section:
    number opted out (pre-check, or oor:{T} since)  -> no entry, `stopped` (OPTED_OUT), final
    held by moderation (hold code)                  -> hold:{T}:{tenant}, `pending_approval`
    tenant paused (pz:{T}, and not scheduled)       -> park:{T}:{tenant}, `paused`
    scheduled (dueAt)                               -> the parts in the hash (b1..bn, entry header
                                                       tail qh) and sch:{T}, `scheduled`; a paused
                                                       tenant's are parked by the actor when due
    otherwise                                       -> q:{T}:{smsc}, `queued` (no event); the hash
                                                       keeps qe = the first part's entry id (cancel)
  Queue entries carry "h" header, "b" short_message bytes, "t" tenant.

  Opt-out (README "Redis Cluster"): on a single Redis the script reads the
  lists itself (a profile names its tenant's list, KEYS[s+6] is the global
  one: keys of other slots are legal outside cluster mode), atomically, so no
  opt-out can slip between a check and the write. On a cluster the lists
  live in their tenants' slots, which a shard's script cannot read: the
  caller reads them just before this call (the pre-check: `listed`), and this
  script closes the race with an opt-out recorded meanwhile: every opt-out is
  first written to each shard's oor:{T} (number -> ms recorded), then to its
  list, so a number in oor:{T} recorded at or after the pre-check (less a
  margin for clock skew between engine nodes) is stopped here. A pre-check
  older than the oor window (entries older than it are trimmed) cannot be
  trusted: the section is refused (EnqueueCode.Recheck) and the caller checks
  again.

  Profiles: what the messages of a tick share (tenant, SMSC, their keys, route,
  validity, ...) is sent once per section as a profile, and each message names
  its profile: a message costs 12 arguments and its parts instead of 27.

  Idempotent: a section already written (the call resent by the client
  library after its reply was lost with the connection) writes nothing again
  and returns the dispositions it had.
  KEYS: per section (one per shard; includes/sections.lua)
  KEYS[s+1] events stream ev:{T}
  KEYS[s+2] expiry index exp:{T}
  KEYS[s+3] schedule sch:{T}
  KEYS[s+4] paused tenants, the shard's copy pz:{T}
  KEYS[s+5] recent opt-outs oor:{T} ("tenant|number" -> ms recorded; '*' the global list)
  KEYS[s+6..] on a single Redis first the global opt-out list oo:* (then its tenants' lists); message
    hashes m:{T}:{id}, queues q:{T}:{smsc}, hold:/park:{T}:{tenant}, ix:{T}:{tenant}:{minute},
    ixb:{T}:{tenant}, opt-out lists oo:{tenant}, named by index (from s) in the profiles and items
  ARGV[1] MAXLEN ~ of the events streams
  ARGV[2] seconds a final message hash is kept
  ARGV[3] pre-check time, ms: the opt-out lists were read at or after it; 0: no pre-check, the script
    reads the lists (single Redis) and neither refuses nor reads oor:{T}
  ARGV[4] how far back oor:{T} reaches, ms (a pre-check older than that is refused)
  ARGV[5] ms by which an oor:{T} entry may predate the pre-check and still stop a message (clock skew)
  ARGV[6..] sections: key count, ARGV count, then the number of profiles P, P profiles of 17 fields:
    queue key, park key, hold key (0 = not held), list key, list minutes key, the tenant's opt-out list
    (0: pre-checked, `listed` says; else the script reads it and the global list KEYS[s+6]) (key indexes
    from s), tenant, smsc, ttlSec, push (0|1), route record, dueAt (ms; 0 = now), billOnDelivery (0|1),
    hold code, hold text, due minute, callback URL ('' none: the tenant's webhook; else kept in the
    hash as cb and in every status event's `o` field);
    then per message 12 fields and its parts: message hash key (index from s), profile (1..P), id, ref,
    to, from, dataCoding, esmClass, n, acceptedAt, validUntil, listed (1: on an opt-out list at the
    pre-check; + 2: the message has an idempotency key), part 1 .. part n bytes, and with a key three more:
    the key idk:{T}:... (index from s), the submit's body hash, the key's window in ms
  Returns: per section, one EnqueueCode character per message (Queued q, Stopped s, Held h, Paused p,
    Scheduled d, Repeat u, Conflict c), then for each Repeat a line "\n<id>|<code>" (the original
    message and its code), or Recheck (the whole section, nothing written).

  Idempotency keys (issue 15; only messages that carry one take this branch): a key's record
  idk:{T}:<tenant>:<key> = "<body hash>|<id>|<code>" is written in the same call as its message, so a
  crash never leaves one without the other. A key whose record names another message is a repeat
  (same hash: nothing written, the original's id and code returned) or a conflict (another body).
]]
--- @include "@EnqueueCode"
--- @include "includes/sections"
local evMax, finalTtl = ARGV[1], ARGV[2]
local checkedAt, oorWindow, skew = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local FIELDS, PFIELDS = 12, 17
local tm = redis.call('TIME')
local serverNow = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
local CODE = { stopped = EnqueueCode.Stopped, pending_approval = EnqueueCode.Held, paused = EnqueueCode.Paused, scheduled = EnqueueCode.Scheduled }
local OPTED_OUT, OPTED_OUT_TEXT = 'OPTED_OUT', 'the number is on the opt-out (STOP) list'

-- Idempotency keys: the record of message i's key when it names another message (a repeat or a
-- conflict), else nil; and where the next message starts.
local function otherRecord(s, i)
  local n = tonumber(ARGV[i + 8])
  if tonumber(ARGV[i + 11]) < 2 then return nil, i + FIELDS + n end
  local rec = redis.call('GET', KEYS[s + tonumber(ARGV[i + FIELDS + n])])
  if rec and string.match(rec, '^[^|]*|([^|]*)|') ~= ARGV[i + 2] then return rec, i + FIELDS + n + 3 end
  return nil, i + FIELDS + n + 3
end

-- A repeat (the original's "id|code" added to `repeats`) or a conflict, by the record's body hash.
local function repeatOrConflict(s, i, rec, repeats)
  local h, rest = string.match(rec, '^([^|]*)|(.*)$')
  if h ~= ARGV[i + FIELDS + tonumber(ARGV[i + 8]) + 1] then return EnqueueCode.Conflict end
  repeats[#repeats + 1] = rest
  return EnqueueCode.Repeat
end

-- Whether an earlier run of this call wrote the section: its first message that is not a repeat
-- or conflict exists (a keyed message: its key's record names it).
local function written(s, a, b)
  local i = a
  while i <= b do
    local n = tonumber(ARGV[i + 8])
    if tonumber(ARGV[i + 11]) < 2 then return redis.call('EXISTS', KEYS[s + tonumber(ARGV[i])]) == 1 end
    local rec = redis.call('GET', KEYS[s + tonumber(ARGV[i + FIELDS + n])])
    if not rec then return false end
    if string.match(rec, '^[^|]*|([^|]*)|') == ARGV[i + 2] then return true end
    i = i + FIELDS + n + 3
  end
  return false
end

local function withRepeats(codes, repeats)
  if #repeats == 0 then return table.concat(codes) end
  return table.concat(codes) .. '\n' .. table.concat(repeats, '\n')
end

-- The messages to write, in order: repeats and conflicts get their code in `disp` and are skipped;
-- a new key's record is set once its message's code is known (at the next step).
local function toWrite(s, a, b, disp, repeats)
  local i, rec, nxt, key = nil, nil, a, nil
  return function()
    if key ~= nil then
      redis.call('SET', KEYS[s + tonumber(key)], ARGV[i + FIELDS + tonumber(ARGV[i + 8]) + 1] .. '|' .. ARGV[i + 2] .. '|' .. disp[#disp], 'PX', ARGV[i + FIELDS + tonumber(ARGV[i + 8]) + 2])
      key = nil
    end
    while nxt <= b do
      i = nxt
      rec, nxt = otherRecord(s, i)
      if rec == nil then
        if tonumber(ARGV[i + 11]) >= 2 then key = ARGV[i + FIELDS + tonumber(ARGV[i + 8])] end
        return i
      end
      disp[#disp + 1] = repeatOrConflict(s, i, rec, repeats)
    end
    return nil
  end
end

local function enqueueSection(s, a0, b)
  local EV, EXP, SCH, PZ, OOR = KEYS[s + 1], KEYS[s + 2], KEYS[s + 3], KEYS[s + 4], KEYS[s + 5]
  -- The section's profiles, then its messages from `a`.
  local np = tonumber(ARGV[a0])
  local a = a0 + 1 + np * PFIELDS
  -- The section is atomic: if its first message exists, the whole section was written.
  if a <= b and written(s, a, b) then
    local out, repeats = {}, {}
    local j = a
    while j <= b do
      local rec, nxt = otherRecord(s, j)
      if rec then out[#out + 1] = repeatOrConflict(s, j, rec, repeats)
      else out[#out + 1] = CODE[redis.call('HGET', KEYS[s + tonumber(ARGV[j])], 's')] or EnqueueCode.Queued end
      j = nxt
    end
    return withRepeats(out, repeats)
  end
  -- checkedAt 0: no pre-check, the profiles name the lists and this script reads them (single Redis).
  if checkedAt > 0 and serverNow - checkedAt > oorWindow then return EnqueueCode.Recheck end
  local anyRecent = checkedAt > 0 and redis.call('EXISTS', OOR) == 1
  local profiles = {}
  for k = 1, np do
    local o = a0 + 1 + (k - 1) * PFIELDS
    profiles[k] = {
      sq = KEYS[s + tonumber(ARGV[o])], pk = ARGV[o + 1], hk = tonumber(ARGV[o + 2]), xi = ARGV[o + 3], bi = ARGV[o + 4], oo = tonumber(ARGV[o + 5]),
      t = ARGV[o + 6], sm = ARGV[o + 7], ttl = ARGV[o + 8], d = ARGV[o + 9], rt = ARGV[o + 10], due = ARGV[o + 11], bd = ARGV[o + 12],
      hc = ARGV[o + 13], htx = ARGV[o + 14], minute = ARGV[o + 15], cb = ARGV[o + 16],
    }
  end
  -- Opt-out lists read in the script (single Redis): whether each exists, asked once per section.
  local listExists = {}
  local function onList(key, to)
    local e = listExists[key]
    if e == nil then
      e = redis.call('EXISTS', key) == 1
      listExists[key] = e
    end
    return e and redis.call('ZSCORE', key, to) ~= false
  end
  local exp, sch, disp, repeats = {}, {}, {}, {}
  local pausedOf = {}
  -- List index: ids by (list key), in the order accepted; minutes by (minutes key).
  local ixLists, ixOrder = {}, {}
  local lastX, ixl = nil, nil
  local function emit(id, t, r, status, at, code, text, sm, to, n, ac, rt, d, o)
    local fr = { op = 'status', id = id, status = status, at = tonumber(at) }
    if r ~= '' then fr.ref = r end
    if code then fr.error = { code = code, text = text } end
    local x = sm .. '|' .. to .. '|' .. n .. '|' .. ac .. '|' .. rt
    if d ~= '0' then
      redis.call('XADD', EV, 'MAXLEN', '~', evMax, '*', 't', t, 'f', cjson.encode(fr), 'x', x, 'o', o)
    else
      redis.call('XADD', EV, 'MAXLEN', '~', evMax, '*', 't', t, 'f', cjson.encode(fr), 'x', x, 'o', o, 'p', '0')
    end
  end
  for i in toWrite(s, a, b, disp, repeats) do
    local mkey, pr = KEYS[s + tonumber(ARGV[i])], profiles[tonumber(ARGV[i + 1])]
    local sq, pk, hk, xi, bi = pr.sq, pr.pk, pr.hk, pr.xi, pr.bi
    local t, sm, ttl, d, rt, due, bd, hc, htx, minute = pr.t, pr.sm, pr.ttl, pr.d, pr.rt, pr.due, pr.bd, pr.hc, pr.htx, pr.minute
    local id, r, to, fr, dcs, esm = ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7]
    local n = tonumber(ARGV[i + 8])
    local ac, v, listed = ARGV[i + 9], ARGV[i + 10], ARGV[i + 11]
    if listed == '3' then listed = '1' end
    local p1 = i + FIELDS
    local tail = '|' .. n .. '|' .. to .. '|' .. fr .. '|' .. string.format('%d', math.floor(tonumber(v) / 1000)) .. '|' .. dcs .. '|' .. esm
    if xi ~= lastX then
      ixl = ixLists[xi]
      if ixl == nil then
        ixl = {}
        ixLists[xi] = ixl
        ixOrder[#ixOrder + 1] = { xi, bi, minute }
      end
      lastX = xi
    end
    ixl[#ixl + 1] = id
    if pr.oo ~= 0 and (onList(KEYS[s + pr.oo], to) or onList(KEYS[s + 6], to)) then listed = '1' end
    local stopped = listed == '1'
    if not stopped and anyRecent then
      -- Members are "tenant|number" ('*' the global list): another tenant's opt-out is not this message's.
      local a1, a2 = redis.call('ZSCORE', OOR, t .. '|' .. to), redis.call('ZSCORE', OOR, '*|' .. to)
      stopped = (a1 ~= false and tonumber(a1) >= checkedAt - skew) or (a2 ~= false and tonumber(a2) >= checkedAt - skew)
    end
    local q, status, code, text
    if stopped then
      status = 'stopped'
    elseif hk ~= 0 then
      status = 'pending_approval'
      q = KEYS[s + hk]
      code, text = hc, htx
    elseif due ~= '0' then
      status = 'scheduled'
    else
      local pz = pausedOf[t]
      if pz == nil then
        pz = redis.call('SISMEMBER', PZ, t) == 1
        pausedOf[t] = pz
      end
      if pz then
        status = 'paused'
        q = KEYS[s + tonumber(pk)]
      else
        status = 'queued'
      end
    end
    if status == 'queued' then
      local first = redis.call('XADD', sq, '*', 'h', id .. '|1' .. tail, 'b', ARGV[p1], 't', t)
      for k = 2, n do
        redis.call('XADD', sq, '*', 'h', id .. '|' .. k .. tail, 'b', ARGV[p1 - 1 + k], 't', t)
      end
      if n == 1 and bd == '0' then
        redis.call('HSET', mkey, 't', t, 'r', r, 'to', to, 'fr', fr, 'n', 1, 's', 'queued', 'ac', ac, 'sm', sm, 'v', v, 'd', d, 'rt', rt, 'p1', 'q', 'qe', first)
      else
        local f = { 't', t, 'r', r, 'to', to, 'fr', fr, 'n', n, 's', 'queued', 'ac', ac, 'sm', sm, 'v', v, 'd', d, 'rt', rt, 'qe', first }
        for k = 1, n do f[#f + 1] = 'p' .. k; f[#f + 1] = 'q' end
        if bd == '1' then f[#f + 1] = 'bd'; f[#f + 1] = '1' end
        redis.call('HSET', mkey, unpack(f))
      end
      disp[#disp + 1] = EnqueueCode.Queued
    else
      local f = { 't', t, 'r', r, 'to', to, 'fr', fr, 'n', n, 's', status, 'ac', ac, 'sm', sm, 'v', v, 'd', d, 'rt', rt }
      if bd == '1' then f[#f + 1] = 'bd'; f[#f + 1] = '1' end
      if stopped then
        code, text = OPTED_OUT, OPTED_OUT_TEXT
        for _, x in ipairs({ 'w', 5, 'we', code, 'wt', text, 'nf', n, 'fa', ac }) do f[#f + 1] = x end
        for k = 1, n do f[#f + 1] = 'p' .. k; f[#f + 1] = 'S' end
        disp[#disp + 1] = EnqueueCode.Stopped
      elseif status == 'scheduled' then
        for _, x in ipairs({ 'da', due, 'qh', tail }) do f[#f + 1] = x end
        for k = 1, n do
          f[#f + 1] = 'p' .. k; f[#f + 1] = 'q'
          f[#f + 1] = 'b' .. k; f[#f + 1] = ARGV[p1 - 1 + k]
        end
        sch[#sch + 1] = due
        sch[#sch + 1] = id
        disp[#disp + 1] = EnqueueCode.Scheduled
      else
        if code then for _, x in ipairs({ 'hr', code, 'ht', text }) do f[#f + 1] = x end end
        -- A held message with a sendAt keeps it: approved before it is due, it is scheduled, not queued.
        if code and due ~= '0' then for _, x in ipairs({ 'da', due, 'qh', tail }) do f[#f + 1] = x end end
        for k = 1, n do f[#f + 1] = 'p' .. k; f[#f + 1] = 'q' end
        -- pa: when it was paused (the lookup's history)
        if status == 'paused' then f[#f + 1] = 'pa'; f[#f + 1] = ac end
        disp[#disp + 1] = status == 'paused' and EnqueueCode.Paused or EnqueueCode.Held
      end
      redis.call('HSET', mkey, unpack(f))
      if q ~= nil then
        for k = 1, n do
          local eid = redis.call('XADD', q, '*', 'h', id .. '|' .. k .. tail, 'b', ARGV[p1 - 1 + k], 't', t, 'q', sq)
          -- he: where a held message's parts start (approve, reject); pe: the whole message was
          -- parked at acceptance, so a cancel may stop it (parts an actor parks later have none).
          if k == 1 then redis.call('HSET', mkey, code and 'he' or 'pe', eid) end
        end
      end
      emit(id, t, r, status, ac, code, text, sm, to, n, ac, rt, d, fr .. '|' .. pr.cb)
    end
    if pr.cb ~= '' then redis.call('HSET', mkey, 'cb', pr.cb) end
    if stopped then
      redis.call('EXPIRE', mkey, finalTtl)
    else
      redis.call('EXPIRE', mkey, ttl)
      -- The expiry sweep meets it at its validity end (sweep.lua).
      exp[#exp + 1] = v
      exp[#exp + 1] = id
    end
  end
  -- The expiry index and the schedule in one ZADD per section, the list index in one RPUSH per list.
  for k = 1, #exp, 5000 do
    redis.call('ZADD', EXP, unpack(exp, k, math.min(k + 4999, #exp)))
  end
  for k = 1, #sch, 5000 do
    redis.call('ZADD', SCH, unpack(sch, k, math.min(k + 4999, #sch)))
  end
  for _, e in ipairs(ixOrder) do
    local ids = ixLists[e[1]]
    for k = 1, #ids, 5000 do
      redis.call('RPUSH', KEYS[s + tonumber(e[1])], unpack(ids, k, math.min(k + 4999, #ids)))
    end
    redis.call('ZADD', KEYS[s + tonumber(e[2])], e[3], e[3])
  end
  return withRepeats(disp, repeats)
end

local out = {}
for s, a, b in sections(6) do
  out[#out + 1] = enqueueSection(s, a, b)
end
return out
