-- Release due delayed jobs, then top Dramatiq's list up from the best waiting jobs,
-- within the queue's limits (issue 21).
-- Atomic and idempotent: every worker (before each fetch) and the monitor run it.
-- KEYS[3] waiting set     fq:q:<queue>:waiting
-- KEYS[4] delayed set     fq:q:<queue>:delayed
-- KEYS[5] dispatched set  fq:q:<queue>:dispatched (waiting jobs Dramatiq holds)
-- KEYS[6] paused set      fq:paused
-- KEYS[7] Dramatiq list   dramatiq:<queue>
-- KEYS[8] Dramatiq msgs   dramatiq:<queue>.msgs
-- KEYS[9] limits hash     fq:limits:<queue> (concurrency, rate_limit, rate_window_ms; absent: unlimited)
-- KEYS[10] hand-out log   fq:q:<queue>:handouts (sorted set of message ids by hand-out ms, the rate window)
-- KEYS[11] active set     fq:q:<queue>:active
-- KEYS[12] limited wait   fq:q:<queue>:limited_wait_ms (counter of ms jobs were held back by limits)
-- ARGV[4] queue
-- ARGV[5] target: messages the Dramatiq list should hold after the call
-- ARGV[6] most delayed jobs released per call (bounds the script's run time)
-- ARGV[7] ms after which a dispatched job whose Dramatiq copy vanished counts as orphaned
-- A worker's consumer also fetches in the same call (issue 25: one round trip and one script
-- a fetch instead of two), exactly as Dramatiq's own fetch (dispatch.lua "fetch"): it beats
-- Dramatiq's heartbeat, pops up to ARGV[8] ids off the list into its ack set and returns
-- their bodies. The monitor fetches nothing (ARGV[8] = 0).
-- KEYS[13] ack set        dramatiq:__acks__.<worker>.<queue>
-- KEYS[14] heartbeats     dramatiq:__heartbeats__
-- ARGV[8] messages to fetch (0: none)
-- ARGV[9] worker (Dramatiq broker) id, for its heartbeat
-- ARGV[10] the worker's clock (ms), as Dramatiq's heartbeat has it
-- Returns {released, dispatched, paused (1/0), limited-wait ms of the jobs handed out, limited (1/0),
-- fetched message bodies...}; a paused queue fetches nothing.
--
-- Limits: a job counts against the concurrency limit from the moment it is handed to
-- Dramatiq (dispatched set) until it leaves the active set, so prefetched copies count
-- too and every script that ends, retries, deletes or reaps a job frees its slot by
-- the set moves it already makes. The rate limit is a sliding log of hand-outs.
local waiting_key, delayed_key, dispatched_key = KEYS[3], KEYS[4], KEYS[5]
local paused_key, list_key, msgs_key = KEYS[6], KEYS[7], KEYS[8]
local limits_key, handouts_key, active_key, waited_key = KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local queue, target, release_max = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local orphan_after_ms = tonumber(ARGV[7])
local acks_key, heartbeats_key = KEYS[13], KEYS[14]
local fetch, worker, worker_ms = tonumber(ARGV[8]) or 0, ARGV[9], ARGV[10]

local now = now_ms()

-- A copy lost before it started (skipped while Redis failed, purged by hand)
-- would leave its job dispatched forever: make it dispatchable again.
for _, job_id in ipairs(redis.call('ZRANGEBYSCORE', dispatched_key, '-inf', now - orphan_after_ms, 'LIMIT', 0, 20)) do
  local n = redis.call('HGET', job_key(job_id), 'dispatches')
  if not n or redis.call('HEXISTS', msgs_key, job_id .. ':' .. n) == 0 then
    redis.call('ZREM', dispatched_key, job_id)
  end
end

