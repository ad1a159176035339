-- Replace a user's cached details on a board (buckets.user_details_set).
-- KEYS: user hash; ARGV: ttl seconds, then field, value, field, value...
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
