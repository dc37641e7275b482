-- Release due delayed jobs, then top Dramatiq's list up from the best waiting jobs.
-- Atomic and idempotent: every worker (before each fetch) and the monitor run it.
-- KEYS[3] waiting set     fq:q:<queue>:waiting
-- KEYS[4] delayed set     fq:q:<queue>:delayed
-- KEYS[5] dispatched set  fq:q:<queue>:dispatched (waiting jobs Dramatiq holds)
-- KEYS[6] paused set      fq:paused
-- KEYS[7] Dramatiq list   dramatiq:<queue>
-- KEYS[8] Dramatiq msgs   dramatiq:<queue>.msgs
-- ARGV[4] queue
-- ARGV[5] target: messages the Dramatiq list should hold after the call
-- ARGV[6] most delayed jobs released per call (bounds the script's run time)
-- ARGV[7] ms after which a dispatched job whose Dramatiq copy vanished counts as orphaned
-- Returns {released, dispatched, paused (1/0)}.
local waiting_key, delayed_key, dispatched_key = KEYS[3], KEYS[4], KEYS[5]
local paused_key, list_key, msgs_key = KEYS[6], KEYS[7], KEYS[8]
local queue, target, release_max = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local orphan_after_ms = tonumber(ARGV[7])

local now = now_ms()

-- A copy lost before it started (skipped while Redis failed, purged by hand)
-- would leave its job dispatched forever: make it dispatchable again.
for _, job_id in ipairs(redis.call('ZRANGEBYSCORE', dispatched_key, '-inf', now - orphan_after_ms, 'LIMIT', 0, 20)) do
  local n = redis.call('HGET', job_prefix .. job_id, 'dispatches')
  if not n or redis.call('HEXISTS', msgs_key, job_id .. ':' .. n) == 0 then
    redis.call('ZREM', dispatched_key, job_id)
  end
end

local due = redis.call('ZRANGEBYSCORE', delayed_key, '-inf', now, 'LIMIT', 0, release_max)
for _, job_id in ipairs(due) do
  local job_key = job_prefix .. job_id
  local priority = redis.call('HGET', job_key, 'priority')
  redis.call('ZREM', delayed_key, job_id)
  if priority then
    redis.call('ZADD', waiting_key, waiting_score(priority, now), job_id)
    redis.call('HSET', job_key, 'state', 'waiting', 'enqueued_ms', int(now), 'eta_ms', '')
    job_event(job_id, queue, 'delayed', 'waiting', {reason = 'due'}, now)
  end
end

if redis.call('SISMEMBER', paused_key, queue) == 1 then
  return {#due, 0, 1}
end

local need = target - redis.call('LLEN', list_key)
local sent = 0
if need > 0 then
  -- Dispatched jobs stay in the waiting set, so skip past them.
  local inflight = redis.call('ZCARD', dispatched_key)
  local candidates = redis.call('ZRANGE', waiting_key, 0, need + inflight - 1)
  for _, job_id in ipairs(candidates) do
    if sent >= need then break end
    if not redis.call('ZSCORE', dispatched_key, job_id) then
      local job_key = job_prefix .. job_id
      local f = redis.call('HMGET', job_key, 'msg', 'gen', 'attempts')
      if f[1] then
        local message_id = job_id .. ':' .. redis.call('HINCRBY', job_key, 'dispatches', 1)
        local body = f[1] .. ',"fq_gen":' .. f[2] .. ',"retries":' .. f[3] ..
          ',"redis_message_id":"' .. message_id .. '"}}'
        redis.call('HSET', msgs_key, message_id, body)
        redis.call('RPUSH', list_key, message_id)
        redis.call('ZADD', dispatched_key, now, job_id)
        sent = sent + 1
      else
        redis.call('ZREM', waiting_key, job_id)
      end
    end
  end
end
return {#due, sent, 0}
