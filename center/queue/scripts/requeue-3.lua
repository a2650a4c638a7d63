--[[
  Put an interaction held by an agent (assigned, or offered) back in its queue at its
  original place: the agent was disconnected past the grace period. The agent's capacity
  on the channel is freed.

  KEYS[1] interaction hash       {p}:i:<id>
  KEYS[2] offers zset            {p}:offers
  KEYS[3] key prefix             {p}:   (a:<agent>, avail:<channel>, q:<queue>:<channel>)

  ARGV[1] interaction id
  ARGV[2] agent id
  ARGV[3] now ms

  Returns: {1, queue, channel, state before} or {error code}:
           -1 NOT_FOUND, -3 NOT_YOURS, -7 NOT_ASSIGNED
]]
--@include freeCapacity
local P = KEYS[3]
local h = redis.call('HMGET', KEYS[1], 'state', 'agent', 'queue', 'channel', 'score')
if not h[1] then return {-1} end
if h[1] ~= 'assigned' and h[1] ~= 'offered' then return {-7} end
if h[2] ~= ARGV[2] then return {-3} end
local queue, channel = h[3], h[4]
freeCapacity(P, ARGV[2], channel, ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'state', 'queued', 'agent', '', 'deadline', '')
redis.call('ZADD', P .. 'q:' .. queue .. ':' .. channel, h[5], ARGV[1])
return {1, queue, channel, h[1]}
