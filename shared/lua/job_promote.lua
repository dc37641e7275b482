-- Operator runs a delayed job now: delayed -> waiting.
-- KEYS[3] job hash        fq:job:<id>
-- KEYS[4] delayed set     fq:q:<queue>:delayed
-- KEYS[5] waiting set     fq:q:<queue>:waiting
-- ARGV[4] job id
-- ARGV[5] queue
-- Returns 'waiting'. Raises job_not_found, invalid_transition.
local job_key, delayed_key, waiting_key = KEYS[3], KEYS[4], KEYS[5]
local job_id, queue = ARGV[4], ARGV[5]

local f = redis.call('HMGET', job_key, 'state', 'priority')
if not f[1] then return fail('job_not_found', job_id) end
if f[1] ~= 'delayed' then return fail('invalid_transition', f[1] .. ' cannot be promoted') end
local now = now_ms()
redis.call('ZREM', delayed_key, job_id)
redis.call('ZADD', waiting_key, waiting_score(f[2], now), job_id)
redis.call('HSET', job_key, 'state', 'waiting', 'enqueued_ms', int(now), 'eta_ms', '')
job_event(job_id, queue, 'delayed', 'waiting', {reason = 'promote'}, now)
return 'waiting'
