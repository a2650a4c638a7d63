--[[
  Read-only snapshot of the live routing state for the supervisor's statistics, in one
  round trip (nothing is written).

  KEYS[1] queues set             {p}:queues    ("<queue>:<channel>")
  KEYS[2] offers zset            {p}:offers
  KEYS[3] key prefix             {p}:          (q:<queue>:<channel>, i:<id>, a:<agent>)

  ARGV[1..] agent ids to report on

  Returns: {queues, offers, agents}
    queues: {{queue, channel, waiting count, head score of each non-empty priority band...}}
            (score = band * 1e13 + enqueue ms, so the oldest enqueue is among the band heads)
    offers: {{interaction id, queue, channel, agent id, enqueue ms}} for offers in flight
    agents: {{agent id, {HGETALL of its hash}}} (an empty hash for an agent never seen)
]]
local P = KEYS[3]
local BAND = 10000000000000

local queues = {}
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local q, ch = string.match(m, '^(.*):([^:]+)$')
  if q then
    local qkey = P .. 'q:' .. q .. ':' .. ch
    local row = {q, ch, redis.call('ZCARD', qkey)}
    if row[3] > 0 then
      for b = 0, 9 do
        local head = redis.call('ZRANGEBYSCORE', qkey, string.format('%d', b * BAND),
          '(' .. string.format('%d', (b + 1) * BAND), 'WITHSCORES', 'LIMIT', 0, 1)
        if head[2] then table.insert(row, head[2]) end
      end
    end
    table.insert(queues, row)
  end
end

local offers = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local h = redis.call('HMGET', P .. 'i:' .. id, 'queue', 'channel', 'agent', 'enq')
  if h[1] then
    table.insert(offers, {id, h[1], h[2] or '', h[3] or '', h[4] or ''})
  end
end

local agents = {}
for i = 1, #ARGV do
  table.insert(agents, {ARGV[i], redis.call('HGETALL', P .. 'a:' .. ARGV[i])})
end

return {queues, offers, agents}
