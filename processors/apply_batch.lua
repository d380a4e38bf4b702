-- Apply one batch of folded events atomically: one round trip, all or nothing
-- visible, and idempotent so that an at-least-once replay changes nothing.
--
-- ARGV[1] is JSON:
--   now      worker clock, epoch seconds
--   health   key of the pipeline-health hash
--   parts    key of the per-partition processed counts (field "topic|partition")
--   seen     prefix of the dedupe keys (+ event id)
--   rejected prefix of the rejected-marker keys (+ source)
--   versions the bucket-versions hash (bucket_versions.lua, prepended to this script)
--   shared   values many updates share, referred to by 0-based position: bucket
--            target lists {{key, expire_at}, ...}, topics, segment-set keys
--   u        updates: {e=event id, f=fingerprint, src="topic:partition:offset[#index]",
--                      t=topic (shared), p="topic|partition" (shared), x=dedupe expire-at, s=segment,
--                      sk=segments-set key (shared), ts=event time,
--                      c={field=amount}, b=bucket targets (shared),
--                      optional: o={op, ...}, ag=agent, ab=agent bucket targets (shared),
--                      ask=agent segments key (shared), at={contact key, fill queue?, fill agent?},
--                      lc={lifecycle key, step, event time, ttl}}
--   r        rejections already dead-lettered: {src=source, t=topic (shared), reason=...}
-- Returns one status per update (0 new, 1 duplicate, 2 conflict, 3 replay,
-- 4 out of order), then one per rejection (0 counted now, 1 counted before).

local batch = cjson.decode(ARGV[1])
local now = tonumber(batch.now)
local health = batch.health
local parts = batch.parts
local shared = batch.shared
local seen_prefix, rejected_prefix = batch.seen, batch.rejected
local versions = batch.versions
local NO_OPS = {}
local MARKER_TTL = 7 * 86400
local out = {}

-- Counter increments and TTLs are summed here and written once per (key, field) at
-- the end: a batch's events mostly hit the same few buckets, so this turns thousands
-- of HINCRBYFLOAT calls into a few hundred. Nothing in the script reads a counter
-- back, except bump_live's EXISTS, which also looks at what is pending.
local pending, pending_ttl, pending_max = {}, {}, {}
-- members to add to each segment set, added once per set at the end
local pending_members = {}

-- parent[name], created empty the first time
local function child(parent, name)
  local t = parent[name]
  if not t then
    t = {}
    parent[name] = t
  end
  return t
end

local function add_member(key, member)
  child(pending_members, key)[member] = true
end

local function bump(key, field, amount)
  local fields = child(pending, key)
  fields[field] = (fields[field] or 0) + amount
end

local grouped = {}  -- keys with counts still waiting in `groups` (add_counts)
local function exists(key)
  return pending[key] ~= nil or grouped[key] or redis.call('EXISTS', key) == 1
end

