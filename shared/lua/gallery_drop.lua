-- Delete a whole gallery. Its keys are UNLINKed (freed off the main thread), and
-- a reset entry in the change log tells workers to drop their index.
-- KEYS[3] galleries set        fq:galleries
-- KEYS[4] versions hash        fq:galleries:versions
-- KEYS[5] identities hash      fq:gallery:<g>:identities
-- KEYS[6] embeddings hash      fq:gallery:<g>:embeddings
-- KEYS[7] order zset           fq:gallery:<g>:order
-- KEYS[8] changes zset         fq:gallery:<g>:changes
-- KEYS[9] audit stream         fq:audit
-- ARGV[4] gallery
-- ARGV[5] who
-- Returns the number of identities deleted.
local galleries_key, versions_key, identities_key = KEYS[3], KEYS[4], KEYS[5]
local embeddings_key, order_key, changes_key, audit_key = KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local gallery, who = ARGV[4], acting(ARGV[5])

if redis.call('SREM', galleries_key, gallery) == 0 then
  return fail('gallery_not_found', 'no gallery named ' .. gallery)
end
local now = now_ms()
local count = redis.call('HLEN', identities_key)
local version = redis.call('HINCRBY', versions_key, gallery, 1)
redis.call('UNLINK', identities_key, embeddings_key, order_key, changes_key)
redis.call('ZADD', changes_key, version, version .. ':*:')
gallery_event({gallery = gallery, action = 'deleted', version = version, identities = 0,
  removed = count, who = who}, now)
audit(audit_key, who, 'delete_gallery', gallery, count, 0, gallery, false, now)
return count
