--[[
  Set an agent's presence and per-channel capacity. Available: the agent joins the
  available set of every channel where it has free capacity (idle since now if it was not
  available before); any other presence: it leaves them all (offers in flight stay until
  accepted or timed out).

  KEYS[1] agent hash             {p}:a:<agent>
  KEYS[2] key prefix             {p}:   (for avail:<channel>)

  ARGV[1] agent id
  ARGV[2] presence: available | away | offline
  ARGV[3] now ms
  ARGV[4..] channel, capacity, channel, capacity, ...

  Returns: the previous presence ('' if none)
]]
local before = redis.call('HGET', KEYS[1], 'presence') or ''
redis.call('HSET', KEYS[1], 'presence', ARGV[2])
if ARGV[2] == 'available' and before ~= 'available' then
  redis.call('HSET', KEYS[1], 'idle', ARGV[3], 'missed', 0)
end
local idle = redis.call('HGET', KEYS[1], 'idle') or ARGV[3]
for i = 4, #ARGV, 2 do
  local channel, cap = ARGV[i], tonumber(ARGV[i + 1])
  redis.call('HSET', KEYS[1], 'cap:' .. channel, cap)
  local load = tonumber(redis.call('HGET', KEYS[1], 'load:' .. channel) or '0')
  local avail = KEYS[2] .. 'avail:' .. channel
  if ARGV[2] == 'available' and load < cap then
    redis.call('ZADD', avail, idle, ARGV[1])
  else
    redis.call('ZREM', avail, ARGV[1])
  end
end
return before
