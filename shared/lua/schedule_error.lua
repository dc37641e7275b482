-- A due schedule that cannot fire (its actor gone from the catalog, arguments it no longer
-- takes, a cron or zone that no longer reads): record the error on the schedule and move
-- it on to its next fire time, so broken schedules never fill the monitor's batch of due
-- ones and block the others (issue 21). Keyed like schedule_fire.lua: it changes the
-- schedule only while next_ms still holds the fire time the caller read.
-- KEYS[3] schedule hash   fq:schedule:<name>
-- KEYS[4] schedules index fq:schedules (names by next fire ms; parked: +inf)
-- ARGV[4] schedule name
-- ARGV[5] expected next_ms (the fire time the caller read)
-- ARGV[6] new next_ms (0: no next time can be computed; parked until it is saved again)
-- ARGV[7] error message
-- Returns 1 when recorded, 0 when another replica moved the schedule first (or it is gone).
local schedule_key, index_key = KEYS[3], KEYS[4]
local name, expected, next_ms, message = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local now = now_ms()
local stored = redis.call('HGET', schedule_key, 'next_ms')
if not stored or stored ~= expected then
  return 0
end
redis.call('HSET', schedule_key, 'next_ms', next_ms, 'last_error', message, 'last_error_ms', int(now))
if redis.call('HGET', schedule_key, 'enabled') == '1' then
  redis.call('ZADD', index_key, next_ms ~= '0' and next_ms or '+inf', name)
end
emit('schedule', {name = name, action = 'failed', fire_ms = tonumber(expected),
  next_ms = tonumber(next_ms), error = message}, now)
return 1
