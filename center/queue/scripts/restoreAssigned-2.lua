--[[
  Recovery after Redis lost its state: re-create the live state of an interaction the
  database says is assigned, and count it in the agent's load so capacity is right.
  Idempotent: an interaction that still has live state is left alone.

  KEYS[1] interaction hash       {p}:i:<id>
  KEYS[2] key prefix             {p}:   (a:<agent>, avail:<channel>)

  ARGV[1] interaction id
  ARGV[2] agent id
  ARGV[3] queue
  ARGV[4] channel
  ARGV[5] score (priority band + enqueue ms)
  ARGV[6] enqueue ms
  ARGV[7] the interaction's own required skills, JSON ('' for none): kept for a transfer
          back to a queue

  Returns: 1 when restored, 0 when it already had live state
]]
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'state', 'assigned', 'queue', ARGV[3], 'channel', ARGV[4],
  'score', ARGV[5], 'enq', ARGV[6], 'agent', ARGV[2], 'deadline', '',
  'skills', ARGV[7])
local akey = KEYS[2] .. 'a:' .. ARGV[2]
local load = redis.call('HINCRBY', akey, 'load:' .. ARGV[4], 1)
if load >= (tonumber(redis.call('HGET', akey, 'cap:' .. ARGV[4]) or '0') or 0) then
  redis.call('ZREM', KEYS[2] .. 'avail:' .. ARGV[4], ARGV[2])
end
return 1
