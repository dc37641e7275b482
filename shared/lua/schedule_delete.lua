-- Remove a schedule (issue 21); the jobs it fired stay. Audited and announced.
-- KEYS[3] schedule hash   fq:schedule:<name>
-- KEYS[4] schedules index fq:schedules
-- KEYS[5] audit stream    fq:audit
-- ARGV[4] name
-- ARGV[5] who: name, or name|client address
-- Returns 1. Raises schedule_not_found.
local schedule_key, index_key, audit_key = KEYS[3], KEYS[4], KEYS[5]
local name, who = ARGV[4], acting(ARGV[5])
local queue = redis.call('HGET', schedule_key, 'queue')
if not queue then
  return fail('schedule_not_found', name)
end
redis.call('DEL', schedule_key)
redis.call('ZREM', index_key, name)
local now = now_ms()
audit(audit_key, who, 'schedule_deleted', queue, 1, 0, name, false, now)
emit('schedule', {name = name, action = 'deleted', who = who}, now)
return 1
