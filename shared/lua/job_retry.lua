-- Operator retries failed jobs: failed -> waiting, attempts reset, failure group left. One job, a
-- list of ids, or (bulk by filter) the oldest `limit` failed jobs of the queue.
-- KEYS[3] failed set      fq:q:<queue>:failed
-- KEYS[4] waiting set     fq:q:<queue>:waiting
-- KEYS[5] audit stream    fq:audit
-- ARGV[4] queue
-- ARGV[5] who (for the audit trail): name, or name|client address
-- ARGV[6] how many to take from the failed set when no ids are given (0: none)
-- ARGV[7..] job ids
-- Returns {done, skipped, state of the last skipped job ('missing' if unknown)}.
local failed_key, waiting_key, audit_key = KEYS[3], KEYS[4], KEYS[5]
local queue, who, limit = ARGV[4], acting(ARGV[5]), tonumber(ARGV[6])

return admin_loop('retry', 'failed', failed_key, audit_key, queue, who, limit, 7, {'fingerprint'},
  function(job_id, job_key, f, now)
    group_remove(queue, f[4], job_id)
    redis.call('ZADD', waiting_key, waiting_score(f[2], now), job_id)
    redis.call('HSET', job_key, 'state', 'waiting', 'attempts', 0, 'enqueued_ms', int(now), 'finished_ms', '',
      'error', '', 'traceback', '', 'worker', '', 'progress', 0, 'stage', '', 'fingerprint', '')
    redis.call('HINCRBY', job_key, 'gen', 1)
    job_event(job_id, queue, 'failed', 'waiting', {reason = 'retry', who = who}, now)
  end)
