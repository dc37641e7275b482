-- Pause a queue: nothing more is dispatched or started; running jobs finish.
-- KEYS[3] paused set      fq:paused
-- KEYS[4] queues set      fq:queues
-- ARGV[4] queue
-- Returns 1 when the queue was running, 0 when it was already paused.
local paused_key, queues_key = KEYS[3], KEYS[4]
local queue = ARGV[4]

redis.call('SADD', queues_key, queue)
if redis.call('SADD', paused_key, queue) == 0 then
  return 0
end
emit('pause', {queue = queue, paused = true}, now_ms())
return 1
