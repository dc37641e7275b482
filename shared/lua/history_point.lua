-- Chart history (issue 23, shared/history.py): write the points of one resolution tier
-- whose buckets closed since its last point (at most `catch_up` of them, oldest first),
-- each as one stream entry with id "<bucket end ms>-0" (so monitor replicas never write
-- a bucket twice), and announce each as a `history` event so dashboards draw it live.
-- Per queue and bucket [start, end): jobs completed and failed (by finish time, from
-- the state sets: exact while retention keeps them), waiting and active now, and run
-- time p50/p95 (ms, started -> finished) over at most `durations` of the newest completions.
-- KEYS[3] tier stream     fq:history:<tier>
-- KEYS[4..] four sets per queue, in this order: waiting, active, completed, failed
-- ARGV[4] tier name (10s, 1m, 10m)
-- ARGV[5] bucket size (ms)
-- ARGV[6] points kept (stream MAXLEN, exact: one entry evicted per point once full, so the
--         bound is the tier's own and not a radix node's ~100 more)
-- ARGV[7] most buckets written in one call
-- ARGV[8] most completions read per bucket for run times
-- ARGV[9] time budget (µs): after the bucket that used it up the call stops, and the next one
--         goes on from there (a monitor catching up on many busy buckets after a restart
--         would otherwise hold Redis for tens of ms)
-- ARGV[10..] queue names, one per four KEYS
-- Returns the number of points written.
local stream_key = KEYS[3]
local tier, size, keep = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local catch_up, durations, budget_us = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local started_us = clock_us()

local now = now_ms()
local closed = now - now % size  -- end of the newest closed bucket
local last = redis.call('XREVRANGE', stream_key, '+', '-', 'COUNT', 1)
local from = closed - (catch_up - 1) * size
if last[1] then
  local last_end = tonumber(string.match(last[1][1], '^(%d+)'))
  from = math.max(from, last_end + size)
end

local function percentile(sorted, q)
  if #sorted == 0 then return cjson.null end
  return sorted[math.max(1, math.ceil(q * #sorted))]
end

local written = 0
for bucket_end = from, closed, size do
  local start = bucket_end - size
  local queues = {}
  for i = 10, #ARGV do
    local base = 4 + (i - 10) * 4
    local completed_key, failed_key = KEYS[base + 2], KEYS[base + 3]
    local ids = redis.call('ZREVRANGEBYSCORE', completed_key, '(' .. int(bucket_end), int(start),
      'LIMIT', 0, durations)
    local runs = {}
    for _, job_id in ipairs(ids) do
      local f = redis.call('HMGET', job_key(job_id), 'started_ms', 'finished_ms')
      local s, e = tonumber(f[1]), tonumber(f[2])
      if s and e then runs[#runs + 1] = e - s end
    end
    table.sort(runs)
    queues[ARGV[i]] = {
      completed = redis.call('ZCOUNT', completed_key, int(start), '(' .. int(bucket_end)),
      failed = redis.call('ZCOUNT', failed_key, int(start), '(' .. int(bucket_end)),
      waiting = redis.call('ZCARD', KEYS[base]),
      active = redis.call('ZCARD', KEYS[base + 1]),
      p50_ms = percentile(runs, 0.5),
      p95_ms = percentile(runs, 0.95),
    }
  end
  local body = cjson.encode(queues)
  if next(queues) == nil then body = '{}' end
  redis.call('XADD', stream_key, 'MAXLEN', keep, int(bucket_end) .. '-0', 'queues', body)
  emit_raw('history', '{"tier":"' .. tier .. '","t":' .. int(bucket_end) .. ',"step_ms":' .. int(size) ..
    ',"queues":' .. body .. '}', now)
  written = written + 1
  if clock_us() - started_us >= budget_us then break end  -- the later buckets next time
end
return written
