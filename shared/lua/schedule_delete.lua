-- Remove a schedule (issue 21); the jobs it fired stay. Audited and announced. A schedule
-- declared in code is refused: its definition lives in code (a worker would publish it again).
-- KEYS[3] schedule hash   fq:schedule:<name>
-- KEYS[4] schedules index fq:schedules
-- KEYS[5] audit stream    fq:audit
-- ARGV[4] name
-- ARGV[5] who: name, or name|client address
-- Returns 1. Raises schedule_not_found, declared_in_code.
local schedule_key, index_key, audit_key = KEYS[3], KEYS[4], KEYS[5]
local name, who = ARGV[4], acting(ARGV[5])
local found = redis.call('HMGET', schedule_key, 'queue', 'source')
local queue = found[1]
if not queue then
  return fail('schedule_not_found', name)
end
if found[2] == 'code' then
  return fail('declared_in_code', name .. ' is declared in code: remove it there (pause it here)')
end
redis.call('DEL', schedule_key)
redis.call('ZREM', index_key, name)
local now = now_ms()
audit(audit_key, who, 'schedule_deleted', queue, 1, 0, name, false, now)
emit('schedule', {name = name, action = 'deleted', who = who}, now)
return 1
