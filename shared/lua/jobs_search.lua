-- Newest jobs first from the id index, filtered by queue, state, id prefix or
-- actor. Scans at most `budget` ids per call, so it stays fast with millions of
-- jobs; a page may then come back short, with a cursor to go on from.
-- KEYS[3] jobs index      fq:jobs
-- ARGV[4] page size
-- ARGV[5] cursor: the last id scanned by the previous call ('' for the newest)
-- ARGV[6] queue ('' for any)
-- ARGV[7] state ('' for any)
-- ARGV[8] id prefix ('' for any)
-- ARGV[9] actor ('' for any)
-- ARGV[10] most ids scanned
-- Returns {hashes (one flat HGETALL per match), next cursor ('' at the end)}.
local index_key = KEYS[3]
local limit, cursor, queue, state = tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7]
local prefix, actor, budget = ARGV[8], ARGV[9], tonumber(ARGV[10])

local max = '+'
if prefix ~= '' then max = '[' .. prefix .. '\255' end
if cursor ~= '' and (max == '+' or cursor < prefix .. '\255') then max = '(' .. cursor end
local min = '-'
if prefix ~= '' then min = '[' .. prefix end

local found = {}
if limit < 1 then
  return {found, ''}
end
local _, last = lex_scan_desc(index_key, max, min, budget, function(job_id)
  local f = redis.call('HMGET', job_key(job_id), 'queue', 'state', 'actor')
  if f[1] and (queue == '' or f[1] == queue) and (state == '' or f[2] == state)
      and (actor == '' or f[3] == actor) then
    found[#found + 1] = redis.call('HGETALL', job_key(job_id))
  end
  return #found >= limit
end)
return {found, last}
