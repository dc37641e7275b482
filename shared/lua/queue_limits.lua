-- Operator sets (or clears) a queue's limits; the dispatch script reads them on its
-- next call, so a change takes effect within one dispatch. Audited, and announced
-- as a `limits` event so dashboards show the new limits live.
-- KEYS[3] limits hash     fq:limits:<queue>
-- KEYS[4] queues set      fq:queues
-- KEYS[5] audit stream    fq:audit
-- KEYS[6] hand-out log    fq:q:<queue>:handouts
-- ARGV[4] queue
-- ARGV[5] who (for the audit trail): name, or name|client address
-- ARGV[6] concurrency: most jobs handed out or active at once ('' = no limit)
-- ARGV[7] rate limit: most hand-outs per window ('' = no limit)
-- ARGV[8] rate window in ms
-- Returns 1.
local limits_key, queues_key, audit_key, handouts_key = KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local queue, who = ARGV[4], acting(ARGV[5])
local concurrency, rate_limit, window_ms = ARGV[6], ARGV[7], tonumber(ARGV[8])

local now = now_ms()
redis.call('SADD', queues_key, queue)
redis.call('DEL', limits_key)
if concurrency ~= '' then
  redis.call('HSET', limits_key, 'concurrency', concurrency)
end
if rate_limit ~= '' then
  redis.call('HSET', limits_key, 'rate_limit', rate_limit, 'rate_window_ms', int(window_ms))
else
  redis.call('DEL', handouts_key)
end
local data = {
  queue = queue,
  concurrency = concurrency ~= '' and tonumber(concurrency) or cjson.null,
  rate_limit = rate_limit ~= '' and tonumber(rate_limit) or cjson.null,
  rate_window_s = window_ms / 1000,
  who = who,
}
local summary = cjson.encode(data)
audit(audit_key, who, 'limits', queue, 1, 0, summary, false, now)
emit('limits', data, now)
return 1
