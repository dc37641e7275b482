-- Rename one identity (issue 23). Its faces stay; workers learn the new name through the
-- change log as a removal then an addition of the same identity (two versions), which
-- their index sync already applies.
-- KEYS[3] galleries set        fq:galleries
-- KEYS[4] versions hash        fq:galleries:versions
-- KEYS[5] identities hash      fq:gallery:<g>:identities
-- KEYS[6] embeddings hash      fq:gallery:<g>:embeddings (unchanged)
-- KEYS[7] order zset           fq:gallery:<g>:order (unchanged)
-- KEYS[8] changes zset         fq:gallery:<g>:changes
-- KEYS[9] audit stream         fq:audit
-- ARGV[4] gallery
-- ARGV[5] identity id
-- ARGV[6] new name
-- ARGV[7] changes kept for catch-up
-- ARGV[8] who
-- Returns the gallery's new version. Raises gallery_not_found, identity_not_found.
local galleries_key, versions_key, identities_key = KEYS[3], KEYS[4], KEYS[5]
local changes_key, audit_key = KEYS[8], KEYS[9]
local gallery, identity, name, keep, who = ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7]), acting(ARGV[8])

local existing, missing = gallery_identity(galleries_key, identities_key, gallery, identity)
if missing then
  return missing
end
local now = now_ms()
local record = cjson.decode(existing)
local previous = record.name
record.name = name
redis.call('HSET', identities_key, identity, cjson.encode(record))
local removed = redis.call('HINCRBY', versions_key, gallery, 1)
redis.call('ZADD', changes_key, removed, removed .. ':-:' .. identity)
local version = redis.call('HINCRBY', versions_key, gallery, 1)
redis.call('ZADD', changes_key, version, version .. ':+:' .. identity)
redis.call('ZREMRANGEBYRANK', changes_key, 0, -keep - 1)
gallery_event({gallery = gallery, action = 'renamed', identity = identity, name = name,
  previous = previous, version = version, identities = redis.call('HLEN', identities_key), who = who}, now)
audit(audit_key, who, 'rename_identity', gallery, 1, 0, identity, false, now)
return version
