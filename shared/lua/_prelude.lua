-- Prelude shared by every script in this folder: shared/scripts.py prepends it,
-- so the event encoding and the key shapes live once. Every script therefore starts
-- its own slots at KEYS[3] and ARGV[4].
--
-- KEYS[1] events stream   fq:events, every event (XADD MAXLEN ~)
-- KEYS[2] event sequence  fq:events:seq, gap-free counter behind "seq"
-- ARGV[1] channel         queue:updates (a pub/sub channel, not a key)
-- ARGV[2] stream cap      approximate MAXLEN of the events stream
-- ARGV[3] unused ('')     once the job key prefix; job_key() below makes those keys now
--
-- Errors are raised as "FQ <code> <message>"; shared/scripts.py turns them
-- into the matching shared.errors class.

local events_key = KEYS[1]
local seq_key = KEYS[2]
local channel = ARGV[1]
local events_maxlen = ARGV[2]

-- Replaced from shared/states.py, shared/keys.py and shared/events.py when the script is loaded.
local PRIORITY_SCALE = __PRIORITY_SCALE__
local GALLERY_CHANGED_CHANNEL = '__GALLERY_CHANGED_CHANNEL__'
-- The published envelope (shared/events.py ENVELOPE): seq, stream id, ts, type, data JSON.
local ENVELOPE = '__EVENT_ENVELOPE__'
-- The keys of what a script finds as it runs (a batch's jobs, a job's failure group, a trashed
-- job's operation), one function each, written by shared/scripts.py from the templates of
-- shared/keys.py (SCRIPT_KEYS): job_key(job_id), state_key(queue, state), failure_group_key(queue,
-- fingerprint) and the rest, each named and called like its Python twin. Scripts call these
-- and never spell a key themselves (issue 24). A script handed its own job's key as
-- `local job_key = KEYS[3]` hides the function below that line; such scripts find no other job.
-- __KEY_FUNCTIONS__

-- Milliseconds on the Redis clock, so every host agrees on time.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Integers beyond 1e14 lose digits through tostring(); format them exactly.
local function int(n)
  return string.format('%d', n)
end

local function waiting_score(priority, enqueued_ms)
  return int(tonumber(priority) * PRIORITY_SCALE + tonumber(enqueued_ms))
end

local function fail(code, message)
  return redis.error_reply('FQ ' .. code .. ' ' .. message)
end

-- Microseconds on Redis's clock, read anew at each call (TIME advances inside a script): for
-- scripts that stop early once they have used their time budget.
local function clock_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- Walk a sorted set's lex range newest first, from `max` down to `min`, reading at most `budget`
-- members (500 a call) and handing each to visit(member), which returns true to stop there (a
-- full page). Returns the members scanned and the last one, or '' when the range ran out.
local function lex_scan_desc(key, max, min, budget, visit)
  local scanned, last = 0, ''
  while scanned < budget do
    local members = redis.call('ZREVRANGEBYLEX', key, max, min, 'LIMIT', 0, math.min(500, budget - scanned))
    if #members == 0 then
      return scanned, ''
    end
    for _, member in ipairs(members) do
      scanned = scanned + 1
      last = member
      if visit(member) then
        return scanned, last
      end
    end
    max = '(' .. last
  end
  return scanned, last
end

-- XADD then PUBLISH one event whose data is already JSON; the stream entry's
-- id is known only after XADD, so the published JSON is assembled here.
local function emit_raw(etype, body, ts_ms)
  local seq = redis.call('INCR', seq_key)
  local ts = string.format('%.3f', ts_ms / 1000)
  local id = redis.call('XADD', events_key, 'MAXLEN', '~', events_maxlen, '*',
    'seq', seq, 'type', etype, 'ts', ts, 'data', body)
  redis.call('PUBLISH', channel, string.format(ENVELOPE, seq, id, ts, etype, body))
  return seq
end

local function emit(etype, data, ts_ms)
  return emit_raw(etype, cjson.encode(data), ts_ms)
end

-- A gallery changed: its `gallery` event, and its name on the workers' own channel
-- (face workers' indexes follow that one instead of reading every job event).
local function gallery_event(data, ts_ms)
  emit('gallery', data, ts_ms)
  redis.call('PUBLISH', GALLERY_CHANGED_CHANNEL, data.gallery)
end

-- The stored record (JSON) of one identity of a gallery; else nil and the error to return
-- (gallery_not_found, identity_not_found).
local function gallery_identity(galleries_key, identities_key, gallery, identity)
  if redis.call('SISMEMBER', galleries_key, gallery) == 0 then
    return nil, fail('gallery_not_found', 'no gallery named ' .. gallery)
  end
  local existing = redis.call('HGET', identities_key, identity)
  if not existing then
    return nil, fail('identity_not_found', 'gallery ' .. gallery .. ' holds no identity ' .. identity)
  end
  return existing
end

-- Bytes of timeline a job keeps (its oldest entries are dropped beyond this).
local TIMELINE_MAX = 32768

-- The job's timeline with one more event (one JSON line each), its oldest entries
-- dropped beyond TIMELINE_MAX, so a job's history is one HGET away.
local function timeline_with(timeline, data, seq, ts_ms)
  data.seq = seq
  data.ts = ts_ms / 1000
  data.job = nil
  data.queue = nil
  timeline = (timeline or '') .. cjson.encode(data) .. '\n'
  if #timeline > TIMELINE_MAX then
    timeline = string.sub(timeline, string.find(timeline, '\n', #timeline - TIMELINE_MAX, true) + 1)
  end
  return timeline
end

local function job_event_data(job_id, queue, from, to, extra)
  local data = {job = job_id, queue = queue, from = from or cjson.null, to = to or cjson.null}
  if extra then
    for k, v in pairs(extra) do data[k] = v end
  end
  return data
end

-- A job transition event; from/to nil mean created/removed. Also appended to the
-- job's own timeline.
local function job_event(job_id, queue, from, to, extra, ts_ms)
  local data = job_event_data(job_id, queue, from, to, extra)
  local seq = emit('job', data, ts_ms)
  if to then  -- every caller naming a `to` state holds the job's record
    local key = job_key(job_id)
    redis.call('HSET', key, 'timeline', timeline_with(redis.call('HGET', key, 'timeline'), data, seq, ts_ms))
  end
  return seq
end

-- The same for a hot-path transition that already read the job's `timeline` with its
-- other fields and writes the record with one HSET: appends 'timeline', <new> to
-- `fields` (the HSET's arguments) instead of a second read and write of the hash.
local function job_event_into(fields, timeline, job_id, queue, from, to, extra, ts_ms)
  local data = job_event_data(job_id, queue, from, to, extra)
  local seq = emit('job', data, ts_ms)
  fields[#fields + 1] = 'timeline'
  fields[#fields + 1] = timeline_with(timeline, data, seq, ts_ms)
  return seq
end

-- True when the worker's copy at this generation is the job's current run.
local function owns_run(job_key, gen, worker)
  local f = redis.call('HMGET', job_key, 'state', 'gen', 'worker')
  return f[1] == 'active' and f[2] == gen and f[3] == worker
end

-- Failure groups (issue 20): per queue, an index of fingerprints by last seen, a hash per
-- group and the set of its failed jobs (whose size is the group's count, so it is exact).
local function group_add(queue, fp, job_id, finished_ms, fields, ts_ms)
  local group, group_jobs = failure_group_key(queue, fp), failure_group_jobs_key(queue, fp)
  redis.call('ZADD', group_jobs, finished_ms, job_id)
  local created = redis.call('HSETNX', group, 'first_ms', int(ts_ms)) == 1
  redis.call('HSET', group, 'fingerprint', fp, 'queue', queue, 'last_ms', int(ts_ms), 'sample', job_id,
    'actor', fields.actor or '', 'exception', fields.exception or '', 'message', fields.message or '',
    'count', redis.call('ZCARD', group_jobs))
  redis.call('ZADD', failure_groups_key(queue), ts_ms, fp)
  if created then
    emit('failure', {queue = queue, fingerprint = fp, actor = fields.actor or '',
      exception = fields.exception or '', message = fields.message or ''}, ts_ms)
  end
end

-- A failed job leaves its group (retried, deleted, cleaned, trimmed); an empty group goes.
local function group_remove(queue, fp, job_id)
  if not fp or fp == '' then return end
  local group, group_jobs = failure_group_key(queue, fp), failure_group_jobs_key(queue, fp)
  if redis.call('ZREM', group_jobs, job_id) == 0 then return end
  local left = redis.call('ZCARD', group_jobs)
  if left == 0 then
    redis.call('DEL', group)
    redis.call('ZREM', failure_groups_key(queue), fp)
  else
    redis.call('HSET', group, 'count', left)
  end
end

-- Remove a job record and its index entries, announcing why.
local function remove_job(index_key, job_id, queue, state_key, state, reason, ts_ms)
  if state == 'failed' then
    group_remove(queue, redis.call('HGET', job_key(job_id), 'fingerprint'), job_id)
  end
  redis.call('ZREM', state_key, job_id)
  redis.call('ZREM', index_key, job_id)
  redis.call('DEL', job_key(job_id))
  job_event(job_id, queue, state, nil, {reason = reason}, ts_ms)
end


-- Jobs an admin action applies to: the ids given (ARGV from `first`), or, when
-- none are given, up to `limit` ids from the head of `source_key`.
local function targets(first, source_key, limit)
  local ids = {}
  for i = first, #ARGV do ids[#ids + 1] = ARGV[i] end
  if #ids == 0 and limit > 0 then
    ids = redis.call('ZRANGE', source_key, 0, limit - 1)
  end
  return ids
end

-- Who acts, from a script's "who" argument: "name|role|client address" (services.api.auth.acting:
-- the person or key, its role, and the address the API saw through trusted proxies), or the older
-- "name|address", or just "name" (the monitor, the CLI). Returns the name; role and address are
-- kept for the audit and the events.
local acting_address = ''
local acting_role = ''
local function acting(who_arg)
  local name, role, address = string.match(who_arg, '^([^|]*)|([^|]*)|(.*)$')
  if name then
    acting_role = role
    acting_address = address
    return name
  end
  name, address = string.match(who_arg, '^([^|]*)|(.*)$')
  if not name then
    return who_arg
  end
  acting_address = address
  return name
end

-- One audit entry, announced as an `audit` event (the dashboard's Audit view is live; the gateway
-- sends it to whoever opted into the `audit` topic, filtered by their queue scope like every event),
-- and, for bulk work, one `admin` event: who did what to how many, from where. `extra`: more
-- field, value pairs of the entry (an operation's total and filter), in the event too.
local function audit(audit_key, who, action, queue, done, skipped, target, bulk, ts_ms, extra)
  local fields = {'who', who, 'action', action, 'queue', queue, 'target', target, 'count', done,
    'skipped', skipped, 'ts_ms', int(ts_ms), 'address', acting_address, 'role', acting_role}
  local data = {who = who, role = acting_role, address = acting_address, action = action, queue = queue,
    target = target, count = done, skipped = skipped, ts_ms = ts_ms}
  for i = 1, #(extra or {}), 2 do
    fields[#fields + 1], fields[#fields + 2] = extra[i], extra[i + 1]
    data[extra[i]] = extra[i + 1]
  end
  data.entry = redis.call('XADD', audit_key, 'MAXLEN', '~', events_maxlen, '*', unpack(fields))
  emit('audit', data, ts_ms)
  if bulk then
    emit('admin', {action = action, queue = queue, count = done, skipped = skipped, who = who,
      role = acting_role, address = acting_address}, ts_ms)
  end
end

-- Move a job to the trash (issue 20) instead of deleting it: its record is renamed with a
-- TTL and remembers its state, score and the operation that deleted it, so undoing that
-- operation restores it exactly. `op_trash_key` is the operation's own set (nil: none).
local function trash_job(index_key, trash_key, op_trash_key, op_id, job_id, queue, state_key, state, ttl_ms, who, ts_ms)
  local record = job_key(job_id)
  if state == 'failed' then
    group_remove(queue, redis.call('HGET', record, 'fingerprint'), job_id)
  end
  local score = redis.call('ZSCORE', state_key, job_id) or '0'
  redis.call('ZREM', state_key, job_id)
  redis.call('ZREM', index_key, job_id)
  job_event(job_id, queue, state, nil, {reason = 'deleted', who = who}, ts_ms)
  local trashed = trash_job_key(job_id)
  redis.call('HSET', record, 'trash_state', state, 'trash_score', score, 'trash_op', op_id, 'trash_ms', int(ts_ms))
  redis.call('RENAME', record, trashed)
  redis.call('PEXPIRE', trashed, ttl_ms)
  redis.call('ZADD', trash_key, ts_ms, job_id .. '|' .. op_id)
  if op_trash_key then redis.call('ZADD', op_trash_key, ts_ms, job_id) end
end

-- A job in the trash back to the state it was in (an active one, whose run was dropped, to
-- waiting), with a new generation so no copy of it still in Dramatiq's list runs; out of the
-- trash and out of its operation's trash set. Returns that state, or nil when the job is no
-- longer in the trash, or a job with its id exists again.
local function restore_job(job_id, index_key, trash_key, extra, ts_ms)
  local trashed, record = trash_job_key(job_id), job_key(job_id)
  local f = redis.call('HMGET', trashed, 'queue', 'trash_state', 'trash_score', 'trash_op', 'priority',
    'fingerprint', 'actor', 'exception', 'error')
  if not f[1] or redis.call('EXISTS', record) == 1 then return nil end
  local job_queue, state, score, op_id = f[1], f[2], f[3], f[4] or ''
  redis.call('RENAME', trashed, record)
  redis.call('PERSIST', record)
  redis.call('HDEL', record, 'trash_state', 'trash_score', 'trash_op', 'trash_ms')
  redis.call('HINCRBY', record, 'gen', 1)
  if state == 'active' then
    state, score = 'waiting', waiting_score(f[5], ts_ms)
    redis.call('HSET', record, 'state', 'waiting', 'enqueued_ms', int(ts_ms), 'worker', '')
  end
  redis.call('ZADD', state_key(job_queue, state), score, job_id)
  redis.call('ZADD', index_key, 0, job_id)
  redis.call('ZREM', trash_key, job_id .. '|' .. op_id)
  if op_id ~= '' then redis.call('ZREM', operation_trash_key(op_id), job_id) end
  if state == 'failed' and f[6] and f[6] ~= '' then
    group_add(job_queue, f[6], job_id, score, {actor = f[7], exception = f[8], message = f[9]}, ts_ms)
  end
  job_event(job_id, job_queue, nil, state, extra, ts_ms)
  return state
end

-- An `operation` event (issue 20) from an operation's record: its counts, rate (jobs a
-- second since it started) and ETA (seconds), for live progress bars.
local function op_event(op_key, ts_ms)
  local f = redis.call('HMGET', op_key, 'id', 'action', 'state', 'queue', 'total', 'done', 'skipped',
    'created_by', 'started_ms', 'finished_ms', 'fingerprint', 'undo_of')
  local total, done, skipped = tonumber(f[5]) or 0, tonumber(f[6]) or 0, tonumber(f[7]) or 0
  local rate, eta = 0, cjson.null
  local started = tonumber(f[9])
  if started and ts_ms > started then
    rate = (done + skipped) * 1000 / (ts_ms - started)
    if rate > 0 and f[3] == 'running' then eta = math.max(0, total - done - skipped) / rate end
  end
  emit('operation', {id = f[1], action = f[2], state = f[3], queue = f[4], total = total, done = done,
    skipped = skipped, created_by = f[8], rate = rate, eta_s = eta, fingerprint = f[11] or '',
    undo_of = f[12] or ''}, ts_ms)
end

-- An operation's audit entry: who created it (its record: name, role, address), its action,
-- target and counts; written and announced by audit() like every entry. The caller's own acting
-- role and address (a cancel's) are left as they were.
local function op_audit(audit_key, op_key, what, ts_ms)
  local f = redis.call('HMGET', op_key, 'id', 'action', 'queue', 'created_by', 'created_address', 'done',
    'skipped', 'total', 'filter', 'created_role')
  local role, address = acting_role, acting_address
  acting_role, acting_address = f[10] or '', f[5] or ''
  local count = what == 'created' and f[8] or f[6]
  audit(audit_key, f[4], 'operation_' .. f[2] .. ':' .. what, f[3], tonumber(count) or 0,
    tonumber(f[7]) or 0, f[1], false, ts_ms, {'total', tonumber(f[8]) or 0, 'filter', f[9] or ''})
  acting_role, acting_address = role, address
end

-- The skeleton of an operator's action that moves jobs out of one state (retry, promote): the
-- targets (ids from ARGV[first..], or up to `limit` from the head of `source_key`), each checked
-- to be in `state` on `queue` and moved by `move(job_id, job_key, fields, now)` (fields: the
-- record's state, priority, queue, then `extra`), the rest counted as skipped (dangling index
-- entries dropped), and one audit entry (a refused single action changes nothing, not even the
-- audit). Returns {done, skipped, state of the last skipped job ('missing' if unknown)}.
local function admin_loop(action, state, source_key, audit_key, queue, who, limit, first, extra, move)
  local now = now_ms()
  local ids = targets(first, source_key, limit)
  local done, skipped, last = 0, 0, ''
  for _, job_id in ipairs(ids) do
    local record = job_key(job_id)
    local f = redis.call('HMGET', record, 'state', 'priority', 'queue', unpack(extra))
    if f[1] == state and f[3] == queue then
      redis.call('ZREM', source_key, job_id)
      move(job_id, record, f, now)
      done = done + 1
    else
      skipped = skipped + 1
      last = f[1] or 'missing'
      if limit > 0 and not f[1] then redis.call('ZREM', source_key, job_id) end  -- dangling index entry
    end
  end
  local bulk = #ids ~= 1 or limit > 0
  if done > 0 or (bulk and #ids > 0) then
    audit(audit_key, who, action, queue, done, skipped, bulk and '' or ids[1], bulk, now)
  end
  return {done, skipped, last}
end
