--[[
  Make one offer on a channel: the best waiting interaction goes to the best eligible agent,
  reserved with a deadline. TaskRouter semantics in one atomic step:

  * candidates are the heads of the queues of this channel (one queue, or all of them);
    their effective priority is interaction priority + queue priority + one per aging
    interval waited, computed now; higher first, then oldest enqueue time first. So an
    agent serving several queues gets the oldest highest-priority work across them.
  * an agent is eligible when it is available with free capacity on the channel, is not on
    a voice call (for other channels), did not decline this interaction recently, and
    has the queue's required skills at their minimum levels -- lowered / dropped by the
    escalation rings the interaction has reached (field esc), or meets the requirements
    of an overflow queue of a reached ring. The interaction's own required skills (field
    skills of its hash, JSON, '' for none) are required on top, on every path: lowered by
    the reached rings like the queue's (never below 1), never dropped, and required as well
    of an agent who qualifies through an overflow queue.
  * among eligible agents: the longest idle (order of the avail zset), or the least
    occupied (lowest load/capacity over all channels; ties: longest idle).

  KEYS[1] offers zset            {p}:offers
  KEYS[2] queue definitions hash {p}:qdefs     (queue -> JSON, see center/queue/definitions.py)
  KEYS[3] queues set             {p}:queues    ("<queue>:<channel>")
  KEYS[4] key prefix             {p}:          (q:<queue>:<channel>, i:<id>, a:<agent>, avail:)

  ARGV[1] now ms
  ARGV[2] offer timeout ms
  ARGV[3] channel
  ARGV[4] how many waiting interactions per queue (and band) / agents able to take work
          to look at
  ARGV[5] only this queue ('' for every queue of the channel)
  ARGV[6] only this agent ('' for any agent)

  Returns: {interaction id, agent id, deadline ms, queue} or false when nothing can be offered
]]
local now = tonumber(ARGV[1])
local channel = ARGV[3]
local scan = tonumber(ARGV[4])
local P = KEYS[4]
local BAND = 10000000000000
local avail = P .. 'avail:' .. channel

-- Agent ids in avail order, read a page of `scan` at a time as the search goes deeper.
-- Agents on a voice call stay in avail:<channel> but cannot take other work; they do not
-- count towards `scan`, so many of them cannot hide free agents behind them.
local agentIds, total, removed = {}, 0, 0
if ARGV[6] ~= '' then
  if not redis.call('ZSCORE', avail, ARGV[6]) then return false end
  agentIds, total = {ARGV[6]}, 1
else
  total = redis.call('ZCARD', avail)
end
if total == 0 then return false end
local function idAt(rank)
  if agentIds[rank] == nil then
    -- (Earlier repairs removed members before this rank: the page starts that much lower.)
    local start = rank - 1 - removed
    for k, id in ipairs(redis.call('ZRANGE', avail, start, start + scan - 1)) do
      agentIds[rank - 1 + k] = id
    end
  end
  return agentIds[rank]
end

-- Agents are loaded lazily (most offers settle on the first agent looked at) and once.
local loaded = {}
local function agentAt(rank)
  if loaded[rank] ~= nil then return loaded[rank] end
  local id = idAt(rank)
  if id == nil then
    loaded[rank] = false
    return false
  end
  local akey = P .. 'a:' .. id
  local h = redis.call('HMGET', akey, 'presence', 'cap:' .. channel, 'load:' .. channel,
    'load:voice', 'skills')
  local cap = tonumber(h[2] or '0') or 0
  local load = tonumber(h[3] or '0') or 0
  local agent = false
  if h[1] ~= 'available' or load >= cap then
    -- Stale membership (should not happen): repair it.
    redis.call('ZREM', avail, id)
    removed = removed + 1
  elseif channel == 'voice' or (tonumber(h[4] or '0') or 0) == 0 then
    -- (An agent on a voice call gets nothing else until it ends.)
    local ok, skills = pcall(cjson.decode, h[5] or '{}')
    if not ok or type(skills) ~= 'table' then skills = {} end
    agent = {id = id, key = akey, cap = cap, skills = skills}
  end
  loaded[rank] = agent
  return agent
end

local function occupancy(agent)
  if agent.occ == nil then
    local raw = redis.call('HGETALL', agent.key)
    local h = {}
    for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
    local totalLoad, totalCap = 0, 0
    for field, value in pairs(h) do
      if string.sub(field, 1, 4) == 'cap:' then
        totalCap = totalCap + (tonumber(value) or 0)
        totalLoad = totalLoad + (tonumber(h['load:' .. string.sub(field, 5)] or '0') or 0)
      end
    end
    agent.occ = totalLoad / math.max(totalCap, 1)
  end
  return agent.occ
end

local defs = {}
local function def(q)
  if defs[q] == nil then
    local raw = redis.call('HGET', KEYS[2], q)
    defs[q] = raw and cjson.decode(raw) or false
  end
  return defs[q]
