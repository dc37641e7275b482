-- Record a new operation (issue 20): tracked bulk work the monitor then executes in
-- batches (op_batch.lua). Its target set is fixed here: every member of the source set
-- scored up to `bound` (the last member's score now, or the clean cut-off), so its total
-- is exact and a resumed run walks the same set. An Idempotency-Key already used by the
-- same caller returns the operation it created, changing nothing.
-- KEYS[3] operation hash   fq:op:<id>
-- KEYS[4] operations       fq:ops
-- KEYS[5] pending          fq:ops:pending
-- KEYS[6] idempotency key  fq:op:idem:<who>:<digest> (unused when ARGV[6] is 0)
-- KEYS[7] audit stream     fq:audit
-- KEYS[8] source set       the state set, failure group set, or the operation's own ids set
-- ARGV[4] operation id
-- ARGV[5] who: name|role|client address, name|client address, or name
-- ARGV[6] idempotency key TTL (ms; 0: no key)
-- ARGV[7] bound: 'last' (the source's last score now), or an inclusive score
-- ARGV[8] jobs skipped at creation (ids that name no job)
-- ARGV[9] total ('' : the source's members up to the bound)
-- ARGV[10..] field, value pairs of the record (action, queue, filter, segments, ...)
-- Returns {operation id, 1 if created now / 0 if the key named an existing one}.
local op_key, ops_key, pending_key, idem_key, audit_key, source_key = KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local op_id, who, idem_ttl, bound = ARGV[4], acting(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local skipped, total = tonumber(ARGV[8]), ARGV[9]

if idem_ttl > 0 then
  local existing = redis.call('GET', idem_key)
  if existing and redis.call('EXISTS', operation_key(existing)) == 1 then
    return {existing, 0}
  end
end
local now = now_ms()
if bound == 'last' then
  local last = redis.call('ZRANGE', source_key, -1, -1, 'WITHSCORES')
  bound = last[2] or '-inf'
end
if total == '' then
  total = bound == '-inf' and 0 or redis.call('ZCOUNT', source_key, '-inf', bound)
else
  total = tonumber(total)
end
local fields = {}
for i = 10, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', op_key, 'id', op_id, 'state', 'queued', 'created_by', who, 'created_address', acting_address,
  'created_role', acting_role,
  'created_ms', int(now), 'started_ms', '', 'finished_ms', '', 'source', source_key, 'bound', bound,
  'cursor', '-inf', 'offset', 0, 'total', total, 'done', 0, 'skipped', skipped, unpack(fields))
redis.call('PERSIST', source_key)  -- the ids set the API wrote with a TTL (no-op on a state set)
redis.call('ZADD', ops_key, now, op_id)
if idem_ttl > 0 then redis.call('SET', idem_key, op_id, 'PX', idem_ttl) end
op_audit(audit_key, op_key, 'created', now)
if total <= skipped then  -- nothing to do: finished at once
  redis.call('HSET', op_key, 'state', 'done', 'started_ms', int(now), 'finished_ms', int(now), 'skipped', total)
  op_audit(audit_key, op_key, 'done', now)
else
  redis.call('ZADD', pending_key, now, op_id)
end
op_event(op_key, now)
return {op_id, 1}
