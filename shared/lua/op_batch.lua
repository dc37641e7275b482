-- One batch of an operation (issue 20), run by the monitor holding the operations lease.
-- Checks the fencing token first (a monitor that lost its lease changes nothing), then
-- applies the action to the next `batch` members of the target set after the cursor and
-- moves the cursor, all in this one call: a monitor killed between two calls leaves a
-- cursor that a resumed run continues from, so no job is handled twice.
--
-- The cursor is (score, offset): the next members have a score >= `cursor`, skipping the
-- first `offset` of those at exactly `cursor` that are still there (members an action
-- moved out of the set, or re-scored, are not counted, so drained sets and walked sets
-- resume exactly). Members above the bound joined after creation and are not targets.
-- KEYS[3] operation hash    fq:op:<id>
-- KEYS[4] lease             fq:ops:lease
-- KEYS[5] pending           fq:ops:pending
-- KEYS[6] source set        the set named by the record's `source`
-- KEYS[7] waiting set       fq:q:<queue>:waiting   (of this batch's queue)
-- KEYS[8] delayed set       fq:q:<queue>:delayed
-- KEYS[9] active set        fq:q:<queue>:active
-- KEYS[10] completed set    fq:q:<queue>:completed
-- KEYS[11] failed set       fq:q:<queue>:failed
-- KEYS[12] dispatched set   fq:q:<queue>:dispatched
-- KEYS[13] jobs index       fq:jobs
-- KEYS[14] trash            fq:trash
-- KEYS[15] operation trash  fq:op:<id>:trash (what this operation deleted)
-- KEYS[16] audit stream     fq:audit
-- ARGV[4] lease owner
-- ARGV[5] fencing token
-- ARGV[6] lease TTL (ms), renewed by every batch
-- ARGV[7] batch size (jobs looked at, at most)
-- ARGV[8] bound of this segment ('' : the record's bound); by ids, a queue's last position
-- ARGV[9] queue of this batch
-- ARGV[10] 1 when this is the last segment
-- ARGV[11] trash TTL (ms)
-- ARGV[12] time budget (µs): the call stops after the job that used it up, so a batch of jobs
--          that turn out costly (large records to free, a stalled allocator) stays short; the
--          cursor then points just past the last job handled and the next call goes on from there
-- Returns {state after the call, jobs done, jobs skipped}. Raises lease_lost.
local op_key, lease_key, pending_key, source_key = KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local state_keys = {waiting = KEYS[7], delayed = KEYS[8], active = KEYS[9], completed = KEYS[10], failed = KEYS[11]}
local dispatched_key, index_key, trash_key, op_trash_key, audit_key = KEYS[12], KEYS[13], KEYS[14], KEYS[15], KEYS[16]
local owner, token, lease_ms, batch = ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
local seg_bound, queue, last_segment, trash_ms = ARGV[8], ARGV[9], ARGV[10] == '1', ARGV[11]
local budget_us = tonumber(ARGV[12])

if redis.call('GET', lease_key) ~= owner .. ' ' .. token then
  return fail('lease_lost', 'the operations lease is held by another monitor')
end
redis.call('PEXPIRE', lease_key, lease_ms)

local op = {}
local raw = redis.call('HMGET', op_key, 'id', 'state', 'action', 'created_by', 'cursor', 'offset', 'bound',
  'force', 'priority', 'filter_state', 'total', 'done', 'skipped')
for i, name in ipairs({'id', 'state', 'action', 'who', 'cursor', 'offset', 'bound', 'force', 'priority',
    'filter_state', 'total', 'done', 'skipped'}) do op[name] = raw[i] end
if op.state ~= 'queued' and op.state ~= 'running' then
  redis.call('ZREM', pending_key, op.id or '')
  return {op.state or 'missing', 0, 0}
end
local now = now_ms()
if op.state == 'queued' then
  redis.call('HSET', op_key, 'state', 'running', 'started_ms', int(now))
end
local op_id, who, force = op.id, op.who, op.force == '1'

local function event_extra(reason)
  return {reason = reason, who = who, op = op_id}
end

-- Each action returns true (done), false (skipped: not applicable) or nil (already done by
-- this operation: counted neither way).
local function retry(job_id)
  local record = job_key(job_id)
  local f = redis.call('HMGET', record, 'state', 'priority', 'queue', 'fingerprint')
  if f[1] ~= 'failed' or f[3] ~= queue then return false end
  group_remove(queue, f[4], job_id)
  redis.call('ZREM', state_keys.failed, job_id)
  redis.call('ZADD', state_keys.waiting, waiting_score(f[2], now), job_id)
  redis.call('HSET', record, 'state', 'waiting', 'attempts', 0, 'enqueued_ms', int(now), 'finished_ms', '',
    'error', '', 'traceback', '', 'worker', '', 'progress', 0, 'stage', '', 'fingerprint', '')
  redis.call('HINCRBY', record, 'gen', 1)
  job_event(job_id, queue, 'failed', 'waiting', event_extra('retry'), now)
  return true
end

local function promote(job_id)
  local record = job_key(job_id)
  local f = redis.call('HMGET', record, 'state', 'priority', 'queue')
  if f[1] ~= 'delayed' or f[3] ~= queue then return false end
  redis.call('ZREM', state_keys.delayed, job_id)
  redis.call('ZADD', state_keys.waiting, waiting_score(f[2], now), job_id)
  redis.call('HSET', record, 'state', 'waiting', 'enqueued_ms', int(now), 'eta_ms', '')
  job_event(job_id, queue, 'delayed', 'waiting', event_extra('promote'), now)
  return true
end

local function delete(job_id)
  local f = redis.call('HMGET', job_key(job_id), 'state', 'queue')
  local state = f[1]
  if not state or f[2] ~= queue or (state == 'active' and not force) then return false end
  redis.call('ZREM', dispatched_key, job_id)
  trash_job(index_key, trash_key, op_trash_key, op_id, job_id, queue, state_keys[state], state, trash_ms, who, now)
  return true
end

local function set_priority(job_id)
  local record = job_key(job_id)
  local f = redis.call('HMGET', record, 'state', 'enqueued_ms', 'queue', 'last_op')
  if f[4] == op_id then return nil end
  if (f[1] ~= 'waiting' and f[1] ~= 'delayed') or f[3] ~= queue then return false end
  if f[1] == 'waiting' then
    redis.call('ZADD', state_keys.waiting, waiting_score(op.priority, f[2]), job_id)
    if redis.call('ZREM', dispatched_key, job_id) == 1 then redis.call('HINCRBY', record, 'gen', 1) end
  end
  redis.call('HSET', record, 'priority', op.priority, 'last_op', op_id)
  local data = event_extra('priority')
  data.priority = tonumber(op.priority)
  job_event(job_id, queue, f[1], f[1], data, now)
  return true
end

local function clean(job_id)
  local f = redis.call('HMGET', job_key(job_id), 'state', 'queue')
  if f[1] ~= op.filter_state or f[2] ~= queue then return false end
  remove_job(index_key, job_id, queue, state_keys[f[1]], f[1], 'cleaned', now)
  return true
end

-- Undo: a job this operation's source deleted comes back from the trash (restore_job, which
-- also takes it out of this operation's trash set: the source); one no longer there (expired,
-- restored on its own) leaves the source too.
local function restore(job_id)
  if restore_job(job_id, index_key, trash_key, event_extra('restored'), now) ~= nil then return true end
  redis.call('ZREM', source_key, job_id)
  return false
end

local ACTIONS = {retry = retry, promote = promote, delete = delete, ['set-priority'] = set_priority,
  clean = clean, undo = restore}
local act = ACTIONS[op.action]

local bound = seg_bound ~= '' and seg_bound or op.bound
local cursor, offset = op.cursor, tonumber(op.offset)
local members = {}
if bound ~= '-inf' then
  members = redis.call('ZRANGEBYSCORE', source_key, cursor, bound, 'WITHSCORES', 'LIMIT', offset, batch)
end
local started_us = clock_us()
local done, skipped = 0, 0
local through = #members < batch * 2  -- this segment has no more targets after these
for i = 1, #members, 2 do
  local outcome = act(members[i])
  if outcome == true then done = done + 1 elseif outcome == false then skipped = skipped + 1 end
  if i + 1 < #members and clock_us() - started_us >= budget_us then
    -- Out of time: keep the handled ones only, so the cursor stops right after them.
    for j = #members, i + 2, -1 do members[j] = nil end
    through = false
    break
  end
end
if #members > 0 then
  local last = members[#members]
  local stay = 0
  for i = 1, #members, 2 do
    if members[i + 1] == last and redis.call('ZSCORE', source_key, members[i]) == last then stay = stay + 1 end
  end
  offset = (last == cursor) and (offset + stay) or stay
  cursor = last
end
local total = tonumber(op.total)
local all_done, all_skipped = tonumber(op.done) + done, tonumber(op.skipped) + skipped
local state = 'running'
if through then
  if last_segment then
    state = 'done'
    if all_done + all_skipped < total then all_skipped = total - all_done end  -- left the set meanwhile
  else
    cursor, offset = int(tonumber(bound) + 1), 0
  end
end
redis.call('HSET', op_key, 'cursor', cursor, 'offset', offset, 'done', all_done, 'skipped', all_skipped,
  'state', state)
if state == 'done' then
  redis.call('HSET', op_key, 'finished_ms', int(now))
  redis.call('ZREM', pending_key, op_id)
  op_audit(audit_key, op_key, 'done', now)
end
op_event(op_key, now)
return {state, done, skipped}
