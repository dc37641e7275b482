-- Operator removes a worker: a live one is asked to drain and exit (it sees the
-- flag on its next beat); a dead one is forgotten. Callers reap the worker
-- first, so a worker that stopped beating never takes jobs with it.
-- KEYS[3] worker hash     fq:worker:<id>
-- KEYS[4] workers set     fq:workers
-- KEYS[5] dead workers    fq:workers:dead
-- KEYS[6] audit stream    fq:audit
-- ARGV[4] worker id
-- ARGV[5] who (for the audit trail): name|role|client address
-- ARGV[6] membership channel
-- Returns 'draining' or 'forgotten'. Raises worker_not_found.
local worker_key, workers_key, dead_key, audit_key = KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local worker_id, who, changed_channel = ARGV[4], acting(ARGV[5]), ARGV[6]

local now = now_ms()
local outcome
if redis.call('ZSCORE', workers_key, worker_id) then
  redis.call('HSET', worker_key, 'stop_requested', 1)
  outcome = 'draining'
elseif redis.call('ZSCORE', dead_key, worker_id) or redis.call('EXISTS', worker_key) == 1 then
  redis.call('DEL', worker_key)
  redis.call('ZREM', dead_key, worker_id)
  redis.call('PUBLISH', changed_channel, worker_id)
  outcome = 'forgotten'
else
  return fail('worker_not_found', 'no worker ' .. worker_id)
end
local entry = redis.call('XADD', audit_key, 'MAXLEN', '~', events_maxlen, '*', 'who', who,
  'action', 'remove_worker', 'target', worker_id, 'count', 1, 'outcome', outcome, 'ts_ms', int(now),
  'address', acting_address, 'role', acting_role)
emit('audit', {entry = entry, who = who, role = acting_role, address = acting_address,
  action = 'remove_worker', queue = '', target = worker_id, count = 1, skipped = 0}, now)
emit('admin', {action = 'remove_worker', worker = worker_id, outcome = outcome, count = 1, who = who,
  role = acting_role, address = acting_address}, now)
return outcome
