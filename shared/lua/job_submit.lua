-- Create a job: waiting, or delayed when it has a delay.
-- KEYS[3] job hash        fq:job:<id>
-- KEYS[4] waiting set     fq:q:<queue>:waiting
-- KEYS[5] delayed set     fq:q:<queue>:delayed
-- KEYS[6] queues set      fq:queues
-- KEYS[7] jobs index      fq:jobs (every id, lexicographic: ids sort by age)
-- KEYS[8] wake list       fq:wake:<queue> (one token wakes an idle consumer at once)
-- ARGV[4] job id
-- ARGV[5] queue
-- ARGV[6] actor name
-- ARGV[7] priority (int, lower runs first)
-- ARGV[8] args (JSON array)
-- ARGV[9] max retries
-- ARGV[10] delay (ms; 0 = run now)
-- ARGV[11] Dramatiq message template (JSON cut open inside "options", see shared/messages.py)
-- KEYS[9]  search index    fq:search (issue 23)
-- ARGV[12..] search entries "<field> US <value>" of the catalog's searchable arguments
-- Returns the new state. Raises job_exists.
local job_key, waiting_key, delayed_key, queues_key, index_key = KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local job_id, queue, actor, priority = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local args_json, max_retries, delay_ms, template = ARGV[8], ARGV[9], tonumber(ARGV[10]), ARGV[11]

if redis.call('EXISTS', job_key) == 1 then
  return fail('job_exists', job_id)
end
local now = now_ms()
local state = 'waiting'
local eta = ''
if delay_ms > 0 then
  state = 'delayed'
  eta = int(now + delay_ms)
  redis.call('ZADD', delayed_key, eta, job_id)
else
  redis.call('ZADD', waiting_key, waiting_score(priority, now), job_id)
  redis.call('LPUSH', KEYS[8], 1)
  redis.call('LTRIM', KEYS[8], 0, 0)
end
redis.call('HSET', job_key, 'id', job_id, 'queue', queue, 'actor', actor, 'state', state,
  'priority', priority, 'args', args_json, 'created_ms', int(now), 'enqueued_ms', int(now),
  'eta_ms', eta, 'attempts', 0, 'max_retries', max_retries, 'progress', 0, 'gen', 0,
  'dispatches', 0, 'msg', template)
redis.call('SADD', queues_key, queue)
redis.call('ZADD', index_key, 0, job_id)
-- Job search (issue 23, shared/search.py): index the searchable argument values.
for i = 12, #ARGV do redis.call('ZADD', KEYS[9], 0, ARGV[i] .. '\31' .. job_id) end
job_event(job_id, queue, nil, state, {priority = tonumber(priority), actor = actor}, now)
return state
