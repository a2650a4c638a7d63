--[[
  Put an offered interaction back at its original place in its queue: the agent rejected
  it, or its deadline passed (timeout). The agent's capacity is freed; a timeout counts as a
  miss, and an agent who misses max_missed offers in a row is set away.

  KEYS[1] interaction hash       {p}:i:<id>
  KEYS[2] offers zset            {p}:offers
  KEYS[3] agent hash             {p}:a:<agent>
  KEYS[4] key prefix             {p}:   (for the queue, declined and avail:<channel> keys)

  ARGV[1] interaction id
  ARGV[2] agent id
  ARGV[3] now ms
  ARGV[4] reason: 'reject' or 'timeout'
  ARGV[5] cool-down ms (this agent is not offered this interaction again before)
  ARGV[6] max missed offers in a row before the agent is set away (0: never)
  ARGV[7] all channel names, comma separated

  Returns: {1, queue, channel, missed in a row, 1 if the agent was set away else 0,
            ms the agent's previous presence began (when set away)}
           or {error code}: -1 NOT_FOUND, -2 NOT_OFFERED, -3 NOT_YOURS, -5 NOT_EXPIRED
]]
local h = redis.call('HMGET', KEYS[1], 'state', 'agent', 'deadline', 'queue', 'channel', 'score')
if not h[1] then return {-1} end
if h[1] ~= 'offered' then return {-2} end
if h[2] ~= ARGV[2] then return {-3} end
local now = tonumber(ARGV[3])
if ARGV[4] == 'timeout' and tonumber(h[3]) > now then return {-5} end

local queue, channel = h[4], h[5]
redis.call('HSET', KEYS[1], 'state', 'queued', 'agent', '', 'deadline', '')
redis.call('ZADD', KEYS[4] .. 'q:' .. queue .. ':' .. channel, h[6], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local declined = KEYS[4] .. 'i:' .. ARGV[1] .. ':declined'
redis.call('ZADD', declined, now + tonumber(ARGV[5]), ARGV[2])
redis.call('PEXPIRE', declined, tonumber(ARGV[5]) + 1000)

local load = redis.call('HINCRBY', KEYS[3], 'load:' .. channel, -1)
if load < 0 then
  load = 0
  redis.call('HSET', KEYS[3], 'load:' .. channel, 0)
end
local missed = 0
local away = 0
local since = 0
if ARGV[4] == 'timeout' then
  missed = redis.call('HINCRBY', KEYS[3], 'missed', 1)
  local maxMissed = tonumber(ARGV[6])
  if maxMissed > 0 and missed >= maxMissed then
    away = 1
    since = tonumber(redis.call('HGET', KEYS[3], 'since') or '0') or 0
    redis.call('HSET', KEYS[3], 'presence', 'away', 'since', now)
    for ch in string.gmatch(ARGV[7], '[^,]+') do
      redis.call('ZREM', KEYS[4] .. 'avail:' .. ch, ARGV[2])
    end
  end
end
if away == 0 then
  local a = redis.call('HMGET', KEYS[3], 'presence', 'cap:' .. channel, 'idle')
  if a[1] == 'available' and load < (tonumber(a[2] or '0') or 0) then
    redis.call('ZADD', KEYS[4] .. 'avail:' .. channel, tonumber(a[3] or ARGV[3]), ARGV[2])
  end
end
return {1, queue, channel, missed, away, since}
