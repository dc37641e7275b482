-- A worker's run failed and will be retried after a backoff: active -> delayed.
-- Reached through the broker's enqueue(delay=...), which Dramatiq's Retries calls.
-- KEYS[3] job hash        fq:job:<id>
-- KEYS[4] active set      fq:q:<queue>:active
-- KEYS[5] delayed set     fq:q:<queue>:delayed
-- ARGV[4] job id
-- ARGV[5] queue
-- ARGV[6] generation of the run
-- ARGV[7] worker id
-- ARGV[8] backoff (ms)
-- ARGV[9] error (one line)
-- ARGV[10] traceback
-- ARGV[11] the job's Dramatiq message as the middleware left it ('' = keep the stored one)
-- Returns 1 when recorded, 0 when this run was superseded (nothing changed).
local job_key, active_key, delayed_key = KEYS[3], KEYS[4], KEYS[5]
local job_id, queue, gen, worker = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local backoff_ms, err, tb, template = tonumber(ARGV[8]), ARGV[9], ARGV[10], ARGV[11]

if not owns_run(job_key, gen, worker) then
  return 0
end
local now = now_ms()
local eta = int(now + backoff_ms)
redis.call('ZREM', active_key, job_id)
redis.call('ZADD', delayed_key, eta, job_id)
redis.call('HSET', job_key, 'state', 'delayed', 'eta_ms', eta, 'finished_ms', int(now), 'error', err,
  'traceback', tb, 'worker', '')
if template ~= '' then
  redis.call('HSET', job_key, 'msg', template)
end
job_event(job_id, queue, 'active', 'delayed', {reason = 'retry', worker = worker, error = err,
  eta_ms = tonumber(eta)}, now)
return 1
