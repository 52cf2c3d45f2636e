--[[
  Records MO messages, per section: a shard (its events stream, where the
  status dispatcher and the webhook dispatcher read them; the shard is the
  sender's, so one phone's MO messages share a stream and keep their order)
  or the control slot (the stream of MO messages no tenant could be
  attributed, capped). Each complete message becomes one entry (t tenant,
  k 'mo', f the MO frame; unattributed: f only). Parts of a concatenated
  message wait in a hash of the same slot (TTL 1 h) until the last one is
  in; the frame is then built from the parts' texts in order, in the same
  call that writes the entry (a crash cannot lose the parts between the two).
  STOP/START keywords go through the opt-out store before this call.
  KEYS: per section (a shard, or the control slot; includes/sections.lua)
  KEYS[s+1] the stream: events ev:{T}, or the unattributed MO stream {c}:mou
  KEYS[s+2..] the hashes of concatenated messages' parts, mop:{T}:… or {c}:mop:…, named by index (from s)
  ARGV[1] MAXLEN ~ of the events streams
  ARGV[2..] sections: key count, ARGV count, then 7 per item: parts hash key (0: not concatenated), seq,
    total, tenant ('' unattributed), head, body, tail
  Returns: per section, a MoResult per item (Recorded: a whole message, PartStored: a part waiting for the rest).
]]
--- @include "@MoLimits"
--- @include "@MoResult"
--- @include "../../queue/lua/includes/sections"
local evMax = ARGV[1]
local res = {}
for s, a, b in sections(2) do
  local stream = KEYS[s + 1]
  local out = {}
  for i = a, b, 7 do
    local ck, seq, total, t, head, body, tail = tonumber(ARGV[i]), ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
    local complete = true
    if ck > 0 then
      local key = KEYS[s + ck]
      redis.call('HSET', key, seq, body)
      redis.call('EXPIRE', key, 3600)
      complete = false
      if redis.call('HLEN', key) >= total then
        local seqs = {}
        for k = 1, total do seqs[k] = tostring(k) end
        local parts = redis.call('HMGET', key, unpack(seqs))
        complete = true
        for k = 1, total do if not parts[k] then complete = false end end
        if complete then
          body = table.concat(parts)
          redis.call('DEL', key)
        end
      end
    end
    if complete then
      local frame = head .. body .. tail
      if t == '' then
        redis.call('XADD', stream, 'MAXLEN', '~', MoLimits.UnattributedMax, '*', 'f', frame)
      else
        redis.call('XADD', stream, 'MAXLEN', '~', evMax, '*', 't', t, 'k', 'mo', 'f', frame)
      end
      out[#out + 1] = MoResult.Recorded
    else
      out[#out + 1] = MoResult.PartStored
    end
  end
  res[#res + 1] = out
end
return res
