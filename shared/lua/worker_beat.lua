-- Register or refresh a worker process, stamped with the Redis clock.
-- KEYS[3] worker hash     fq:worker:<id>
-- KEYS[4] workers set     fq:workers (scored by last beat, ms)
-- KEYS[5] Dramatiq beats  dramatiq:__heartbeats__ (refreshed too, so a paused consumer,
--                         which fetches nothing, never looks dead to Dramatiq tooling)
-- KEYS[6] dead workers    fq:workers:dead (a worker wrongly declared dead comes back)
-- ARGV[4] worker id
-- ARGV[5] membership channel, told the id when a worker joins
-- ARGV[6..] field, value pairs describing the worker
-- Returns {beat time (ms), 1 if an operator asked this worker to stop else 0}.
local worker_key, workers_key, dramatiq_beats, dead_key = KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local worker_id, changed_channel = ARGV[4], ARGV[5]

local now = now_ms()
local joined = not redis.call('ZSCORE', workers_key, worker_id)
local fields = {}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', worker_key, 'id', worker_id, 'last_beat_ms', int(now), unpack(fields))
redis.call('HDEL', worker_key, 'status', 'dead_ms')
redis.call('PERSIST', worker_key)
redis.call('ZREM', dead_key, worker_id)
redis.call('ZADD', workers_key, now, worker_id)
redis.call('ZADD', dramatiq_beats, now, worker_id)
if joined then
  redis.call('PUBLISH', changed_channel, worker_id)
end
local stop = redis.call('HGET', worker_key, 'stop_requested') == '1'
return {now, stop and 1 or 0}
