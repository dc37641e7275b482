-- End every dashboard session: bump the epoch (older sessions are over wherever they are
-- checked), forget the index, write the audit entry and publish the `admin` event.
-- KEYS[3] session index    fq:sessions
-- KEYS[4] session epoch    fq:sessions:epoch
-- KEYS[5] audit stream     fq:audit
-- ARGV[4] who              name|role|client address of the caller
-- Returns the number of sessions that were live.
local index_key, epoch_key, audit_key = KEYS[3], KEYS[4], KEYS[5]
local who = acting(ARGV[4])

local now = now_ms()
redis.call('ZREMRANGEBYSCORE', index_key, '-inf', now)
local ended = redis.call('ZCARD', index_key)
redis.call('DEL', index_key)
redis.call('INCR', epoch_key)
audit(audit_key, who, 'end_sessions', '', ended, 0, '', true, now)
return ended
