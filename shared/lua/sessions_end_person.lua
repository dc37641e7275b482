-- End the sessions of one person (or key name): the caller lists the session hashes it found in
-- the index; each is re-checked here to still belong to the person before it is deleted. Audited,
-- and announced as an `admin` event (the gateways then close those sessions' streams at once).
-- KEYS[3] session index    fq:sessions
-- KEYS[4] audit stream     fq:audit
-- KEYS[5..] session hashes fq:session:<id>, candidates
-- ARGV[4] who              name|role|client address of the caller
-- ARGV[5] person           the name whose sessions end
-- ARGV[6..] session ids    the ids of KEYS[5..], in the same order
-- Returns the number of sessions ended.
local index_key, audit_key = KEYS[3], KEYS[4]
local who, person = acting(ARGV[4]), ARGV[5]

local now = now_ms()
local ended = 0
for i = 5, #KEYS do
  if redis.call('HGET', KEYS[i], 'name') == person then
    redis.call('DEL', KEYS[i])
    redis.call('ZREM', index_key, ARGV[i + 1])
    ended = ended + 1
  end
end
audit(audit_key, who, 'end_sessions', '', ended, 0, person, true, now)
return ended
