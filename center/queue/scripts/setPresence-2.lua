--[[
  Set an agent's presence, skills and per-channel capacity. Available: the agent joins the
  available set of every channel where it has free capacity (idle since now if it was not
  available before); any other presence: it leaves them all (offers in flight stay until
  accepted or timed out). Any change ends a wrap-up. The time the previous presence began
  is returned so the caller can log how long it lasted.

  KEYS[1] agent hash             {p}:a:<agent>
  KEYS[2] key prefix             {p}:   (for avail:<channel>, wrapups)

  ARGV[1] agent id
  ARGV[2] presence: available | away | offline
  ARGV[3] now ms
  ARGV[4] skills as JSON {name: level} ('' keeps the stored ones)
  ARGV[5..] channel, capacity, channel, capacity, ...

  Returns: {previous presence ('' if none), ms the previous presence began (0 if none)}
]]
local prev = redis.call('HMGET', KEYS[1], 'presence', 'since')
local before = prev[1] or ''
local since = tonumber(prev[2] or '0') or 0
redis.call('HSET', KEYS[1], 'presence', ARGV[2])
if before ~= ARGV[2] then
  redis.call('HSET', KEYS[1], 'since', ARGV[3])
end
if ARGV[2] == 'available' and before ~= 'available' and before ~= 'wrap_up' then
  redis.call('HSET', KEYS[1], 'idle', ARGV[3], 'missed', 0)
end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'skills', ARGV[4])
end
redis.call('ZREM', KEYS[2] .. 'wrapups', ARGV[1])
local idle = redis.call('HGET', KEYS[1], 'idle') or ARGV[3]
for i = 5, #ARGV, 2 do
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
return {before, since}
