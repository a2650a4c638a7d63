-- Included by the steps that take work out of an agent's hands (remove, requeue, transfer):
-- one unit of the agent's capacity on a channel is given back, and an available agent with
-- room again goes back into avail:<channel> at its idle time. Returns the new load.
--   prefix    {p}:   agentId   agent id   channel   channel   idleDefault   score if no idle
local function freeCapacity(prefix, agentId, channel, idleDefault)
  local akey = prefix .. 'a:' .. agentId
  local load = redis.call('HINCRBY', akey, 'load:' .. channel, -1)
  if load < 0 then
    load = 0
    redis.call('HSET', akey, 'load:' .. channel, 0)
  end
  local a = redis.call('HMGET', akey, 'presence', 'cap:' .. channel, 'idle')
  if a[1] == 'available' and load < (tonumber(a[2] or '0') or 0) then
    redis.call('ZADD', prefix .. 'avail:' .. channel, tonumber(a[3] or idleDefault), agentId)
  end
  return load
end
