-- Cancel an operation (issue 20): queued or running -> cancelled at once. Batches check
-- the state first, so no batch runs after this call; what was done stays done.
-- KEYS[3] operation hash   fq:op:<id>
-- KEYS[4] pending          fq:ops:pending
-- KEYS[5] audit stream     fq:audit
-- ARGV[4] operation id
-- ARGV[5] who: name|role|client address, name|client address, or name
-- Returns 'cancelled'. Raises operation_not_found, invalid_transition (already finished).
local op_key, pending_key, audit_key = KEYS[3], KEYS[4], KEYS[5]
local op_id, who = ARGV[4], acting(ARGV[5])

local state = redis.call('HGET', op_key, 'state')
if not state then return fail('operation_not_found', 'no operation ' .. op_id) end
if state ~= 'queued' and state ~= 'running' then
  return fail('invalid_transition', state .. ' operation cannot be cancelled')
end
local now = now_ms()
redis.call('HSET', op_key, 'state', 'cancelled', 'finished_ms', int(now), 'cancelled_by', who)
if redis.call('HGET', op_key, 'started_ms') == '' then redis.call('HSET', op_key, 'started_ms', int(now)) end
redis.call('ZREM', pending_key, op_id)
op_audit(audit_key, op_key, 'cancelled', now)
audit(audit_key, who, 'operation_cancel', redis.call('HGET', op_key, 'queue') or '', 0, 0, op_id, false, now)
op_event(op_key, now)
return 'cancelled'
