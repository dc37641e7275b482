-- Retention: remove one queue's oldest finished jobs (completed or failed, scored
-- by finish time) beyond its count or older than its age, at most `batch` a call,
-- so Redis is never blocked for long; the monitor calls it until nothing is left.
-- KEYS[3] state set       fq:q:<queue>:completed or :failed
-- KEYS[4] jobs index      fq:jobs
-- ARGV[4] queue
-- ARGV[5] state name (completed or failed)
-- ARGV[6] jobs kept at most
-- ARGV[7] cut-off: jobs finished before this time (ms, Redis clock) are removed
-- ARGV[8] batch size
-- Returns the number of jobs removed.
local state_key, index_key = KEYS[3], KEYS[4]
local queue, state, keep = ARGV[4], ARGV[5], tonumber(ARGV[6])
local cutoff_ms, batch = tonumber(ARGV[7]), tonumber(ARGV[8])

local excess = redis.call('ZCARD', state_key) - keep
local oldest = redis.call('ZRANGE', state_key, 0, batch - 1, 'WITHSCORES')
local now = now_ms()
local removed = 0
for i = 1, #oldest, 2 do
  -- Oldest first: once one is within both bounds, so is every later one.
  if removed >= excess and tonumber(oldest[i + 1]) >= cutoff_ms then
    break
  end
  remove_job(index_key, oldest[i], queue, state_key, state, 'retention', now)
  removed = removed + 1
end
return removed
