-- Health figures of many queues in one round trip.
-- KEYS[3..] five state sets per queue, in this order: waiting, delayed, active, completed, failed
-- ARGV[4] window (ms) over which completions and failures are counted
-- ARGV[5] highest priority (bands of the waiting score to scan for the oldest job)
-- Returns, per queue: {waiting, delayed, active, completed, failed,
--   enqueue time (ms) of the oldest waiting job or -1, completed in window, failed in window}.
local window_ms, max_priority = tonumber(ARGV[4]), tonumber(ARGV[5])
local now = now_ms()
local since = int(now - window_ms)
local out = {}
for base = 3, #KEYS, 5 do
  local waiting_key, completed_key, failed_key = KEYS[base], KEYS[base + 3], KEYS[base + 4]
  local counts = {}
  for i = 0, 4 do counts[#counts + 1] = redis.call('ZCARD', KEYS[base + i]) end
  -- Waiting is ordered by priority first: the oldest job heads one of the priority bands.
  local oldest = -1
  if counts[1] > 0 then
    for p = 0, max_priority do
      local low = int(p * PRIORITY_SCALE)
      local head = redis.call('ZRANGEBYSCORE', waiting_key, low, '(' .. int((p + 1) * PRIORITY_SCALE),
        'WITHSCORES', 'LIMIT', 0, 1)
      if head[2] then
        local enqueued = tonumber(head[2]) - p * PRIORITY_SCALE
        if oldest < 0 or enqueued < oldest then oldest = enqueued end
      end
    end
  end
  counts[#counts + 1] = oldest
  counts[#counts + 1] = redis.call('ZCOUNT', completed_key, since, '+inf')
  counts[#counts + 1] = redis.call('ZCOUNT', failed_key, since, '+inf')
  out[#out + 1] = counts
end
return out
