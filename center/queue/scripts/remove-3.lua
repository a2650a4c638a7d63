--[[
  Take a waiting (queued or offered) interaction out of routing: the customer left.
  An offer in flight is withdrawn and the agent's capacity freed.

  KEYS[1] interaction hash       {p}:i:<id>
  KEYS[2] offers zset            {p}:offers
  KEYS[3] key prefix             {p}:   (for the queue, the agent and avail:<channel>)

  ARGV[1] interaction id

  Returns: {1, state before, agent id or ''} or {error code}: -1 NOT_FOUND, -8 NOT_WAITING
]]
local h = redis.call('HMGET', KEYS[1], 'state', 'agent', 'queue', 'channel')
if not h[1] then return {-1} end
local state, agent, queue, channel = h[1], h[2], h[3], h[4]
if state == 'queued' then
  redis.call('ZREM', KEYS[3] .. 'q:' .. queue .. ':' .. channel, ARGV[1])
elseif state == 'offered' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  local akey = KEYS[3] .. 'a:' .. agent
  local load = redis.call('HINCRBY', akey, 'load:' .. channel, -1)
  if load < 0 then
    load = 0
    redis.call('HSET', akey, 'load:' .. channel, 0)
  end
  local a = redis.call('HMGET', akey, 'presence', 'cap:' .. channel, 'idle')
  if a[1] == 'available' and load < (tonumber(a[2] or '0') or 0) then
    redis.call('ZADD', KEYS[3] .. 'avail:' .. channel, tonumber(a[3] or '0'), agent)
  end
else
  return {-8}
end
redis.call('DEL', KEYS[1], KEYS[1] .. ':declined')
return {1, state, agent or ''}
