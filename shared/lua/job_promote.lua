-- Operator runs delayed jobs now: delayed -> waiting. One job, a list of ids, or
-- (bulk by filter) the `limit` delayed jobs due soonest.
-- KEYS[3] delayed set     fq:q:<queue>:delayed
-- KEYS[4] waiting set     fq:q:<queue>:waiting
-- KEYS[5] audit stream    fq:audit
-- ARGV[4] queue
-- ARGV[5] who (for the audit trail): name, or name|client address
-- ARGV[6] how many to take from the delayed set when no ids are given (0: none)
-- ARGV[7..] job ids
-- Returns {done, skipped, state of the last skipped job ('missing' if unknown)}.
local delayed_key, waiting_key, audit_key = KEYS[3], KEYS[4], KEYS[5]
local queue, who, limit = ARGV[4], acting(ARGV[5]), tonumber(ARGV[6])

return admin_loop('promote', 'delayed', delayed_key, audit_key, queue, who, limit, 7, {},
  function(job_id, job_key, f, now)
    redis.call('ZADD', waiting_key, waiting_score(f[2], now), job_id)
    redis.call('HSET', job_key, 'state', 'waiting', 'enqueued_ms', int(now), 'eta_ms', '')
    job_event(job_id, queue, 'delayed', 'waiting', {reason = 'promote', who = who}, now)
  end)
