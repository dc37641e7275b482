-- Create a named API key (only its keyed hash is stored); audited, announced as an `admin` event.
-- KEYS[3] key hash         fq:apikey:<id>
-- KEYS[4] key index        fq:apikeys (ids scored by creation ms)
-- KEYS[5] audit stream     fq:audit
-- ARGV[4] id               16 hex digits (also the secret's prefix)
-- ARGV[5] name             who the key is for (the audit names it)
-- ARGV[6] role             admin | operator | viewer
-- ARGV[7] queues           JSON array of the queues in scope, '' for every queue
-- ARGV[8] hash             HMAC-SHA256 of the secret under FQ_SECRET, hex
-- ARGV[9] expires ms       Unix ms it stops working, 0 for never
-- ARGV[10] who             name|role|client address of the creator
-- Returns the creation time (ms); raises FQ key_exists when the id is taken.
local key_key, index_key, audit_key = KEYS[3], KEYS[4], KEYS[5]
local id, name, role, queues, hash, expires_ms = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local who = acting(ARGV[10])

if redis.call('EXISTS', key_key) == 1 then
  return fail('key_exists', 'an API key with this id exists')
end
local now = now_ms()
redis.call('HSET', key_key, 'id', id, 'name', name, 'role', role, 'queues', queues, 'hash', hash,
  'created_ms', int(now), 'created_by', who, 'expires_ms', expires_ms, 'revoked_ms', 0,
  'revoked_by', '', 'last_used_ms', 0)
redis.call('ZADD', index_key, now, id)
audit(audit_key, who, 'create_key', '', 1, 0, name, false, now)
emit('admin', {action = 'create_key', queue = '', count = 1, skipped = 0, who = who, role = acting_role,
  address = acting_address, key = id}, now)
return now
