-- Create or replace a schedule (issue 21); audited and announced as a `schedule` event.
-- KEYS[3] schedule hash   fq:schedule:<name>
-- KEYS[4] schedules index fq:schedules (names by next fire ms; paused: +inf)
-- KEYS[5] audit stream    fq:audit
-- ARGV[4] name
-- ARGV[5] who: name, or name|client address
-- ARGV[6] mode: 'create' (schedule_exists if it exists), 'update' (schedule_not_found if it
--         does not; declared_in_code if it is declared in code and more than `enabled` changes),
--         'code' (a worker publishing a declaration: keeps an operator's pause, and next_ms
--         when cron and time zone are unchanged)
-- ARGV[7] next fire ms computed from now (0 when disabled)
-- ARGV[8] now (ms, the clock next_ms was computed with)
-- ARGV[9..] field, value pairs (name, cron, timezone, actor, queue, args, priority, enabled,
--         misfire, source)
-- Returns 1 when something changed, 0 when a code declaration was already as published.
local schedule_key, index_key, audit_key = KEYS[3], KEYS[4], KEYS[5]
local name, who, mode = ARGV[4], acting(ARGV[5]), ARGV[6]
local next_ms = ARGV[7]

local new = {}
for i = 9, #ARGV, 2 do new[ARGV[i]] = ARGV[i + 1] end
local exists = redis.call('EXISTS', schedule_key) == 1
local old = {}
if exists then
  local flat = redis.call('HGETALL', schedule_key)
  for i = 1, #flat, 2 do old[flat[i]] = flat[i + 1] end
end

if mode == 'create' and exists then
  return fail('schedule_exists', name)
end
if mode == 'update' then
  if not exists then return fail('schedule_not_found', name) end
  if old.source == 'code' then
    for _, f in ipairs({'cron', 'timezone', 'actor', 'queue', 'args', 'priority', 'misfire'}) do
      if old[f] ~= new[f] then
        return fail('declared_in_code', name .. ' is declared in code: only enabled can change')
      end
    end
    new.source = 'code'
  end
end
local same_timing = exists and old.cron == new.cron and old.timezone == new.timezone
if mode == 'code' and exists then
  new.enabled = old.enabled  -- an operator's pause outlives worker restarts
  local unchanged = same_timing and old.source == 'code'
  for f, v in pairs(new) do
    if old[f] ~= v then unchanged = false end
  end
  if unchanged then return 0 end
end
if new.enabled ~= '1' then
  next_ms = '0'
elseif same_timing and old.enabled == '1' and tonumber(old.next_ms or '0') > 0 then
  next_ms = old.next_ms  -- unchanged timing: the pending fire time stays (and its key)
end

local now = tonumber(ARGV[8])
for f, v in pairs(new) do redis.call('HSET', schedule_key, f, v) end
redis.call('HSET', schedule_key, 'next_ms', next_ms, 'updated_ms', int(now))
redis.call('HDEL', schedule_key, 'last_error', 'last_error_ms')  -- a new definition: no error yet
if not exists then
  redis.call('HSET', schedule_key, 'created_ms', int(now), 'last_ms', 0, 'last_job', '')
end
-- Paused schedules stay listed, at +inf: never due.
redis.call('ZADD', index_key, next_ms ~= '0' and next_ms or '+inf', name)
local action = exists and 'updated' or 'created'
if exists and old.enabled ~= new.enabled then
  action = new.enabled == '1' and 'resumed' or 'paused'
end
audit(audit_key, who, 'schedule_' .. action, new.queue, 1, 0, name, false, now)
emit('schedule', {name = name, action = action, next_ms = tonumber(next_ms), who = who}, now)
return 1
