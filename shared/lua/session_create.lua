-- Open a dashboard session under the current epoch (so "end all sessions" can never miss it).
-- KEYS[3] session hash     fq:session:<id>
-- KEYS[4] session index    fq:sessions (id scored by expiry ms)
-- KEYS[5] session epoch    fq:sessions:epoch
-- ARGV[4] session id
-- ARGV[5] role             admin | viewer
-- ARGV[6] fingerprint      keyed digest of the token that opened it
-- ARGV[7] ttl              seconds the session lasts
-- ARGV[8] address          client address (audit, GET /session)
-- ARGV[9] name             whose it is: person's email, key name, or the token's variable
-- ARGV[10] kind            token | key | oidc (what opened it, so what ends it)
-- ARGV[11] queues          JSON array of the queues in scope, '' for every queue
-- ARGV[12] key id          the named key that opened it ('' otherwise)
-- Returns {created ms, expires ms}.
local session_key, index_key, epoch_key = KEYS[3], KEYS[4], KEYS[5]
local id, role, fp, ttl_s, address = ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8]
local name, kind, queues, key_id = ARGV[9], ARGV[10], ARGV[11], ARGV[12]

local now = now_ms()
local expires = now + ttl_s * 1000
local epoch = redis.call('GET', epoch_key) or '0'
redis.call('HSET', session_key, 'role', role, 'fp', fp, 'epoch', epoch, 'created_ms', int(now),
  'expires_ms', int(expires), 'address', address, 'name', name, 'kind', kind, 'queues', queues,
  'key_id', key_id)
redis.call('EXPIRE', session_key, ttl_s)
redis.call('ZREMRANGEBYSCORE', index_key, '-inf', now)
redis.call('ZADD', index_key, expires, id)
return {now, expires}
