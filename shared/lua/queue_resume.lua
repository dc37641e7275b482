-- Resume a paused queue.
-- KEYS[3] paused set      fq:paused
-- ARGV[4] queue
-- Returns 1 when the queue was paused, 0 when it was already running.
local paused_key = KEYS[3]
local queue = ARGV[4]

if redis.call('SREM', paused_key, queue) == 0 then
  return 0
end
emit('pause', {queue = queue, paused = false}, now_ms())
return 1
