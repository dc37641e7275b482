-- A job's Dramatiq copy reached a worker that does not define its actor (Dramatiq
-- would dead-letter it): waiting -> delayed, to be offered again after a recheck
-- interval (another worker, or a new deploy, may define it), or waiting -> failed
-- once the actor has been unknown for the grace period, so it never loops forever.
-- KEYS[3] job hash        fq:job:<id>
-- KEYS[4] waiting set     fq:q:<queue>:waiting
-- KEYS[5] dispatched set  fq:q:<queue>:dispatched
-- KEYS[6] delayed set     fq:q:<queue>:delayed
-- KEYS[7] failed set      fq:q:<queue>:failed
-- ARGV[4] job id
-- ARGV[5] queue
-- ARGV[6] generation carried by the copy
-- ARGV[7] worker id
-- ARGV[8] error (one line)
-- ARGV[9] grace (ms since the actor was first found unknown before the job fails)
-- ARGV[10] recheck interval (ms)
-- Returns 'delayed', 'failed' or 'stale' (superseded copy: nothing changed).
local job_key, waiting_key, dispatched_key, delayed_key, failed_key = KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local job_id, queue, gen, worker, err = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local grace_ms, recheck_ms = tonumber(ARGV[9]), tonumber(ARGV[10])

local f = redis.call('HMGET', job_key, 'state', 'gen', 'unknown_actor_ms')
if f[1] ~= 'waiting' or f[2] ~= gen or not redis.call('ZSCORE', dispatched_key, job_id) then
  return 'stale'
end
local now = now_ms()
local since = tonumber(f[3]) or now
redis.call('ZREM', waiting_key, job_id)
redis.call('ZREM', dispatched_key, job_id)
if now - since >= grace_ms then
  redis.call('ZADD', failed_key, now, job_id)
  redis.call('HSET', job_key, 'state', 'failed', 'finished_ms', int(now), 'error', err, 'traceback', '',
    'eta_ms', '')
  redis.call('HDEL', job_key, 'unknown_actor_ms')
  job_event(job_id, queue, 'waiting', 'failed', {reason = 'unknown_actor', worker = worker, error = err}, now)
  -- Its failure group (issue 20): one fixed fingerprint for this cause.
  redis.call('HSET', job_key, 'fingerprint', 'unknown-actor', 'exception', 'UnknownActor')
  group_add(queue, 'unknown-actor', job_id, now,
    {actor = redis.call('HGET', job_key, 'actor'), exception = 'UnknownActor', message = err}, now)
  return 'failed'
end
local eta = int(now + recheck_ms)
redis.call('ZADD', delayed_key, eta, job_id)
redis.call('HSET', job_key, 'state', 'delayed', 'eta_ms', eta, 'error', err, 'unknown_actor_ms', int(since))
job_event(job_id, queue, 'waiting', 'delayed', {reason = 'unknown_actor', worker = worker, error = err,
  eta_ms = tonumber(eta)}, now)
return 'delayed'
