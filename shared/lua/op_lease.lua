-- Take or renew the lease to execute operations (issue 20): one monitor at a time. A new
-- lease gets a new fencing token; every op_batch.lua call checks it, so a monitor that
-- lost its lease (paused, partitioned) can change nothing once another holds it.
-- KEYS[3] lease            fq:ops:lease ("<owner> <token>", with a TTL)
-- KEYS[4] fence counter    fq:ops:fence
-- ARGV[4] owner (the monitor replica's id)
-- ARGV[5] lease TTL (ms)
-- ARGV[6] the token the caller holds ('' : none)
-- ARGV[7] 1 to release the caller's lease instead (nothing left to run)
-- Returns the token now held (0: none; another owner holds the lease, or released).
local lease_key, fence_key = KEYS[3], KEYS[4]
local owner, ttl_ms, held, release = ARGV[4], ARGV[5], ARGV[6], ARGV[7] == '1'

local current = redis.call('GET', lease_key)
if release then
  if current and held ~= '' and current == owner .. ' ' .. held then redis.call('DEL', lease_key) end
  return 0
end
if current then
  if held ~= '' and current == owner .. ' ' .. held then
    redis.call('PEXPIRE', lease_key, ttl_ms)
    return tonumber(held)
  end
  return 0
end
local token = redis.call('INCR', fence_key)
redis.call('SET', lease_key, owner .. ' ' .. token, 'PX', ttl_ms)
return token
