-- A worker's run succeeded: ack its Dramatiq copy, active -> completed. (The monitor
-- trims completed jobs by each queue's retention: queue_trim.lua.)
-- The ack is Dramatiq's own (dispatch.lua's "ack": SREM from the worker's ack set,
-- then HDEL the body) done here so a job costs one round trip less and no crash
-- can fall between the ack and the outcome (issue 9).
-- KEYS[3] job hash        fq:job:<id>
-- KEYS[4] active set      fq:q:<queue>:active
-- KEYS[5] completed set   fq:q:<queue>:completed
-- KEYS[6] ack set         dramatiq:__acks__.<worker>.<queue>
-- KEYS[7] Dramatiq msgs   dramatiq:<queue>.msgs
-- ARGV[4] job id
-- ARGV[5] queue
-- ARGV[6] generation of the run
-- ARGV[7] worker id
-- ARGV[8] result (JSON)
-- ARGV[9] Dramatiq message id to ack ('' = none: the caller acks it itself)
-- KEYS[8] search index    fq:search (issue 23)
-- ARGV[10..] search entries "<field> US <value>" of the catalog's searchable result values
-- Returns 1 when recorded, 0 when this run was superseded (only the ack, if any, done).
local job_key, active_key, completed_key = KEYS[3], KEYS[4], KEYS[5]
local acks_key, msgs_key = KEYS[6], KEYS[7]
local job_id, queue, gen, worker, result, message_id = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]

-- The copy is acked whatever the outcome, as Dramatiq acks after any run.
if message_id ~= '' and redis.call('SREM', acks_key, message_id) > 0 then
  redis.call('HDEL', msgs_key, message_id)
end
-- owns_run, with the timeline in the same read: one read and one write of the record.
local f = redis.call('HMGET', job_key, 'state', 'gen', 'worker', 'timeline')
if f[1] ~= 'active' or f[2] ~= gen or f[3] ~= worker then
  return 0
end
local now = now_ms()
redis.call('ZREM', active_key, job_id)
redis.call('ZADD', completed_key, now, job_id)
-- Job search (issue 23, shared/search.py): index the searchable result values.
for i = 10, #ARGV do redis.call('ZADD', KEYS[8], 0, ARGV[i] .. '\31' .. job_id) end
local fields = {'state', 'completed', 'finished_ms', int(now), 'result', result, 'progress', 100, 'error', '',
  'traceback', ''}
job_event_into(fields, f[4], job_id, queue, 'active', 'completed', {worker = worker}, now)
redis.call('HSET', job_key, unpack(fields))

return 1
