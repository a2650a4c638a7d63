--[[
  Take a waiting (queued or offered) interaction out of routing: the customer left.
  An offer in flight is withdrawn and the agent's capacity freed.

  KEYS[1] interaction hash       {p}:i:<id>
  KEYS[2] offers zset            {p}:offers
  KEYS[3] key prefix             {p}:   (for the queue, the agent and avail:<channel>)

  ARGV[1] interaction id

  Returns: {1, state before, agent id or ''} or {error code}: -1 NOT_FOUND, -8 NOT_WAITING
]]
--@include freeCapacity
local h = redis.call('HMGET', KEYS[1], 'state', 'agent', 'queue', 'channel')
if not h[1] then return {-1} end
local state, agent, queue, channel = h[1], h[2], h[3], h[4]
if state == 'queued' then
  redis.call('ZREM', KEYS[3] .. 'q:' .. queue .. ':' .. channel, ARGV[1])
elseif state == 'offered' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  freeCapacity(KEYS[3], agent, channel, '0')
else
  return {-8}
end
redis.call('DEL', KEYS[1], KEYS[1] .. ':declined')
return {1, state, agent or ''}
