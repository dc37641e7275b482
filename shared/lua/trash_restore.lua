-- An operator restores one deleted job from the trash (issue 20): back to the state it was
-- in (restore_job), audited, whatever deleted it (a single DELETE, bulk or an operation).
-- KEYS[3] jobs index      fq:jobs
-- KEYS[4] trash           fq:trash
-- KEYS[5] audit stream    fq:audit
-- ARGV[4] job id
-- ARGV[5] who (for the audit trail): name, or name|role|client address
-- Returns the state the job is back in. Raises job_not_found when it is not in the trash
-- (never deleted, restored already, or past its TTL), job_exists when its id is taken again.
local index_key, trash_key, audit_key = KEYS[3], KEYS[4], KEYS[5]
local job_id, who = ARGV[4], acting(ARGV[5])

local queue = redis.call('HGET', trash_job_key(job_id), 'queue')
if not queue then
  return fail('job_not_found', 'job ' .. job_id .. ' is not in the trash')
end
if redis.call('EXISTS', job_key(job_id)) == 1 then
  return fail('job_exists', 'a job ' .. job_id .. ' exists again: restoring would replace it')
end
local now = now_ms()
local state = restore_job(job_id, index_key, trash_key, {reason = 'restored', who = who}, now)
audit(audit_key, who, 'restore', queue, 1, 0, job_id, false, now)
return state
