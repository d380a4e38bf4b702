-- Bucket versions: prepended to every script that writes bucket hashes.
--
-- Why: the exporter rebuilds its snapshot every fraction of a second, and reading
-- every bucket of every window (~500 hashes at 2,000 series) was most of that
-- build, and Redis time taken from the workers. Almost all of those buckets are
-- closed minutes and hours that no longer change. Each write stamps the buckets it
-- touched in one hash (field: bucket key, value: a stamp unique to the call), so a
-- reader fetches the stamps in one HMGET and re-reads only the buckets whose stamp
-- moved. Since every write stamps, a bucket without a stamp can only be empty or
-- written before stamps existed: the reader caches it only if it was empty.
--
-- The stamp joins a counter with the server's clock, so that a Redis that lost its
-- data (counter back at 1) cannot hand out a stamp a reader saw before. A field is
-- forgotten when its bucket expires: its first stamp records the expiry in a sorted
-- set, and expired fields are pruned whenever a new bucket is first stamped.

local function versions_stamp(versions)
  local t = redis.call('TIME')
  return tostring(redis.call('INCR', versions .. ':seq')) .. '@' .. t[1] .. '.' .. t[2]
end

-- expire_at: the bucket's EXPIREAT if the caller knows it, else nil (read from its TTL)
local function stamp_bucket(versions, stamp, key, expire_at, now)
  if redis.call('HSET', versions, key, stamp) == 0 then return end
  local at = expire_at
  if not at then
    local ttl = redis.call('TTL', key)
    if ttl > 0 then at = now + ttl end
  end
  local expiry = versions .. ':expiry'
  if at then redis.call('ZADD', expiry, at, key) end
  local gone = redis.call('ZRANGEBYSCORE', expiry, '-inf', now, 'LIMIT', 0, 500)
  if #gone > 0 then
    redis.call('HDEL', versions, unpack(gone))
    redis.call('ZREM', expiry, unpack(gone))
  end
end
