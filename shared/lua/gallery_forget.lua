-- Remove one identity from a gallery (the gallery stays, even when empty).
-- KEYS[3] galleries set        fq:galleries
-- KEYS[4] versions hash        fq:galleries:versions
-- KEYS[5] identities hash      fq:gallery:<g>:identities
-- KEYS[6] embeddings hash      fq:gallery:<g>:embeddings
-- KEYS[7] order zset           fq:gallery:<g>:order
-- KEYS[8] changes zset         fq:gallery:<g>:changes
-- KEYS[9] audit stream         fq:audit
-- ARGV[4] gallery
-- ARGV[5] identity id
-- ARGV[6] changes kept for catch-up
-- ARGV[7] who
-- Returns the gallery's new version.
local galleries_key, versions_key, identities_key = KEYS[3], KEYS[4], KEYS[5]
local embeddings_key, order_key, changes_key, audit_key = KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local gallery, identity, keep, who = ARGV[4], ARGV[5], tonumber(ARGV[6]), acting(ARGV[7])

local existing, missing = gallery_identity(galleries_key, identities_key, gallery, identity)
if missing then
  return missing
end
local now = now_ms()
local version = redis.call('HINCRBY', versions_key, gallery, 1)
redis.call('HDEL', identities_key, identity)
redis.call('HDEL', embeddings_key, identity)
redis.call('ZREM', order_key, identity)
redis.call('ZADD', changes_key, version, version .. ':-:' .. identity)
redis.call('ZREMRANGEBYRANK', changes_key, 0, -keep - 1)
gallery_event({gallery = gallery, action = 'forgotten', identity = identity,
  name = cjson.decode(existing).name, version = version,
  identities = redis.call('HLEN', identities_key), who = who}, now)
audit(audit_key, who, 'forget_identity', gallery, 1, 0, identity, false, now)
return version
