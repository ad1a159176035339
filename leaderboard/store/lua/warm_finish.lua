-- Replace a bucket with its warmed copy and mark it ready, atomically (buckets.warm_finish).
-- KEYS: warming set, sorted set, ready key, entries' metadata; ARGV: expire-at
-- The metadata hash is dropped: reads fill it again from PostgreSQL (buckets.entry_metadata_fill).
redis.call('DEL', KEYS[4])
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RENAME', KEYS[1], KEYS[2])
  redis.call('EXPIREAT', KEYS[2], ARGV[1])
else
  redis.call('DEL', KEYS[2])
end
redis.call('SET', KEYS[3], '1')
redis.call('EXPIREAT', KEYS[3], ARGV[1])
return 1
