-- Resume a paused queue.
-- KEYS[3] paused set      fq:paused
-- KEYS[4] audit stream    fq:audit
-- ARGV[4] queue
-- ARGV[5] who (for the audit trail): name, or name|client address
-- Returns 1 when the queue was paused, 0 when it was already running.
local paused_key, audit_key = KEYS[3], KEYS[4]
local queue, who = ARGV[4], acting(ARGV[5])

if redis.call('SREM', paused_key, queue) == 0 then
  return 0
end
local now = now_ms()
emit('pause', {queue = queue, paused = false, who = who}, now)
audit(audit_key, who, 'resume', queue, 1, 0, queue, false, now)
return 1
