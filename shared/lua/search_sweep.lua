-- Job search index janitor (issue 23): walk the next `budget` members of the search index
-- from where the last call stopped and drop those whose job is gone (deleted, trimmed by
-- retention), so the index stays bounded even for values nobody searches. Searches drop
-- such members too (jobs_find.lua); this sweep catches the rest. The monitor calls it each tick.
-- KEYS[3] search index    fq:search
-- KEYS[4] sweep cursor    fq:search:sweep (the last member looked at; absent: start over)
-- ARGV[4] most members looked at in this call
-- Returns {members looked at, members dropped}.
local index_key, cursor_key, budget = KEYS[3], KEYS[4], tonumber(ARGV[4])

local cursor = redis.call('GET', cursor_key)
local low = '-'
if cursor then low = '(' .. cursor end
local members = redis.call('ZRANGEBYLEX', index_key, low, '+', 'LIMIT', 0, budget)
local dropped = 0
for _, member in ipairs(members) do
  local job_id = string.match(member, '\31([^\31]*)$') or ''
  if redis.call('EXISTS', job_key(job_id)) == 0 then
    redis.call('ZREM', index_key, member)
    dropped = dropped + 1
  end
end
if #members < budget then
  redis.call('DEL', cursor_key)  -- the end: the next sweep starts over
else
  redis.call('SET', cursor_key, members[#members])
end
return {#members, dropped}
