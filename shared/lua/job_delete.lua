-- Operator deletes a job in any state; an active one only with force (its
-- running copy then finds no record and its outcome is dropped).
-- KEYS[3] job hash        fq:job:<id>
-- KEYS[4] waiting set     fq:q:<queue>:waiting
-- KEYS[5] delayed set     fq:q:<queue>:delayed
-- KEYS[6] active set      fq:q:<queue>:active
-- KEYS[7] completed set   fq:q:<queue>:completed
-- KEYS[8] failed set      fq:q:<queue>:failed
-- KEYS[9] dispatched set  fq:q:<queue>:dispatched
-- ARGV[4] job id
-- ARGV[5] queue
-- ARGV[6] force (1/0)
-- Returns the state the job was in. Raises job_not_found, invalid_transition.
local job_key, dispatched_key = KEYS[3], KEYS[9]
local state_keys = {waiting = KEYS[4], delayed = KEYS[5], active = KEYS[6], completed = KEYS[7], failed = KEYS[8]}
local job_id, queue, force = ARGV[4], ARGV[5], ARGV[6]

local state = redis.call('HGET', job_key, 'state')
if not state then return fail('job_not_found', job_id) end
if state == 'active' and force ~= '1' then
  return fail('invalid_transition', 'active job can only be deleted with force')
end
redis.call('ZREM', dispatched_key, job_id)
remove_job(job_id, queue, state_keys[state], state, 'deleted', now_ms())
return state
