-- A worker is about to run a job's Dramatiq copy: waiting -> active, unless the
-- copy is stale (deleted, re-prioritised, recovered) or the queue is paused.
-- KEYS[3] job hash        fq:job:<id>
-- KEYS[4] waiting set     fq:q:<queue>:waiting
-- KEYS[5] dispatched set  fq:q:<queue>:dispatched
-- KEYS[6] active set      fq:q:<queue>:active
-- KEYS[7] paused set      fq:paused
-- ARGV[4] job id
-- ARGV[5] queue
-- ARGV[6] generation carried by the message
-- ARGV[7] worker id
-- ARGV[8] retries that apply to this run, as Dramatiq's Retries decides ('' = keep the record's)
-- ARGV[9] this start's token: the client resends the same call when Redis died
--         before its reply arrived, and the resend must answer 'started' again
-- Returns 'started', 'gone' (no record), 'stale' (superseded copy) or 'paused'
-- (the job stays waiting and is dispatched again after resume).
local job_key, waiting_key, dispatched_key, active_key, paused_key = KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local job_id, queue, gen, worker, max_retries, token = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]

-- One read and one write of the record (attempts, timeline and the stale unknown-actor
-- mark come with the state): the start runs once per job, on the hot path.
local f = redis.call('HMGET', job_key, 'state', 'gen', 'start_token', 'attempts', 'timeline', 'unknown_actor_ms')
if not f[1] then
  return 'gone'
end
if f[1] == 'active' and f[2] == gen and token ~= '' and f[3] == token then
  return 'started'  -- this very call, resent after a lost reply: it already started the job
end
if f[1] ~= 'waiting' or f[2] ~= gen or not redis.call('ZSCORE', dispatched_key, job_id) then
  return 'stale'
end
if redis.call('SISMEMBER', paused_key, queue) == 1 then
  redis.call('ZREM', dispatched_key, job_id)
  return 'paused'
end
local now = now_ms()
local attempts = (tonumber(f[4]) or 0) + 1
redis.call('ZREM', waiting_key, job_id)
redis.call('ZREM', dispatched_key, job_id)
redis.call('ZADD', active_key, now, job_id)
if f[6] then
  redis.call('HDEL', job_key, 'unknown_actor_ms')
end
local fields = {'state', 'active', 'started_ms', int(now), 'worker', worker, 'progress', 0, 'stage', '',
  'finished_ms', '', 'start_token', token, 'attempts', attempts}
if max_retries ~= '' then
  fields[#fields + 1] = 'max_retries'
  fields[#fields + 1] = max_retries
end
job_event_into(fields, f[5], job_id, queue, 'waiting', 'active', {worker = worker, attempt = attempts}, now)
redis.call('HSET', job_key, unpack(fields))
return 'started'
