-- Register or refresh a worker process, stamped with the Redis clock.
-- KEYS[3] worker hash     fq:worker:<id>
-- KEYS[4] workers set     fq:workers (scored by last beat, ms)
-- ARGV[4] worker id
-- ARGV[5..] field, value pairs describing the worker
-- Returns the beat time (ms).
local worker_key, workers_key = KEYS[3], KEYS[4]
local worker_id = ARGV[4]

local now = now_ms()
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', worker_key, 'id', worker_id, 'last_beat_ms', int(now), unpack(fields))
redis.call('ZADD', workers_key, now, worker_id)
return now
