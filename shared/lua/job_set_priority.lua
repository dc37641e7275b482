-- Operator changes a waiting or delayed job's priority. A waiting job keeps its
-- enqueue time; one already handed to Dramatiq gets a new generation, so that
-- copy is skipped and the job is dispatched again in its new place.
-- KEYS[3] job hash        fq:job:<id>
-- KEYS[4] waiting set     fq:q:<queue>:waiting
-- KEYS[5] dispatched set  fq:q:<queue>:dispatched
-- KEYS[6] audit stream    fq:audit
-- ARGV[4] job id
-- ARGV[5] queue
-- ARGV[6] new priority
-- ARGV[7] who (for the audit trail): name, or name|client address
-- Returns the job's state. Raises job_not_found, invalid_transition.
local job_key, waiting_key, dispatched_key, audit_key = KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local job_id, queue, priority, who = ARGV[4], ARGV[5], ARGV[6], acting(ARGV[7])

local f = redis.call('HMGET', job_key, 'state', 'enqueued_ms')
if not f[1] then return fail('job_not_found', 'no job ' .. job_id) end
if f[1] ~= 'waiting' and f[1] ~= 'delayed' then
  return fail('invalid_transition', f[1] .. ' job priority cannot change')
end
local now = now_ms()
if f[1] == 'waiting' then
  redis.call('ZADD', waiting_key, waiting_score(priority, f[2]), job_id)
  if redis.call('ZREM', dispatched_key, job_id) == 1 then
    redis.call('HINCRBY', job_key, 'gen', 1)
  end
end
redis.call('HSET', job_key, 'priority', priority)
job_event(job_id, queue, f[1], f[1], {reason = 'priority', priority = tonumber(priority), who = who}, now)
audit(audit_key, who, 'priority', queue, 1, 0, job_id, false, now)
return f[1]
