-- Record that a key was used, at most once per interval (a verified request calls this only
-- when the last use it read is older than the interval, so most requests write nothing).
-- KEYS[3] key hash         fq:apikey:<id>
-- ARGV[4] interval ms      least time between two recorded uses
-- Returns 1 when recorded, 0 otherwise (recent enough, or the key is gone).
local key_key, interval_ms = KEYS[3], tonumber(ARGV[4])

local last = redis.call('HGET', key_key, 'last_used_ms')
if not last then
  return 0
end
local now = now_ms()
if now - tonumber(last) < interval_ms then
  return 0
end
redis.call('HSET', key_key, 'last_used_ms', int(now))
return 1
