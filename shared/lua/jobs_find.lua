-- Job search by content (issue 23, shared/search.py): walk a lex range newest first,
-- either of the search index (members "<field> US <value> US <job id>") or of the
-- jobs index (members are ids), check each job's record against every filter, and
-- stop at a page of matches or after `budget` members, whichever comes first.
-- Index members whose job is gone (deleted, trimmed) are dropped on the way: the
-- index is kept exact lazily, on read, so delete and trim scripts need no change.
-- KEYS[3] source          fq:search or fq:jobs
-- ARGV[4] page size
-- ARGV[5] low end of the range (ZRANGEBYLEX syntax: '-', '[x' or '(x')
-- ARGV[6] high end of the range ('+', '[x' or '(x')
-- ARGV[7] cursor: the last member the previous call scanned ('' = start at the high end)
-- ARGV[8] 1 when the source is the search index (job id after the last US), 0 for ids
-- ARGV[9] most members scanned
-- ARGV[10] filters (JSON): queue, state, actor, id (prefix), after/before (id bounds),
--          terms: [{src = args|result|error, value, prefix, paths = {actor|'*' = [[steps]]}}]
-- Returns {hashes (flat HGETALL per match), last member scanned ('' at the end),
--          members scanned, members in the whole range}.
local source_key = KEYS[3]
local limit, low, high, cursor = tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7]
local from_index, budget, filters = ARGV[8] == '1', tonumber(ARGV[9]), cjson.decode(ARGV[10])

local total = redis.call('ZLEXCOUNT', source_key, low, high)
local max = high
if cursor ~= '' then max = '(' .. cursor end

-- True when a value at `path` (from step i) of `node` equals `want` (or starts with it).
local function at_path(node, path, i, want, prefix)
  if i > #path then
    local kind = type(node)
    if kind ~= 'string' and kind ~= 'number' and kind ~= 'boolean' then return false end
    local text = tostring(node)
    if kind == 'number' and node == math.floor(node) and math.abs(node) < 1e15 then
      text = string.format('%d', node)
    end
    if prefix then return string.sub(text, 1, #want) == want end
    return text == want
  end
  if type(node) ~= 'table' then return false end
  local step = path[i]
  if step == '*' then
    for _, child in ipairs(node) do
      if at_path(child, path, i + 1, want, prefix) then return true end
    end
    return false
  end
  return at_path(node[step], path, i + 1, want, prefix)
end

local function decoded(raw)
  if not raw or raw == '' then return nil end
  local ok, value = pcall(cjson.decode, raw)
  if ok then return value end
  return nil
end

-- A content term against one record (f = queue, state, actor, args, result, error).
local function term_holds(term, f)
  if term.src == 'error' then
    return string.sub(string.lower(f[6] or ''), 1, #term.value) == term.value
  end
  local doc = {args = decoded(f[4]), result = decoded(f[5])}
  for _, group in ipairs({term.paths[f[3]] or {}, term.paths['*'] or {}}) do
    for _, path in ipairs(group) do
      if at_path(doc[path[1]], path, 2, term.value, term.prefix) then return true end
    end
  end
  return false
end

local function passes(job_id, f)
  if not f[1] then return false end
  if filters.queue ~= '' and f[1] ~= filters.queue then return false end
  if filters.state ~= '' and f[2] ~= filters.state then return false end
  if filters.actor ~= '' and f[3] ~= filters.actor then return false end
  if filters.id ~= '' and string.sub(job_id, 1, #filters.id) ~= filters.id then return false end
  if filters.after ~= '' and job_id < filters.after then return false end
  if filters.before ~= '' and job_id >= filters.before then return false end
  for _, term in ipairs(filters.terms) do
    if not term_holds(term, f) then return false end
  end
  return true
end

local found = {}
if limit < 1 then
  return {found, '', 0, total}
end
local scanned, last = lex_scan_desc(source_key, max, low, budget, function(member)
  local job_id = member
  if from_index then job_id = string.match(member, '\31([^\31]*)$') or '' end
  local f = redis.call('HMGET', job_key(job_id), 'queue', 'state', 'actor', 'args', 'result', 'error')
  if from_index and not f[1] then
    redis.call('ZREM', source_key, member)  -- its job is gone: keep the index exact
  elseif passes(job_id, f) then
    found[#found + 1] = redis.call('HGETALL', job_key(job_id))
  end
  return #found >= limit
end)
return {found, last, scanned, total}
