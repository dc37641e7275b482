-- Recover a dead (or departing) worker at once: its active jobs go back to
-- waiting with a new generation (a job whose worker died counts the loss: past its
-- retries, or at the most losses a job may cause, it fails as worker_lost instead,
-- so a job that kills its worker cannot crash-loop the fleet), the messages it had prefetched are dropped
-- (their jobs are dispatched again), and it leaves the live set. A dead worker
-- stays listed as dead for a while; a departing one is forgotten. A worker
-- whose beat is fresh again is left alone, so concurrent reapers are harmless.
-- KEYS[3] worker hash      fq:worker:<id>
-- KEYS[4] workers set      fq:workers
-- KEYS[5] Dramatiq beats   dramatiq:__heartbeats__
-- KEYS[6] dead workers     fq:workers:dead (scored by time of death, ms)
-- then six keys per queue, in the order of ARGV[10..]:
--   Dramatiq acks set      dramatiq:__acks__.<worker>.<queue>
--   Dramatiq msgs          dramatiq:<queue>.msgs
--   waiting set            fq:q:<queue>:waiting
--   dispatched set         fq:q:<queue>:dispatched
--   active set             fq:q:<queue>:active
--   failed set             fq:q:<queue>:failed
-- ARGV[4] worker id
-- ARGV[5] ms without a beat before the worker counts as dead (0: reap now, on clean exit)
-- ARGV[6] 1 to forget the worker (clean exit), 0 to list it as dead
-- ARGV[7] ms a dead worker stays listed
-- ARGV[8] membership channel, told the id when the worker leaves
-- ARGV[9] worker losses that fail a job (its runs' workers died that many times)
-- ARGV[10..] queue names
-- Returns the number of active jobs moved back to waiting (not those failed), or -1 if the worker is alive.
local worker_key, workers_key, dramatiq_beats, dead_key = KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local worker_id, dead_after_ms, forget = ARGV[4], tonumber(ARGV[5]), ARGV[6] == '1'
local dead_keep_ms, changed_channel, max_losses = tonumber(ARGV[7]), ARGV[8], tonumber(ARGV[9])

local now = now_ms()
local beat = redis.call('ZSCORE', workers_key, worker_id)
if beat and now - tonumber(beat) < dead_after_ms then
  return -1
end
local requeued = 0
for i = 10, #ARGV do
  local queue = ARGV[i]
  local base = 6 + (i - 10) * 6
  local acks_key, msgs_key, waiting_key = KEYS[base + 1], KEYS[base + 2], KEYS[base + 3]
  local dispatched_key, active_key, failed_key = KEYS[base + 4], KEYS[base + 5], KEYS[base + 6]
  for _, job_id in ipairs(redis.call('ZRANGE', active_key, 0, -1)) do
    local record = job_key(job_id)
    local f = redis.call('HMGET', record, 'worker', 'priority', 'enqueued_ms', 'attempts', 'max_retries')
    if f[1] == worker_id then
      redis.call('ZREM', active_key, job_id)
      redis.call('HINCRBY', record, 'gen', 1)
      -- A clean exit interrupted the run (a drain that timed out): not the job's fault.
      local losses = 0
      if not forget then losses = redis.call('HINCRBY', record, 'worker_losses', 1) end
      local attempts, max_retries = tonumber(f[4]) or 0, tonumber(f[5]) or 0
      if not forget and (losses >= max_losses or (max_retries >= 0 and attempts > max_retries)) then
        local err = 'worker_lost: the worker running it died (' .. losses .. ' time' ..
          (losses == 1 and '' or 's') .. ', attempt ' .. attempts .. ')'
        redis.call('ZADD', failed_key, now, job_id)
        redis.call('HSET', record, 'state', 'failed', 'finished_ms', int(now), 'error', err, 'traceback', '',
          'fingerprint', 'worker-lost', 'exception', 'WorkerLost')
        group_add(queue, 'worker-lost', job_id, now,
          {actor = redis.call('HGET', record, 'actor'), exception = 'WorkerLost', message = err}, now)
        job_event(job_id, queue, 'active', 'failed', {reason = 'worker_lost', worker = worker_id, error = err},
          now)
      else
        redis.call('ZADD', waiting_key, waiting_score(f[2], f[3]), job_id)
        redis.call('HSET', record, 'state', 'waiting', 'worker', '', 'started_ms', '')
        job_event(job_id, queue, 'active', 'waiting', {reason = 'worker_lost', worker = worker_id}, now)
        requeued = requeued + 1
      end
    end
  end
  for _, message_id in ipairs(redis.call('SMEMBERS', acks_key)) do
    redis.call('HDEL', msgs_key, message_id)
    local job_id = string.match(message_id, '^(.*):%d+$')
    if job_id and redis.call('ZREM', dispatched_key, job_id) == 1 then
      redis.call('HINCRBY', job_key(job_id), 'gen', 1)
    end
  end
  redis.call('DEL', acks_key)
end
local was_live = redis.call('ZREM', workers_key, worker_id) == 1
redis.call('ZREM', dramatiq_beats, worker_id)
if forget then
  redis.call('DEL', worker_key)
  redis.call('ZREM', dead_key, worker_id)
elseif redis.call('EXISTS', worker_key) == 1 then
  redis.call('HSET', worker_key, 'status', 'dead', 'dead_ms', int(now), 'active', 0, 'current_jobs', '')
  redis.call('PEXPIRE', worker_key, dead_keep_ms)
  redis.call('ZADD', dead_key, now, worker_id)
end
redis.call('ZREMRANGEBYSCORE', dead_key, '-inf', now - dead_keep_ms)
if was_live then
  redis.call('PUBLISH', changed_channel, worker_id)
end
return requeued
