-- One page of a state's jobs, with a cursor that survives concurrent changes.
-- KEYS[3] state set       fq:q:<queue>:<state>
-- ARGV[4] page size
-- ARGV[5] cursor score ('' for the first page)
-- ARGV[6] cursor job id (last id of the previous page)
-- ARGV[7] '1' for newest (highest score) first
-- Returns {ids_and_scores (flat), hashes (one flat HGETALL per id)}.
local state_key = KEYS[3]
local count, cursor_score, cursor_id, reverse = tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7] == '1'

local start = 0
if cursor_score ~= '' then
  local rank
  if reverse then rank = redis.call('ZREVRANK', state_key, cursor_id)
  else rank = redis.call('ZRANK', state_key, cursor_id) end
  if rank and redis.call('ZSCORE', state_key, cursor_id) == cursor_score then
    start = rank + 1
  elseif reverse then
    -- The cursor job moved on: resume after its score.
    start = redis.call('ZCOUNT', state_key, '(' .. cursor_score, '+inf')
  else
    start = redis.call('ZCOUNT', state_key, '-inf', '(' .. cursor_score)
  end
end
local page
if reverse then
  page = redis.call('ZREVRANGE', state_key, start, start + count - 1, 'WITHSCORES')
else
  page = redis.call('ZRANGE', state_key, start, start + count - 1, 'WITHSCORES')
end
local hashes = {}
for i = 1, #page, 2 do
  hashes[#hashes + 1] = redis.call('HGETALL', job_key(page[i]))
end
return {page, hashes}
