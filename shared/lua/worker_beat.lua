-- Register or refresh a worker process, stamped with the Redis clock.
-- KEYS[3] worker hash     fq:worker:<id>
-- KEYS[4] workers set     fq:workers (scored by last beat, ms)
-- KEYS[5] Dramatiq beats  dramatiq:__heartbeats__ (refreshed too, so a paused consumer,
--                         which fetches nothing, never looks dead to Dramatiq tooling)
-- ARGV[4] worker id
-- ARGV[5..] field, value pairs describing the worker
-- Returns the beat time (ms).
local worker_key, workers_key, dramatiq_beats = KEYS[3], KEYS[4], KEYS[5]
local worker_id = ARGV[4]

local now = now_ms()
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', worker_key, 'id', worker_id, 'last_beat_ms', int(now), unpack(fields))
redis.call('ZADD', workers_key, now, worker_id)
redis.call('ZADD', dramatiq_beats, now, worker_id)
return now
