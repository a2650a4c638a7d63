--[[
  An agent accepts the offer made to them. Only the agent the offer was made to, and only
  before its deadline; a second accept (another tab, a retry) gets an error.

  KEYS[1] interaction hash       {p}:i:<id>
  KEYS[2] offers zset            {p}:offers
  KEYS[3] agent hash             {p}:a:<agent>

  ARGV[1] interaction id
  ARGV[2] agent id
  ARGV[3] now ms

  Returns: {1, enqueue ms} on success, or {error code}:
           -1 NOT_FOUND, -2 NOT_OFFERED, -3 NOT_YOURS, -4 EXPIRED
]]
local h = redis.call('HMGET', KEYS[1], 'state', 'agent', 'deadline', 'enq')
if not h[1] then return {-1} end
if h[1] ~= 'offered' then return {-2} end
if h[2] ~= ARGV[2] then return {-3} end
if tonumber(h[3]) < tonumber(ARGV[3]) then return {-4} end
redis.call('HSET', KEYS[1], 'state', 'assigned', 'deadline', '')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], 'missed', 0)
return {1, tonumber(h[4])}
