--[[
  Put an interaction in its queue (idempotent for one that is already waiting there).

  KEYS[1] queue zset             {p}:q:<queue>:<channel>
  KEYS[2] interaction hash       {p}:i:<id>
  KEYS[3] queues set             {p}:queues

  ARGV[1] interaction id
  ARGV[2] queue name
  ARGV[3] channel
  ARGV[4] score (priority band + enqueue ms)
  ARGV[5] enqueue ms
  ARGV[6] the interaction's own required skills, JSON {name: min level} ('' for none)

  Returns: 1-based position in the queue, or
           -6 ALREADY_ROUTED when it is offered or assigned already
]]
local state = redis.call('HGET', KEYS[2], 'state')
if state == 'offered' or state == 'assigned' then
  return -6
end
redis.call('HSET', KEYS[2], 'state', 'queued', 'queue', ARGV[2], 'channel', ARGV[3],
  'score', ARGV[4], 'enq', ARGV[5], 'agent', '', 'deadline', '',
  'skills', ARGV[6])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2] .. ':' .. ARGV[3])
return redis.call('ZRANK', KEYS[1], ARGV[1]) + 1
