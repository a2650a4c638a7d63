--[[
  The agent finished an assigned interaction: forget its live state and free the agent's
  capacity on that channel (the agent is idle from now on that channel). With a wrap-up
  time, an available agent enters wrap_up: no new work until it ends (agent's action via
  setPresence, or the timer: {p}:wrapups is swept by endWrapUp).

  KEYS[1] interaction hash       {p}:i:<id>
  KEYS[2] agent hash             {p}:a:<agent>
  KEYS[3] key prefix             {p}:   (for avail:<channel>, wrapups)

  ARGV[1] interaction id
  ARGV[2] agent id
  ARGV[3] now ms
  ARGV[4] wrap-up ms (0: none)
  ARGV[5] all channel names, comma separated

  Returns: {1, channel, 1 if wrap-up started else 0, ms the previous presence began}
           or {error code}: -1 NOT_FOUND, -3 NOT_YOURS, -7 NOT_ASSIGNED
]]
local h = redis.call('HMGET', KEYS[1], 'state', 'agent', 'channel')
if not h[1] then return {-1} end
if h[1] ~= 'assigned' then return {-7} end
if h[2] ~= ARGV[2] then return {-3} end
local channel = h[3]
redis.call('DEL', KEYS[1], KEYS[1] .. ':declined')
local load = redis.call('HINCRBY', KEYS[2], 'load:' .. channel, -1)
if load < 0 then
  load = 0
  redis.call('HSET', KEYS[2], 'load:' .. channel, 0)
end
redis.call('HSET', KEYS[2], 'idle', ARGV[3])
local a = redis.call('HMGET', KEYS[2], 'presence', 'cap:' .. channel, 'since')
local wrap = tonumber(ARGV[4])
if a[1] == 'available' and wrap > 0 then
  redis.call('HSET', KEYS[2], 'presence', 'wrap_up', 'since', ARGV[3])
  for ch in string.gmatch(ARGV[5], '[^,]+') do
    redis.call('ZREM', KEYS[3] .. 'avail:' .. ch, ARGV[2])
  end
  redis.call('ZADD', KEYS[3] .. 'wrapups', tonumber(ARGV[3]) + wrap, ARGV[2])
  return {1, channel, 1, tonumber(a[3] or ARGV[3])}
end
if a[1] == 'available' and load < (tonumber(a[2] or '0') or 0) then
  redis.call('ZADD', KEYS[3] .. 'avail:' .. channel, ARGV[3], ARGV[2])
end
return {1, channel, 0, tonumber(a[3] or ARGV[3])}
