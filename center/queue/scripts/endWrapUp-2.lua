--[[
  A wrap-up timer passed: the agent is available again (on every channel with free
  capacity) unless it already changed presence itself.

  KEYS[1] agent hash             {p}:a:<agent>
  KEYS[2] key prefix             {p}:   (for avail:<channel>, wrapups)

  ARGV[1] agent id
  ARGV[2] now ms
  ARGV[3] all channel names, comma separated

  Returns: {1, ms the wrap-up began} or {0} when the agent was no longer wrapping up
]]
local wrapups = KEYS[2] .. 'wrapups'
local until_ = redis.call('ZSCORE', wrapups, ARGV[1])
if until_ and tonumber(until_) > tonumber(ARGV[2]) then return {0} end
redis.call('ZREM', wrapups, ARGV[1])
local a = redis.call('HMGET', KEYS[1], 'presence', 'since', 'idle')
if a[1] ~= 'wrap_up' then return {0} end
redis.call('HSET', KEYS[1], 'presence', 'available', 'since', ARGV[2])
for ch in string.gmatch(ARGV[3], '[^,]+') do
  local c = redis.call('HMGET', KEYS[1], 'cap:' .. ch, 'load:' .. ch)
  if (tonumber(c[2] or '0') or 0) < (tonumber(c[1] or '0') or 0) then
    redis.call('ZADD', KEYS[2] .. 'avail:' .. ch, tonumber(a[3] or ARGV[2]), ARGV[1])
  end
end
return {1, tonumber(a[2] or ARGV[2])}
