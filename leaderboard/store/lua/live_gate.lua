-- The throttle of one live group, shared by every process.
-- KEYS: last send (ms), pending trailing send (its owner's token), send in progress (its owner's token)
-- ARGV: interval (ms), token of a firing timer ('' for a new change), claim of a new change
-- Returns 0 = send now (the caller owns the in-progress mark and must release it),
--        -1 = nothing to do, n > 0 = (re)schedule the trailing send in n ms.
-- Redis' clock, so hosts with drifting clocks still agree.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval, token, claim = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local busy = redis.call('EXISTS', KEYS[3]) == 1
if token ~= '' then
  -- Only the timer that owns the pending mark may send: a leading send may have
  -- taken its place, or a newer cycle may own it by now.
  if redis.call('GET', KEYS[2]) ~= token then return -1 end
  if busy then
    -- The previous send is still going out: sends never overlap, so they never arrive out of order.
    redis.call('PEXPIRE', KEYS[2], interval * 4)
    return 20
  end
  redis.call('SET', KEYS[3], token, 'PX', 5000)
  redis.call('SET', KEYS[1], now, 'PX', interval * 10)
  redis.call('DEL', KEYS[2])
  return 0
end
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if not busy and now - last >= interval then
  redis.call('SET', KEYS[3], claim, 'PX', 5000)
  redis.call('SET', KEYS[1], now, 'PX', interval * 10)
  redis.call('DEL', KEYS[2])
  return 0
end
if redis.call('SET', KEYS[2], claim, 'NX', 'PX', interval * 4) then
  return math.max(1, last + interval - now)
end
return -1
