--[[
  Warm transfer of an assigned interaction. The sending agent's capacity is freed; then
  * to an agent: it is offered (reserved with a deadline) to that agent directly, who must
    be available with free capacity on the channel and not on a voice call; a reject or
    timeout puts it back in its queue at its original place (decline);
  * to a queue: it waits in that queue with its original score (priority band + original
    enqueue time), so it keeps its place in line; escalation starts over in the new queue.

  KEYS[1] interaction hash       {p}:i:<id>
  KEYS[2] offers zset            {p}:offers
  KEYS[3] key prefix             {p}:   (a:<agent>, avail:<channel>, q:<queue>:<channel>, queues)

  ARGV[1] interaction id
  ARGV[2] from agent id
  ARGV[3] to agent id ('' when to a queue)
  ARGV[4] to queue ('' when to an agent)
  ARGV[5] now ms
  ARGV[6] offer timeout ms
  ARGV[7] cool-down ms: the sender is not offered it again before (as after a decline)

  Returns: {1, channel, deadline ms (to an agent) or 1-based position (to a queue)}
           or {error code}: -1 NOT_FOUND, -3 NOT_YOURS, -7 NOT_ASSIGNED, -9 AGENT_UNAVAILABLE
]]
--@include freeCapacity
local P = KEYS[3]
local h = redis.call('HMGET', KEYS[1], 'state', 'agent', 'channel', 'score')
if not h[1] then return {-1} end
if h[1] ~= 'assigned' then return {-7} end
if h[2] ~= ARGV[2] then return {-3} end
local channel = h[3]
local now = tonumber(ARGV[5])

local to = ARGV[3]
local toKey = P .. 'a:' .. to
if to ~= '' then
  local t = redis.call('HMGET', toKey, 'presence', 'cap:' .. channel, 'load:' .. channel,
    'load:voice')
  if t[1] ~= 'available' or (tonumber(t[3] or '0') or 0) >= (tonumber(t[2] or '0') or 0)
    or (channel ~= 'voice' and (tonumber(t[4] or '0') or 0) > 0) then
    return {-9}
  end
end

-- Free the sender, who is not offered it straight back.
local declined = KEYS[1] .. ':declined'
redis.call('DEL', declined)
redis.call('ZADD', declined, now + tonumber(ARGV[7]), ARGV[2])
redis.call('PEXPIRE', declined, tonumber(ARGV[7]) + 1000)
freeCapacity(P, ARGV[2], channel, ARGV[5])

if to ~= '' then
  local deadline = now + tonumber(ARGV[6])
  redis.call('HSET', KEYS[1], 'state', 'offered', 'agent', to, 'deadline', deadline)
  redis.call('ZADD', KEYS[2], deadline, ARGV[1])
  local tload = redis.call('HINCRBY', toKey, 'load:' .. channel, 1)
  if tload >= (tonumber(redis.call('HGET', toKey, 'cap:' .. channel) or '0') or 0) then
    redis.call('ZREM', P .. 'avail:' .. channel, to)
  end
  return {1, channel, deadline}
end
local qkey = P .. 'q:' .. ARGV[4] .. ':' .. channel
redis.call('HSET', KEYS[1], 'state', 'queued', 'queue', ARGV[4], 'agent', '', 'deadline', '',
  'esc', 0)
redis.call('ZADD', qkey, h[4], ARGV[1])
redis.call('SADD', P .. 'queues', ARGV[4] .. ':' .. channel)
return {1, channel, redis.call('ZRANK', qkey, ARGV[1]) + 1}
