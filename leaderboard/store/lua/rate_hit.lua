-- A fixed-window rate limit counted in Redis' clock, so hosts with skewed clocks share one window.
-- KEYS[1]: the limit's counter (hash: w = window start, n = hits in it); ARGV: window seconds, '1' to count a hit
-- Returns {hits in the current window (this one included), seconds until the window ends}.
local t = redis.call('TIME')
local now = tonumber(t[1])
local window = tonumber(ARGV[1])
local start = now - (now % window)
local n = 0
if tonumber(redis.call('HGET', KEYS[1], 'w') or '-1') == start then
  n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
end
if ARGV[2] == '1' then
  n = n + 1
  redis.call('HSET', KEYS[1], 'w', start, 'n', n)
  redis.call('EXPIREAT', KEYS[1], start + window)
end
return {n, start + window - now}
