-- Forget finished operations created before a cut-off (issue 20), at most `batch` a call, so
-- records do not pile up for months: the record, its ids set and (once the trash no longer
-- holds any of its jobs) its trash set. Unfinished ones are kept whatever their age.
-- KEYS[3] operations       fq:ops (ids by creation time, ms)
-- ARGV[4] cut-off: operations created before this time (ms) may go
-- ARGV[5] batch size
-- Returns the number of operations forgotten.
local ops_key = KEYS[3]
local cutoff_ms, batch = ARGV[4], tonumber(ARGV[5])

local forgotten = 0
for _, op_id in ipairs(redis.call('ZRANGEBYSCORE', ops_key, '-inf', '(' .. cutoff_ms, 'LIMIT', 0, batch)) do
  local record = operation_key(op_id)
  local state = redis.call('HGET', record, 'state')
  local trash_left = redis.call('ZCARD', operation_trash_key(op_id))
  if (not state or state == 'done' or state == 'cancelled' or state == 'failed') and trash_left == 0 then
    redis.call('DEL', record, operation_ids_key(op_id))
    redis.call('ZREM', ops_key, op_id)
    forgotten = forgotten + 1
  end
end
return forgotten
