-- Pause a queue: nothing more is dispatched or started; running jobs finish.
-- KEYS[3] paused set      fq:paused
-- KEYS[4] queues set      fq:queues
-- KEYS[5] audit stream    fq:audit
-- ARGV[4] queue
-- ARGV[5] who (for the audit trail): name, or name|client address
-- Returns 1 when the queue was running, 0 when it was already paused.
local paused_key, queues_key, audit_key = KEYS[3], KEYS[4], KEYS[5]
local queue, who = ARGV[4], acting(ARGV[5])

redis.call('SADD', queues_key, queue)
if redis.call('SADD', paused_key, queue) == 0 then
  return 0
end
local now = now_ms()
emit('pause', {queue = queue, paused = true, who = who}, now)
audit(audit_key, who, 'pause', queue, 1, 0, queue, false, now)
return 1
