--[[
  Read-only snapshot of the live routing state for the supervisor's statistics, in one
  round trip (nothing is written).

  KEYS[1] queues set             {p}:queues    ("<queue>:<channel>")
  KEYS[2] offers zset            {p}:offers
  KEYS[3] key prefix             {p}:          (q:<queue>:<channel>, i:<id>, a:<agent>)

  ARGV[1..] agent ids to report on

  Returns: one JSON string (cjson) of {queues, offers, agents}: a client parses one
  string in C instead of thousands of reply items in Python (200 agents' hashes are
  about 8,000 items; RESP parsing them was most of the supervisor snapshot's time).
    queues: list of (queue, channel, waiting count, head score of each non-empty band...)
            (score = band * 1e13 + enqueue ms, so the oldest enqueue is among the band heads)
    offers: list of (interaction id, queue, channel, agent id, enqueue ms), offers in flight
    agents: list of (agent id, {field: value of its hash}) (an agent never seen: {})
  (cjson writes an empty list as {} too: the reader takes either as empty.)
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
  local flat = redis.call('HGETALL', P .. 'a:' .. ARGV[i])
  local h = {}
  for j = 1, #flat, 2 do h[flat[j]] = flat[j + 1] end
  table.insert(agents, {ARGV[i], h})
end

return cjson.encode({queues, offers, agents})
