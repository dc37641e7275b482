-- Enrol one identity into a gallery (creating the gallery), idempotently: the
-- identity id is the enrol job's id, so a job run twice enrols once.
-- KEYS[3] galleries set        fq:galleries
-- KEYS[4] versions hash        fq:galleries:versions
-- KEYS[5] identities hash      fq:gallery:<g>:identities
-- KEYS[6] embeddings hash      fq:gallery:<g>:embeddings
-- KEYS[7] order zset           fq:gallery:<g>:order
-- KEYS[8] changes zset         fq:gallery:<g>:changes
-- ARGV[4] gallery
-- ARGV[5] identity id
-- ARGV[6] record JSON (name, image, box, score, job); "n" and "created_ms" are added here
-- ARGV[7] embedding (512 bytes: 128 float32)
-- ARGV[8] changes kept for catch-up
-- Returns {record JSON, 1 if enrolled now or 0 if it already was}.
local galleries_key, versions_key, identities_key = KEYS[3], KEYS[4], KEYS[5]
local embeddings_key, order_key, changes_key = KEYS[6], KEYS[7], KEYS[8]
local gallery, identity, record_json, embedding = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local keep = tonumber(ARGV[8])

local existing = redis.call('HGET', identities_key, identity)
if existing then
  return {existing, 0}
end
local now = now_ms()
local version = redis.call('HINCRBY', versions_key, gallery, 1)
local record = cjson.decode(record_json)
record.id = identity
record.n = version
record.created_ms = now
local encoded = cjson.encode(record)
redis.call('HSET', identities_key, identity, encoded)
redis.call('HSET', embeddings_key, identity, embedding)
redis.call('ZADD', order_key, 0, identity)
redis.call('ZADD', changes_key, version, version .. ':+:' .. identity)
redis.call('ZREMRANGEBYRANK', changes_key, 0, -keep - 1)
redis.call('SADD', galleries_key, gallery)
gallery_event({gallery = gallery, action = 'enrolled', identity = identity, name = record.name,
  version = version, identities = redis.call('HLEN', identities_key)}, now)
return {encoded, 1}
