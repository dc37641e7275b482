-- Operator deletes jobs in any state; active ones only with force (a running
-- copy then finds no record and its outcome is dropped). One job, a list of
-- ids, or (bulk by filter) the first `limit` jobs of one state set. Deleted jobs
-- go to the trash for `ttl` (issue 20; listed by GET /api/v1/trash).
-- KEYS[3] waiting set     fq:q:<queue>:waiting
-- KEYS[4] delayed set     fq:q:<queue>:delayed
-- KEYS[5] active set      fq:q:<queue>:active
-- KEYS[6] completed set   fq:q:<queue>:completed
-- KEYS[7] failed set      fq:q:<queue>:failed
-- KEYS[8] dispatched set  fq:q:<queue>:dispatched
-- KEYS[9] audit stream    fq:audit
-- KEYS[10] source set     the state set a bulk-by-filter call empties (any of the above)
-- KEYS[11] jobs index     fq:jobs
-- KEYS[12] trash          fq:trash
-- ARGV[4] queue
-- ARGV[5] who (for the audit trail): name, or name|client address
-- ARGV[6] how many to take from the source set when no ids are given (0: none)
-- ARGV[7] force (1/0)
-- ARGV[8] trash TTL (ms)
-- ARGV[9..] job ids
-- Returns {done, skipped, state of the last skipped job ('missing' if unknown)};
-- for one job, its state before deletion is returned as the third item.
local state_keys = {waiting = KEYS[3], delayed = KEYS[4], active = KEYS[5], completed = KEYS[6], failed = KEYS[7]}
local dispatched_key, audit_key, source_key, index_key, trash_key = KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local queue, who, limit, force, ttl_ms = ARGV[4], acting(ARGV[5]), tonumber(ARGV[6]), ARGV[7] == '1', ARGV[8]

local now = now_ms()
local ids = targets(9, source_key, limit)
local done, skipped, last = 0, 0, ''
for _, job_id in ipairs(ids) do
  local f = redis.call('HMGET', job_key(job_id), 'state', 'queue')
  local state = f[1]
  if state and f[2] == queue and (state ~= 'active' or force) then
    redis.call('ZREM', dispatched_key, job_id)
    trash_job(index_key, trash_key, nil, '', job_id, queue, state_keys[state], state, ttl_ms, who, now)
    done = done + 1
    last = state
  else
    skipped = skipped + 1
    last = state or 'missing'
    if limit > 0 and not state then redis.call('ZREM', source_key, job_id) end  -- dangling index entry
  end
end
local bulk = #ids ~= 1 or limit > 0
if done > 0 or (bulk and #ids > 0) then  -- a refused single action changes nothing, not even the audit
  audit(audit_key, who, 'delete', queue, done, skipped, bulk and '' or ids[1], bulk, now)
end
return {done, skipped, last}