local due = redis.call('ZRANGEBYSCORE', delayed_key, '-inf', now, 'LIMIT', 0, release_max)
for _, job_id in ipairs(due) do
  local record = job_key(job_id)
  local priority = redis.call('HGET', record, 'priority')
  redis.call('ZREM', delayed_key, job_id)
  if priority then
    redis.call('ZADD', waiting_key, waiting_score(priority, now), job_id)
    redis.call('HSET', record, 'state', 'waiting', 'enqueued_ms', int(now), 'eta_ms', '')
    job_event(job_id, queue, 'delayed', 'waiting', {reason = 'due'}, now)
  end
end

if redis.call('SISMEMBER', paused_key, queue) == 1 then
  return {#due, 0, 1, 0, 0}
end

local need = target - redis.call('LLEN', list_key)
local sent, waited, limited = 0, 0, 0
if need > 0 then
  -- Dispatched jobs stay in the waiting set, so skip past them.
  local inflight = redis.call('ZCARD', dispatched_key)
  -- limits: begin (bench/dispatch_limits.py's pre-limits baseline runs the script with this
  -- block replaced by: local limits, allow = {}, need)
  -- Unlimited queues pay one HMGET of a missing key here (issue 21: same cost as before).
  local limits = redis.call('HMGET', limits_key, 'concurrency', 'rate_limit', 'rate_window_ms')
  local allow = need
  if limits[1] then
    local free = tonumber(limits[1]) - inflight - redis.call('ZCARD', active_key)
    if free < allow then allow = free end
  end
  local window_ms = tonumber(limits[3])
  if limits[2] then
    redis.call('ZREMRANGEBYSCORE', handouts_key, '-inf', now - window_ms)
    local free = tonumber(limits[2]) - redis.call('ZCARD', handouts_key)
    if free < allow then allow = free end
  end
  if allow < 0 then allow = 0 end
  -- limits: end
  local candidates = redis.call('ZRANGE', waiting_key, 0, need + inflight - 1)
  local looked = 0
  for _, job_id in ipairs(candidates) do
    if looked >= need then break end
    if not redis.call('ZSCORE', dispatched_key, job_id) then
      local record = job_key(job_id)
      looked = looked + 1
      if sent >= allow then
        -- Held back by a limit: remember since when, for the limited-wait metric.
        redis.call('HSETNX', record, 'limited_ms', int(now))
        limited = 1
      else
        local f = redis.call('HMGET', record, 'msg', 'gen', 'attempts', 'limited_ms')
        if f[1] then
          local message_id = job_id .. ':' .. redis.call('HINCRBY', record, 'dispatches', 1)
          local body = f[1] .. ',"fq_gen":' .. f[2] .. ',"retries":' .. f[3] ..
            ',"redis_message_id":"' .. message_id .. '"}}'
          redis.call('HSET', msgs_key, message_id, body)
          redis.call('RPUSH', list_key, message_id)
          redis.call('ZADD', dispatched_key, now, job_id)
          if f[4] then
            waited = waited + math.max(0, now - tonumber(f[4]))
            redis.call('HDEL', record, 'limited_ms')
          end
          if limits[2] then
            redis.call('ZADD', handouts_key, now, message_id)
          end
          sent = sent + 1
        else
          looked = looked - 1
          redis.call('ZREM', waiting_key, job_id)
        end
      end
    end
  end
  if limits[2] then
    redis.call('PEXPIRE', handouts_key, window_ms)
  end
  if waited > 0 then
    redis.call('INCRBY', waited_key, int(waited))
  end
end
local reply = {#due, sent, 0, waited, limited}
if fetch > 0 then
  redis.call('ZADD', heartbeats_key, worker_ms, worker)
  local ids = {}
  for i = 1, math.min(fetch, 1000) do
    local message_id = redis.call('LPOP', list_key)
    if not message_id then break end
    ids[i] = message_id
    redis.call('SADD', acks_key, message_id)
  end
  if #ids > 0 then
    local bodies = redis.call('HMGET', msgs_key, unpack(ids))
    for i = 1, #ids do reply[5 + i] = bodies[i] end
  end
end
return reply
