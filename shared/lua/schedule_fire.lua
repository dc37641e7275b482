-- Fire a schedule once for one fire time: create its job and advance next/last, or do
-- nothing when another monitor replica already fired that time (issue 21). The firing
-- is keyed by (schedule, fire time): it happens only while the schedule's next_ms
-- still holds the fire time the caller read. "Run now" (manual) fires without the check
-- and leaves next_ms alone.
-- KEYS[3] schedule hash   fq:schedule:<name>
-- KEYS[4] schedules index fq:schedules (names by next fire ms)
-- KEYS[5] audit stream    fq:audit
-- KEYS[6..12] as job_submit.lua's KEYS[3..9]: job hash, waiting set, delayed set, queues set,
--         jobs index, wake list, search index
-- ARGV[4] schedule name
-- ARGV[5] who (audited for a manual run): name, or name|client address
-- ARGV[6] manual (1: run now, 0: a planned firing)
-- ARGV[7] expected next_ms (the fire time the caller read; ignored when manual)
-- ARGV[8] new next_ms (ignored when manual)
-- ARGV[9] create the job (1/0: 0 when missed times are skipped)
-- ARGV[10] fire time (ms) the job stands for (0 when manual: now)
-- ARGV[11] fire times missed beyond the grace
-- ARGV[12..19] as job_submit.lua's ARGV[4..11]: job id, queue, actor, priority, args JSON,
--         max retries, delay ms, message template
-- ARGV[20..] as job_submit.lua's ARGV[12..]: search entries of the catalog's searchable arguments
-- Returns the new job's id, or '' when nothing was created. Raises schedule_not_found
-- (manual run of a missing schedule).
local schedule_key, index_key, audit_key = KEYS[3], KEYS[4], KEYS[5]
local job_key, waiting_key, queues_key, jobs_key, wake_key = KEYS[6], KEYS[7], KEYS[9], KEYS[10], KEYS[11]
local name, who, manual = ARGV[4], ARGV[5], ARGV[6] == '1'
local expected, next_ms, create = ARGV[7], ARGV[8], ARGV[9] == '1'
local fire_ms, missed = tonumber(ARGV[10]), tonumber(ARGV[11])
local job_id, queue, actor, priority = ARGV[12], ARGV[13], ARGV[14], ARGV[15]
local args_json, max_retries, template = ARGV[16], ARGV[17], ARGV[19]

local now = now_ms()
local stored = redis.call('HGET', schedule_key, 'next_ms')
if not stored then
  if manual then return fail('schedule_not_found', name) end
  return ''
end
if not manual then
  if stored ~= expected then
    return ''  -- fired already (another replica), or the schedule changed meanwhile
  end
  redis.call('HSET', schedule_key, 'next_ms', next_ms)
  if redis.call('HGET', schedule_key, 'enabled') == '1' then
    redis.call('ZADD', index_key, next_ms, name)
  end
end
if manual then
  who = acting(who)
  fire_ms = now
end

local data = {name = name, action = manual and 'run' or 'fired', fire_ms = fire_ms,
  next_ms = tonumber(redis.call('HGET', schedule_key, 'next_ms')), missed = missed}
if not create then
  data.action = 'skipped'
  emit('schedule', data, now)
  return ''
end

-- The job, exactly as job_submit.lua creates a waiting one (keep the two in step),
-- plus its link to the schedule.
if redis.call('EXISTS', job_key) == 1 then
  return fail('job_exists', job_id)
end
redis.call('ZADD', waiting_key, waiting_score(priority, now), job_id)
redis.call('LPUSH', wake_key, 1)
redis.call('LTRIM', wake_key, 0, 0)
redis.call('HSET', job_key, 'id', job_id, 'queue', queue, 'actor', actor, 'state', 'waiting',
  'priority', priority, 'args', args_json, 'created_ms', int(now), 'enqueued_ms', int(now),
  'eta_ms', '', 'attempts', 0, 'max_retries', max_retries, 'progress', 0, 'gen', 0,
  'dispatches', 0, 'msg', template, 'schedule', name, 'scheduled_ms', int(fire_ms))
redis.call('SADD', queues_key, queue)
redis.call('ZADD', jobs_key, 0, job_id)
for i = 20, #ARGV do redis.call('ZADD', KEYS[12], 0, ARGV[i] .. '\31' .. job_id) end  -- job search (issue 23)
job_event(job_id, queue, nil, 'waiting',
  {priority = tonumber(priority), actor = actor, schedule = name}, now)

redis.call('HSET', schedule_key, 'last_ms', int(fire_ms), 'last_job', job_id)
redis.call('HDEL', schedule_key, 'last_error', 'last_error_ms')  -- it fires again
data.job = job_id
emit('schedule', data, now)
if manual then
  audit(audit_key, who, 'schedule_run', queue, 1, 0, name, false, now)
end
return job_id
