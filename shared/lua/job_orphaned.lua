-- A live worker found a job the registry says it runs, but that none of its
-- threads runs (job_start's reply was lost, so the run was skipped): active ->
-- waiting with a new generation, to be dispatched again. Checked against the
-- worker and generation seen, so a job that moved on since is left alone.
-- KEYS[3] job hash        fq:job:<id>
-- KEYS[4] active set      fq:q:<queue>:active
-- KEYS[5] waiting set     fq:q:<queue>:waiting
-- ARGV[4] job id
-- ARGV[5] queue
-- ARGV[6] generation seen on the earlier check
-- ARGV[7] worker id
-- Returns 1 when requeued, 0 when the job moved on (nothing changed).
local job_key, active_key, waiting_key = KEYS[3], KEYS[4], KEYS[5]
local job_id, queue, gen, worker = ARGV[4], ARGV[5], ARGV[6], ARGV[7]

local f = redis.call('HMGET', job_key, 'state', 'gen', 'worker', 'priority', 'enqueued_ms')
if f[1] ~= 'active' or f[2] ~= gen or f[3] ~= worker then
  return 0
end
local now = now_ms()
redis.call('ZREM', active_key, job_id)
redis.call('ZADD', waiting_key, waiting_score(f[4], f[5]), job_id)
redis.call('HSET', job_key, 'state', 'waiting', 'worker', '', 'started_ms', '')
redis.call('HINCRBY', job_key, 'gen', 1)
job_event(job_id, queue, 'active', 'waiting', {reason = 'orphaned', worker = worker}, now)
return 1
