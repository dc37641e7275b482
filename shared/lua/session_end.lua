-- Logout: end one dashboard session. Its record and index entry go (the cookie is then worthless
-- wherever it was copied), and, when it was live, an `admin` event `end_sessions` (count 1) is
-- published: the event on which the gateways re-check the sessions behind their open streams at
-- once, so the logged-out browser's streams close within a second, not at the next periodic check.
-- KEYS[3] session hash     fq:session:<id>
-- KEYS[4] session index    fq:sessions
-- ARGV[4] session id
-- ARGV[5] who              name|role|client address of the person logging out
-- Returns 1 when the session was live, else 0 (nothing published).
local session_key, index_key = KEYS[3], KEYS[4]
local session_id, who = ARGV[4], acting(ARGV[5])

local ended = redis.call('DEL', session_key)
redis.call('ZREM', index_key, session_id)
if ended == 1 then
  emit('admin', {action = 'end_sessions', queue = '', count = 1, skipped = 0, who = who,
    role = acting_role, address = acting_address}, now_ms())
end
return ended
