-- KEYS: window counter; ARGV: window seconds. Returns the count including this hit and the TTL.
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('TTL', KEYS[1])}