local function split(text)
  local parts = {}
  for piece in string.gmatch(text, '([^\t]+)') do parts[#parts + 1] = piece end
  return parts
end

local function bump_live(keys_list, seg, field)
  -- an earlier contact's buckets may have expired: never recreate one without a TTL
  for _, key in ipairs(keys_list) do
    if exists(key) then bump(key, seg .. '|' .. field, 1) end
  end
end

local function max_field(field, value)
  local cur = pending_max[field]
  if not cur or value > cur then pending_max[field] = value end
end

-- An event's counts are first summed per (target list, segment), and spread over the
-- list's keys once at the end: the events of a batch share a few target lists (one
-- per minute) and segments, so the "segment|field" names are built per group instead
-- of per event and target (5-9 % of the script's time per event, measured on the
-- benchmark's mix). `grouped` keeps exists() right for buckets only counted so far.
local groups = {}
local function add_counts(targets, seg, counts)
  if not groups[targets] then
    for _, target in ipairs(targets) do grouped[target[1]] = true end
  end
  local sums = child(child(groups, targets), seg)
  for field, amount in pairs(counts) do
    sums[field] = (sums[field] or 0) + amount
  end
end

local function flush_groups()
  for targets, by_seg in pairs(groups) do
    for _, target in ipairs(targets) do
      for seg, sums in pairs(by_seg) do
        for field, amount in pairs(sums) do bump(target[1], seg .. '|' .. field, amount) end
      end
      if target[2] > 0 then pending_ttl[target[1]] = target[2] end
    end
  end
end

local function run_op(op, seg, u)
  local kind = op[1]
  if kind == 'wait_add' then
    -- zkey, call id, queued at, ended-marker key, max age
    if redis.call('EXISTS', op[5]) == 0 then
      redis.call('ZADD', op[2], op[4], op[3])
    end
    redis.call('ZREMRANGEBYSCORE', op[2], '-inf', '(' .. tostring(now - op[6]))
  elseif kind == 'wait_end' then
    -- zkey, call id, ended-marker key, marker ttl
    redis.call('ZREM', op[2], op[3])
    redis.call('SET', op[4], '1', 'EX', math.ceil(op[5]))
  elseif kind == 'contact' then
    -- history key, event time (ms), window (ms), segment, bucket keys, event id, keep (ms)
    -- A contact is a repeat if another came at most `window` before it, and is
    -- "followed by repeat" if another came at most `window` after it. The history
    -- is a sorted set, so a late contact landing between two others is judged
    -- against both neighbours, and each contact is credited at most once per side.
    local hist, ts, window, seg, mine, eid, ttl = op[2], op[3], op[4], op[5], op[6], op[7], op[8]
    local pred = redis.call('ZREVRANGEBYSCORE', hist, ts, ts - window, 'LIMIT', 0, 1)
    local succ = redis.call('ZRANGEBYSCORE', hist, '(' .. tostring(ts), ts + window, 'LIMIT', 0, 1)
    if pred[1] then
      bump_live(mine, seg, 'repeat_contacts')
      local p = split(pred[1])
      local pts = tonumber(p[1])
      -- credit the predecessor only if nobody followed it before this contact
      if redis.call('ZCOUNT', hist, '(' .. tostring(pts), pts + window) == 0 then
        bump_live({unpack(p, 4)}, p[3], 'followed_by_repeat')
      end
    end
    if succ[1] then
      bump_live(mine, seg, 'followed_by_repeat')
      local n = split(succ[1])
      local nts = tonumber(n[1])
      -- credit the successor only if nobody preceded it before this contact
      if redis.call('ZCOUNT', hist, nts - window, '(' .. tostring(nts)) == 0 then
        bump_live({unpack(n, 4)}, n[3], 'repeat_contacts')
      end
    end
    local member = tostring(ts) .. '\t' .. eid .. '\t' .. seg .. '\t' .. table.concat(mine, '\t')
    redis.call('ZADD', hist, ts, member)
    redis.call('ZREMRANGEBYSCORE', hist, '-inf', '(' .. tostring(ts - ttl))
    redis.call('PEXPIRE', hist, ttl)
  elseif kind == 'once' then
    -- marker key, ttl, field: count the field the first time only (e.g. an escalated ticket)
    if redis.call('SET', op[2], '1', 'NX', 'EX', op[3]) then add_counts(u.b, seg, {[op[4]] = 1}) end
  elseif kind == 'contact_map' then
    -- contact key, queue, agent, ttl: lets a later survey find its queue and agent
    redis.call('SET', op[2], op[3] .. '\t' .. op[4], 'EX', op[5])
  elseif kind == 'lastn' then
    -- key prefix (+ final segment), class letter, n
    local key = op[2] .. seg
    redis.call('LPUSH', key, op[3])
    redis.call('LTRIM', key, 0, op[4] - 1)
  elseif kind == 'reopen' then
    -- backlog zset, ticket id, open-since, ended-marker key
    redis.call('DEL', op[5])
    redis.call('ZADD', op[2], op[4], op[3])
  elseif kind == 'move' then
    -- from zset, to zset, member, ended-marker key: keep its open-since score
    local score = redis.call('ZSCORE', op[2], op[4])
    if score and redis.call('EXISTS', op[5]) == 0 then
      redis.call('ZREM', op[2], op[4])
      redis.call('ZADD', op[3], score, op[4])
    end
  elseif kind == 'cart_touch' then
    -- open-carts zset, member, activity time, ended-marker key
    if redis.call('EXISTS', op[5]) == 0 then
      redis.call('ZADD', op[2], 'GT', op[4], op[3])
    end
  elseif kind == 'cart_end' then
    -- open-carts zset, member, ended-marker key, marker ttl, field to count unless already ended
    redis.call('ZREM', op[2], op[3])
    local already = redis.call('EXISTS', op[4])
    redis.call('SET', op[4], '1', 'EX', op[5])
    if op[6] ~= '' and already == 0 then add_counts(u.b, seg, {[op[6]] = 1}) end
  else
    error('unknown op ' .. tostring(kind))
  end
end

-- A call's lifecycle must be possible in event time: answered/abandoned not before it
-- was queued, completed only after an answer. Publish order may differ (a retry),
-- times may not. Returns true if the step fits; records it if so.
local TOLERANCE = 1.0
local function lifecycle_fits(lc)
  local key, step, ts, ttl = lc[1], lc[2], lc[3], lc[4]
  local known = redis.call('HMGET', key, 'queued', 'answered', 'abandoned')
  local queued, answered = tonumber(known[1] or ''), tonumber(known[2] or '')
  local ended = answered or tonumber(known[3] or '')
  if step == 'queued' then
    if ended and ended < ts - TOLERANCE then return false end
  elseif step == 'answered' or step == 'abandoned' then
    if queued and ts < queued - TOLERANCE then return false end
  elseif step == 'completed' then
    if not answered or ts < answered - TOLERANCE then return false end
  end
  redis.call('HSET', key, step, ts)
  redis.call('EXPIRE', key, ttl)
  return true
end

for _, u in ipairs(batch.u) do
  local topic = shared[u.t + 1]
  local dedupe = seen_prefix .. u.e
  local stored = redis.call('GET', dedupe)
  if not stored and u.lc and not lifecycle_fits(u.lc) then
    out[#out + 1] = 4
    if redis.call('SET', rejected_prefix .. u.src, 'out_of_order', 'NX', 'EX', MARKER_TTL) then
      bump(health, topic .. '|rejected|out_of_order', 1)
    end
  elseif stored then
    local sep = string.find(stored, '|', 1, true)
    local fp, src = string.sub(stored, 1, sep - 1), string.sub(stored, sep + 1)
    if src == u.src then
      out[#out + 1] = 3
      bump(health, topic .. '|replayed', 1)
    elseif fp == u.f then
      out[#out + 1] = 1
      if redis.call('SET', rejected_prefix .. u.src, 'dup', 'NX', 'EX', MARKER_TTL) then
        bump(health, topic .. '|duplicate', 1)
      end
    else
      out[#out + 1] = 2
      if redis.call('SET', rejected_prefix .. u.src, 'conflict', 'NX', 'EX', MARKER_TTL) then
        bump(health, topic .. '|rejected|conflict', 1)
      end
    end
  else
    redis.call('SET', dedupe, u.f .. '|' .. u.src, 'EXAT', u.x)
    local seg, agent = u.s, u.ag
    if u.at then
      local known = redis.call('GET', u.at[1])
      if known then
        local tab = string.find(known, '\t', 1, true)
        local kqueue, kagent = string.sub(known, 1, tab - 1), string.sub(known, tab + 1)
        -- the segment starts with "-" when the event named no queue
        if u.at[2] and kqueue ~= '' then seg = kqueue .. string.sub(seg, 2) end
        if u.at[3] and kagent ~= '' then agent = kagent end
      end
    end
    -- ops find the event's bucket targets here
    u.b = shared[u.b + 1]
    add_counts(u.b, seg, u.c)
    add_member(shared[u.sk + 1], seg)
    if agent and agent ~= cjson.null then
      add_counts(shared[u.ab + 1], agent, u.c)
      add_member(shared[u.ask + 1], agent)
    end
    for _, op in ipairs(u.o or NO_OPS) do run_op(op, seg, u) end
    bump(health, topic .. '|processed', 1)
    bump(parts, shared[u.p + 1], 1)
    max_field(topic .. '|last_event_ts', u.ts)
    out[#out + 1] = 0
  end
  max_field(topic .. '|last_processed_ts', now)
end

for _, r in ipairs(batch.r) do
  local topic = shared[r.t + 1]
  if redis.call('SET', rejected_prefix .. r.src, r.reason, 'NX', 'EX', MARKER_TTL) then
    bump(health, topic .. '|rejected|' .. r.reason, 1)
    out[#out + 1] = 0
  else
    out[#out + 1] = 1
  end
  max_field(topic .. '|last_processed_ts', now)
end

flush_groups()
local stamp = nil
for key, fields in pairs(pending) do
  for field, amount in pairs(fields) do
    redis.call('HINCRBYFLOAT', key, field, amount)
  end
  if key ~= health and key ~= parts then
    stamp = stamp or versions_stamp(versions)
    stamp_bucket(versions, stamp, key, pending_ttl[key], now)
  end
end
for key, members in pairs(pending_members) do
  local list = {}
  for member in pairs(members) do
    list[#list + 1] = member
    -- unpack() has a stack limit: add in slices
    if #list == 1000 then
      redis.call('SADD', key, unpack(list))
      list = {}
    end
  end
  if #list > 0 then redis.call('SADD', key, unpack(list)) end
end
for key, at in pairs(pending_ttl) do
  redis.call('EXPIREAT', key, at)
end
for field, value in pairs(pending_max) do
  local cur = tonumber(redis.call('HGET', health, field) or '0')
  if value > cur then redis.call('HSET', health, field, value) end
end

return out
