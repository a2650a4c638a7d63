--[[
  Raise the escalation level (field esc of the interaction hash) of waiting interactions
  whose wait reached the next step of their queue's escalation (bullseye rings). Each level
  is reported once, so the service logs each step once per interaction; offerNext widens the
  eligible set by the level stored here.

  KEYS[1] queue definitions hash {p}:qdefs
  KEYS[2] queues set             {p}:queues
  KEYS[3] key prefix             {p}:   (q:<queue>:<channel>, i:<id>)

  ARGV[1] now ms
  ARGV[2] how many waiting interactions per queue to look at

  Returns: flat list {interaction id, level reached (1-based step), queue, ...}
]]
local now = tonumber(ARGV[1])
local BAND = 10000000000000
local out = {}
for _, m in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local q = string.match(m, '^(.*):[^:]+$')
  local raw = redis.call('HGET', KEYS[1], q)
  if raw then
    local d = cjson.decode(raw)
    if #d.esc > 0 then
      local first = tonumber(d.esc[1].after_ms)
      local entries = redis.call('ZRANGE', KEYS[3] .. 'q:' .. m, 0, tonumber(ARGV[2]) - 1,
        'WITHSCORES')
      for i = 1, #entries, 2 do
        local score = tonumber(entries[i + 1])
        local wait = now - (score - math.floor(score / BAND) * BAND)
        if wait >= first then
          local level = 0
          for s, step in ipairs(d.esc) do
            if wait >= tonumber(step.after_ms) then level = s end
          end
          local ikey = KEYS[3] .. 'i:' .. entries[i]
          local cur = tonumber(redis.call('HGET', ikey, 'esc') or '0') or 0
          if level > cur then
            redis.call('HSET', ikey, 'esc', level)
            for s = cur + 1, level do
              table.insert(out, entries[i])
              table.insert(out, s)
              table.insert(out, q)
            end
          end
        end
      end
    end
  end
end
return out
