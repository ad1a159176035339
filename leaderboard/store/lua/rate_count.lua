-- KEYS: window counter. Returns the count so far (without a hit) and the TTL.
return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('TTL', KEYS[1])}
