-- Empty the trash of jobs deleted before a cut-off (issue 20), at most `batch` a call:
-- their records (renamed, with a TTL) go for good, and their entries leave the trash and
-- the set of the operation that deleted them (so its undo no longer finds them).
-- KEYS[3] trash            fq:trash (members "<job id>|<operation id>")
-- ARGV[4] cut-off: jobs deleted before this time (ms, Redis clock) are purged
-- ARGV[5] batch size
-- Returns the number of jobs purged.
local trash_key = KEYS[3]
local cutoff_ms, batch = ARGV[4], tonumber(ARGV[5])

local members = redis.call('ZRANGEBYSCORE', trash_key, '-inf', '(' .. cutoff_ms, 'LIMIT', 0, batch)
for _, member in ipairs(members) do
  local job_id, op_id = string.match(member, '^(.*)|([^|]*)$')
  local trashed = trash_job_key(job_id)
  if redis.call('HGET', trashed, 'trash_op') == op_id then redis.call('DEL', trashed) end
  if op_id ~= '' then redis.call('ZREM', operation_trash_key(op_id), job_id) end
  redis.call('ZREM', trash_key, member)
end
return #members
