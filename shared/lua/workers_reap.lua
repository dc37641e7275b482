-- Recover a dead worker at once: its active jobs go back to waiting with a new
-- generation, the messages it had prefetched are dropped (their jobs are
-- dispatched again), and its registry entries are removed. A worker whose beat
-- is fresh again is left alone, so concurrent reapers are harmless.
-- KEYS[3] worker hash      fq:worker:<id>
-- KEYS[4] workers set      fq:workers
-- KEYS[5] Dramatiq beats   dramatiq:__heartbeats__
-- then five keys per queue, in the order of ARGV[6..]:
--   Dramatiq acks set      dramatiq:__acks__.<worker>.<queue>
--   Dramatiq msgs          dramatiq:<queue>.msgs
--   waiting set            fq:q:<queue>:waiting
--   dispatched set         fq:q:<queue>:dispatched
--   active set             fq:q:<queue>:active
-- ARGV[4] worker id
-- ARGV[5] ms without a beat before the worker counts as dead
-- ARGV[6..] queue names
-- Returns the number of active jobs moved back to waiting, or -1 if the worker is alive.
local worker_key, workers_key, dramatiq_beats = KEYS[3], KEYS[4], KEYS[5]
local worker_id, dead_after_ms = ARGV[4], tonumber(ARGV[5])

local now = now_ms()
local beat = redis.call('ZSCORE', workers_key, worker_id)
if beat and now - tonumber(beat) < dead_after_ms then
  return -1
end
local requeued = 0
for i = 6, #ARGV do
  local queue = ARGV[i]
  local base = 5 + (i - 6) * 5
  local acks_key, msgs_key, waiting_key = KEYS[base + 1], KEYS[base + 2], KEYS[base + 3]
  local dispatched_key, active_key = KEYS[base + 4], KEYS[base + 5]
  for _, job_id in ipairs(redis.call('ZRANGE', active_key, 0, -1)) do
    local job_key = job_prefix .. job_id
    local f = redis.call('HMGET', job_key, 'worker', 'priority', 'enqueued_ms')
    if f[1] == worker_id then
      redis.call('ZREM', active_key, job_id)
      redis.call('ZADD', waiting_key, waiting_score(f[2], f[3]), job_id)
      redis.call('HSET', job_key, 'state', 'waiting', 'worker', '', 'started_ms', '')
      redis.call('HINCRBY', job_key, 'gen', 1)
      job_event(job_id, queue, 'active', 'waiting', {reason = 'worker_lost', worker = worker_id}, now)
      requeued = requeued + 1
    end
  end
  for _, message_id in ipairs(redis.call('SMEMBERS', acks_key)) do
    redis.call('HDEL', msgs_key, message_id)
    local job_id = string.match(message_id, '^(.*):%d+$')
    if job_id and redis.call('ZREM', dispatched_key, job_id) == 1 then
      redis.call('HINCRBY', job_prefix .. job_id, 'gen', 1)
    end
  end
  redis.call('DEL', acks_key)
end
redis.call('DEL', worker_key)
redis.call('ZREM', workers_key, worker_id)
redis.call('ZREM', dramatiq_beats, worker_id)
return requeued
