-- Count carts idle for longer than the timeout as abandoned, exactly once.
-- Atomic, so every worker may run it on its timer: a cart is moved out of the open
-- set by exactly one call (ZREM answers 1 once) and counted in the buckets of the
-- moment it became abandoned (last activity + timeout), like any event would be.
--
-- KEYS: none (one Redis, no cluster). ARGV: open-set key, now, timeout, limit,
-- bucket key prefix ("app:carts:"), ended-marker prefix, marker ttl,
-- bucket-versions hash (bucket_versions.lua, prepended), then (resolution, size, ttl) triples.

local open_key, now, timeout, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local prefix, ended_prefix, marker_ttl = ARGV[5], ARGV[6], tonumber(ARGV[7])
local versions = ARGV[8]
local resolutions = {}
for i = 9, #ARGV, 3 do
  resolutions[#resolutions + 1] = {ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])}
end

local due = redis.call('ZRANGEBYSCORE', open_key, '-inf', now - timeout, 'WITHSCORES', 'LIMIT', 0, limit)
local counted = 0
local stamp = nil
for i = 1, #due, 2 do
  local member, last = due[i], tonumber(due[i + 1])
  if redis.call('ZREM', open_key, member) == 1 then
    local tab = string.find(member, '\t', 1, true)
    local seg, cart = string.sub(member, 1, tab - 1), string.sub(member, tab + 1)
    local marker = ended_prefix .. cart
    if redis.call('EXISTS', marker) == 0 then
      local at = last + timeout
      for _, r in ipairs(resolutions) do
        local start = math.floor(at / r[2]) * r[2]
        local key = prefix .. r[1] .. ':' .. string.format('%d', start)
        redis.call('HINCRBYFLOAT', key, seg .. '|abandoned_timeout', 1)
        redis.call('EXPIREAT', key, start + r[2] + r[3])
        stamp = stamp or versions_stamp(versions)
        stamp_bucket(versions, stamp, key, start + r[2] + r[3], now)
      end
      redis.call('HINCRBYFLOAT', prefix .. 'total', seg .. '|abandoned_timeout', 1)
      redis.call('SADD', prefix .. 'segments', seg)
      counted = counted + 1
    end
    redis.call('SET', marker, 'timeout', 'EX', marker_ttl)
  end
end
return counted
