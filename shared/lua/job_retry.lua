-- Operator retries a failed job: failed -> waiting, attempts reset.
-- KEYS[3] job hash        fq:job:<id>
-- KEYS[4] failed set      fq:q:<queue>:failed
-- KEYS[5] waiting set     fq:q:<queue>:waiting
-- ARGV[4] job id
-- ARGV[5] queue
-- Returns 'waiting'. Raises job_not_found, invalid_transition.
local job_key, failed_key, waiting_key = KEYS[3], KEYS[4], KEYS[5]
local job_id, queue = ARGV[4], ARGV[5]

local f = redis.call('HMGET', job_key, 'state', 'priority')
if not f[1] then return fail('job_not_found', job_id) end
if f[1] ~= 'failed' then return fail('invalid_transition', f[1] .. ' cannot be retried') end
local now = now_ms()
redis.call('ZREM', failed_key, job_id)
redis.call('ZADD', waiting_key, waiting_score(f[2], now), job_id)
redis.call('HSET', job_key, 'state', 'waiting', 'attempts', 0, 'enqueued_ms', int(now), 'finished_ms', '',
  'error', '', 'traceback', '', 'worker', '', 'progress', 0, 'stage', '')
redis.call('HINCRBY', job_key, 'gen', 1)
job_event(job_id, queue, 'failed', 'waiting', {reason = 'retry'}, now)
return 'waiting'
