-- Revoke a named API key: it stops working at once (every check reads the record), and the
-- `admin` event it publishes makes the gateways close the key's open streams.
-- KEYS[3] key hash         fq:apikey:<id>
-- KEYS[4] audit stream     fq:audit
-- ARGV[4] id               the key's id
-- ARGV[5] who              name|role|client address of the revoker
-- Returns 1 when revoked now, 0 when it already was; raises FQ key_not_found.
local key_key, audit_key = KEYS[3], KEYS[4]
local id, who = ARGV[4], acting(ARGV[5])

local name = redis.call('HGET', key_key, 'name')
if not name then
  return fail('key_not_found', 'no API key with this id')
end
if tonumber(redis.call('HGET', key_key, 'revoked_ms')) > 0 then
  return 0
end
local now = now_ms()
redis.call('HSET', key_key, 'revoked_ms', int(now), 'revoked_by', who)
audit(audit_key, who, 'revoke_key', '', 1, 0, name, false, now)
emit('admin', {action = 'revoke_key', queue = '', count = 1, skipped = 0, who = who, role = acting_role,
  address = acting_address, key = id}, now)
return 1
