--[[
  Reserve the first waiting interaction of a queue for the longest-idle agent with free
  capacity on its channel, with a deadline. Agents that declined or missed this interaction
  recently are skipped (so a reject does not bounce straight back to the same agent).

  KEYS[1] queue zset             {p}:q:<queue>:<channel>
  KEYS[2] available agents zset  {p}:avail:<channel>
  KEYS[3] offers zset            {p}:offers
  KEYS[4] key prefix             {p}:   (for {p}:i:<id>, {p}:i:<id>:declined, {p}:a:<agent>)

  ARGV[1] now ms
  ARGV[2] offer timeout ms
  ARGV[3] channel
  ARGV[4] how many waiting interactions / agents to look at

  Returns: {interaction id, agent id, deadline ms} or false when nothing can be offered
]]
local now = tonumber(ARGV[1])
local scan = tonumber(ARGV[4])
local ids = redis.call('ZRANGE', KEYS[1], 0, scan - 1)
if #ids == 0 then return false end
local agents = redis.call('ZRANGE', KEYS[2], 0, scan - 1)
if #agents == 0 then return false end
local loadField = 'load:' .. ARGV[3]
local capField = 'cap:' .. ARGV[3]

for _, id in ipairs(ids) do
  local declined = KEYS[4] .. 'i:' .. id .. ':declined'
  for _, agent in ipairs(agents) do
    local blockedUntil = redis.call('ZSCORE', declined, agent)
    if (not blockedUntil) or tonumber(blockedUntil) <= now then
      local akey = KEYS[4] .. 'a:' .. agent
      local a = redis.call('HMGET', akey, 'presence', capField, loadField)
      local cap = tonumber(a[2] or '0') or 0
      local load = tonumber(a[3] or '0') or 0
      if a[1] ~= 'available' or load >= cap then
        -- Stale membership (should not happen): repair it and look further.
        redis.call('ZREM', KEYS[2], agent)
      else
        local deadline = now + tonumber(ARGV[2])
        redis.call('ZREM', KEYS[1], id)
        redis.call('HSET', KEYS[4] .. 'i:' .. id, 'state', 'offered', 'agent', agent,
          'deadline', deadline)
        redis.call('ZADD', KEYS[3], deadline, id)
        load = redis.call('HINCRBY', akey, loadField, 1)
        if load >= cap then
          redis.call('ZREM', KEYS[2], agent)
        else
          -- Round robin among agents with room: the one just given work goes to the back.
          redis.call('ZADD', KEYS[2], now, agent)
        end
        return {id, agent, deadline}
      end
    end
  end
end
return false
