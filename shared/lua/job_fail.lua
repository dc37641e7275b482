-- A worker's run failed for good (retries exhausted or not retryable): active -> failed.
-- With a fingerprint, the job joins its failure group (issue 20) in the same call, so the
-- groups' counts, first/last seen and samples are exact without any scan.
-- KEYS[3] job hash        fq:job:<id>
-- KEYS[4] active set      fq:q:<queue>:active
-- KEYS[5] failed set      fq:q:<queue>:failed
-- ARGV[4] job id
-- ARGV[5] queue
-- ARGV[6] generation of the run
-- ARGV[7] worker id
-- ARGV[8] error (one line)
-- ARGV[9] traceback
-- KEYS[6] search index    fq:search (issue 23)
-- ARGV[10] fingerprint ('' for none: the job joins no group)
-- ARGV[11] exception type (for the group record)
-- ARGV[12..] search entries "<field> US <value>": the error's type (shared/search.py)
-- Returns 1 when recorded, 0 when this run was superseded (nothing changed).
local job_key, active_key, failed_key = KEYS[3], KEYS[4], KEYS[5]
local job_id, queue, gen, worker, err, tb = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local fingerprint, exception = ARGV[10] or '', ARGV[11] or ''

if not owns_run(job_key, gen, worker) then
  return 0
end
local now = now_ms()
redis.call('ZREM', active_key, job_id)
redis.call('ZADD', failed_key, now, job_id)
redis.call('HSET', job_key, 'state', 'failed', 'finished_ms', int(now), 'error', err, 'traceback', tb,
  'fingerprint', fingerprint, 'exception', exception)
job_event(job_id, queue, 'active', 'failed', {worker = worker, error = err, fingerprint = fingerprint}, now)
if fingerprint ~= '' then
  group_add(queue, fingerprint, job_id, now,
    {actor = redis.call('HGET', job_key, 'actor'), exception = exception, message = err}, now)
end
-- Job search (issue 23): index the error's type, so error:Timeout needs no scan.
for i = 12, #ARGV do redis.call('ZADD', KEYS[6], 0, ARGV[i] .. '\31' .. job_id) end
return 1
