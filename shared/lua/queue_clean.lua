-- Operator cleans finished jobs: removes up to `batch` jobs of one state set
-- (completed or failed, scored by finish time) that finished before a cut-off.
-- Callers loop in batches, so Redis is never blocked for long.
-- KEYS[3] state set       fq:q:<queue>:completed or :failed
-- KEYS[4] audit stream    fq:audit
-- KEYS[5] jobs index      fq:jobs
-- ARGV[4] queue
-- ARGV[5] who (for the audit trail): name, or name|client address
-- ARGV[6] state name (completed or failed)
-- ARGV[7] cut-off: jobs finished before this time (ms) are removed
-- ARGV[8] batch size
-- Returns the number of jobs removed.
local state_key, audit_key, index_key = KEYS[3], KEYS[4], KEYS[5]
local queue, who, state = ARGV[4], acting(ARGV[5]), ARGV[6]
local cutoff_ms, batch = tonumber(ARGV[7]), tonumber(ARGV[8])

local now = now_ms()
local ids = redis.call('ZRANGEBYSCORE', state_key, '-inf', '(' .. int(cutoff_ms), 'LIMIT', 0, batch)
for _, job_id in ipairs(ids) do
  remove_job(index_key, job_id, queue, state_key, state, 'cleaned', now)
end
if #ids > 0 then
  audit(audit_key, who, 'clean', queue, #ids, 0, state, true, now)
end
return #ids
