-- Operator sets (or clears) a queue's retention policy; audited, announced as an
-- `admin` event so dashboards show the new policy.
-- KEYS[3] retention hash  fq:retention:<queue>
-- KEYS[4] queues set      fq:queues
-- KEYS[5] audit stream    fq:audit
-- ARGV[4] queue
-- ARGV[5] who (for the audit trail): name, or name|client address
-- ARGV[6] policy as JSON (for the audit trail), '' to clear
-- ARGV[7..] field, value pairs of the policy (none: back to the defaults)
-- Returns 1.
local retention_key, queues_key, audit_key = KEYS[3], KEYS[4], KEYS[5]
local queue, who, summary = ARGV[4], acting(ARGV[5]), ARGV[6]

redis.call('SADD', queues_key, queue)
redis.call('DEL', retention_key)
if #ARGV >= 8 then
  redis.call('HSET', retention_key, unpack(ARGV, 7))
end
audit(audit_key, who, 'retention', queue, 1, 0, summary, true, now_ms())
return 1
