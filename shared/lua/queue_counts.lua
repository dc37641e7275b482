-- Sizes of many state sets in one round trip.
-- KEYS[3..] state sets    fq:q:<queue>:<state>
-- Returns one ZCARD per key, in order.
local counts = {}
for i = 3, #KEYS do
  counts[#counts + 1] = redis.call('ZCARD', KEYS[i])
end
return counts
