-- A worker's run succeeded: active -> completed, then trim completed jobs by
-- the retention policy (count and age, at most 100 per call).
-- KEYS[3] job hash        fq:job:<id>
-- KEYS[4] active set      fq:q:<queue>:active
-- KEYS[5] completed set   fq:q:<queue>:completed
-- KEYS[6] jobs index      fq:jobs
-- ARGV[4] job id
-- ARGV[5] queue
-- ARGV[6] generation of the run
-- ARGV[7] worker id
-- ARGV[8] result (JSON)
-- ARGV[9] completed jobs kept per queue
-- ARGV[10] age (ms) beyond which completed jobs are trimmed
-- Returns 1 when recorded, 0 when this run was superseded (nothing changed).
local job_key, active_key, completed_key, index_key = KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local job_id, queue, gen, worker, result = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local keep_count, keep_age_ms = tonumber(ARGV[9]), tonumber(ARGV[10])

if not owns_run(job_key, gen, worker) then
  return 0
end
local now = now_ms()
redis.call('ZREM', active_key, job_id)
redis.call('ZADD', completed_key, now, job_id)
redis.call('HSET', job_key, 'state', 'completed', 'finished_ms', int(now), 'result', result,
  'progress', 100, 'error', '', 'traceback', '')
job_event(job_id, queue, 'active', 'completed', {worker = worker}, now)

local excess = redis.call('ZCARD', completed_key) - keep_count
if excess > 0 then
  for _, old_id in ipairs(redis.call('ZRANGE', completed_key, 0, math.min(excess, 100) - 1)) do
    remove_job(index_key, old_id, queue, completed_key, 'completed', 'retention', now)
  end
end
for _, old_id in ipairs(redis.call('ZRANGEBYSCORE', completed_key, '-inf', '(' .. int(now - keep_age_ms),
    'LIMIT', 0, 100)) do
  remove_job(index_key, old_id, queue, completed_key, 'completed', 'retention', now)
end
return 1
