-- Counts, paused queues and the current event sequence, read at one instant,
-- so a snapshot and the events after it fit together exactly.
-- KEYS[3] paused set      fq:paused
-- KEYS[4..] state sets    fq:q:<queue>:<state>
-- Returns {last seq (0 if none), paused queues, one ZCARD per state set}.
local paused_key = KEYS[3]
local counts = {}
for i = 4, #KEYS do
  counts[#counts + 1] = redis.call('ZCARD', KEYS[i])
end
local seq = tonumber(redis.call('GET', seq_key) or '0')
return {seq, redis.call('SMEMBERS', paused_key), counts}
