-- A running actor reports progress; ignored unless the run is still current.
-- KEYS[3] job hash        fq:job:<id>
-- ARGV[4] job id
-- ARGV[5] queue
-- ARGV[6] generation of the run
-- ARGV[7] worker id
-- ARGV[8] percent (0-100)
-- ARGV[9] stage (free text)
-- Returns 1 when recorded, 0 when the run was superseded.
local job_key = KEYS[3]
local job_id, queue, gen, worker, percent, stage = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]

if not owns_run(job_key, gen, worker) then
  return 0
end
redis.call('HSET', job_key, 'progress', percent, 'stage', stage)
emit('progress', {job = job_id, queue = queue, percent = tonumber(percent), stage = stage}, now_ms())
return 1