end

local function meets(agent, skills, lower, dropped)
  for name, level in pairs(skills) do
    if not dropped[name] then
      local need = math.max(1, tonumber(level) - lower)
      if (tonumber(agent.skills[name]) or 0) < need then return false end
    end
  end
  return true
end

local NONE = {}
local function eligible(agent, d, esc, own)
  if not d then return meets(agent, own, 0, NONE) end
  local lower, dropped, overflow = 0, {}, {}
  for i = 1, math.min(esc, #d.esc) do
    local step = d.esc[i]
    lower = math.max(lower, tonumber(step.lower) or 0)
    for _, s in ipairs(step.drop) do dropped[s] = true end
    if step.overflow ~= '' then table.insert(overflow, step.overflow) end
  end
  -- (A drop names the queue's skills; what the interaction itself asked for stays.)
  if not meets(agent, own, lower, NONE) then return false end
  if meets(agent, d.skills, lower, dropped) then return true end
  for _, q in ipairs(overflow) do
    local od = def(q)
    if (not od) or meets(agent, od.skills, 0, {}) then return true end
  end
  return false
end

local queues = {}
if ARGV[5] ~= '' then
  queues = {ARGV[5]}
else
  for _, m in ipairs(redis.call('SMEMBERS', KEYS[3])) do
    local q, ch = string.match(m, '^(.*):([^:]+)$')
    if ch == channel then table.insert(queues, q) end
  end
end

local cands = {}
local function add(q, d, entries)
  local qprio = d and tonumber(d.priority) or 0
  local aging = d and tonumber(d.aging_ms) or 0
  for i = 1, #entries, 2 do
    local score = tonumber(entries[i + 1])
    local band = math.floor(score / BAND)
    local enq = score - band * BAND
    local prio = 9 - band + qprio
    if aging > 0 then prio = prio + math.floor(math.max(0, now - enq) / aging) end
    table.insert(cands, {id = entries[i], q = q, d = d, prio = prio, enq = enq})
  end
end
for _, q in ipairs(queues) do
  local d = def(q)
  local qkey = P .. 'q:' .. q .. ':' .. channel
  if d and tonumber(d.aging_ms) > 0 then
    -- Aging can lift an old low-priority item above newer high-priority ones: look at the
    -- head of every priority band (FIFO holds inside a band).
    for b = 0, 9 do
      add(q, d, redis.call('ZRANGEBYSCORE', qkey, string.format('%d', b * BAND),
        '(' .. string.format('%d', (b + 1) * BAND), 'WITHSCORES', 'LIMIT', 0, scan))
    end
  else
    add(q, d, redis.call('ZRANGE', qkey, 0, scan - 1, 'WITHSCORES'))
  end
end
table.sort(cands, function(x, y)
  if x.prio ~= y.prio then return x.prio > y.prio end
  if x.enq ~= y.enq then return x.enq < y.enq end
  return tonumber(x.id) < tonumber(y.id)
end)

for _, c in ipairs(cands) do
  local ikey = P .. 'i:' .. c.id
  local declined = ikey .. ':declined'
  -- (One HMGET as the lone HGET of esc was: no skills of its own cost no more.)
  local iv = redis.call('HMGET', ikey, 'esc', 'skills')
  local esc = tonumber(iv[1] or '0') or 0
  local own = NONE
  if iv[2] and iv[2] ~= '' then
    local ok, decoded = pcall(cjson.decode, iv[2])
    if ok and type(decoded) == 'table' then own = decoded end
  end
  local leastOccupied = c.d and c.d.strategy == 'least_occupied'
  local best = nil
  local usable = 0
  for rank = 1, total do
    local agent = agentAt(rank)
    if agent then
      usable = usable + 1
      if usable > scan then break end
      local blockedUntil = redis.call('ZSCORE', declined, agent.id)
      if ((not blockedUntil) or tonumber(blockedUntil) <= now) and eligible(agent, c.d, esc, own)
      then
        if not leastOccupied then
          best = agent
          break
        end
        if best == nil or occupancy(agent) < occupancy(best) then best = agent end
      end
    end
  end
  if best then
    local deadline = now + tonumber(ARGV[2])
    redis.call('ZREM', P .. 'q:' .. c.q .. ':' .. channel, c.id)
    redis.call('HSET', ikey, 'state', 'offered', 'agent', best.id, 'deadline', deadline)
    redis.call('ZADD', KEYS[1], deadline, c.id)
    local load = redis.call('HINCRBY', best.key, 'load:' .. channel, 1)
    if load >= best.cap then
      redis.call('ZREM', avail, best.id)
    else
      -- Round robin among agents with room: the one just given work goes to the back.
      redis.call('ZADD', avail, now, best.id)
    end
    return {c.id, best.id, deadline, c.q}
  end
end
return false
