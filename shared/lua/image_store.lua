-- Store an uploaded image under its SHA-256 with a TTL, within the images' byte
-- quota. Expired images are first forgotten from the accounting (their keys
-- expired on their own); past the quota the upload is refused and nothing else
-- changes, so images never crowd jobs out of Redis's memory budget.
-- KEYS[3] image           fq:image:<sha256>
-- KEYS[4] images index    fq:images (sha256 scored by expiry, ms)
-- KEYS[5] image sizes     fq:images:sizes (sha256 -> bytes)
-- KEYS[6] images' bytes   fq:images:bytes
-- ARGV[4] sha256
-- ARGV[5] image bytes
-- ARGV[6] TTL (ms)
-- ARGV[7] quota (bytes)
-- ARGV[8] most expired entries forgotten per call
-- Returns the bytes all images take now. Raises image_store_full.
local image_key, index_key, sizes_key, total_key = KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local sha, data, ttl_ms, quota = ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
local prune_max = tonumber(ARGV[8])

local now = now_ms()
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', index_key, '-inf', now, 'LIMIT', 0, prune_max)) do
  redis.call('DECRBY', total_key, tonumber(redis.call('HGET', sizes_key, gone)) or 0)
  redis.call('HDEL', sizes_key, gone)
  redis.call('ZREM', index_key, gone)
end
local size = string.len(data)
local before = tonumber(redis.call('HGET', sizes_key, sha)) or 0
local total = tonumber(redis.call('GET', total_key)) or 0
if total - before + size > quota then
  return fail('image_store_full', 'images take ' .. total .. ' of ' .. quota .. ' bytes; retry once older ones expire')
end
redis.call('SET', image_key, data, 'PX', ttl_ms)
redis.call('ZADD', index_key, now + ttl_ms, sha)
redis.call('HSET', sizes_key, sha, size)
return redis.call('INCRBY', total_key, size - before)
