-- Replace a league's sorted set with what PostgreSQL holds and mark it ready, atomically
-- (store.leagues.league_fill; a league holds at most 1,000 players, so one script carries them all).
-- KEYS: league sorted set, its ready key; ARGV: expire-at, then score, member pairs
redis.call('DEL', KEYS[1])
for i = 2, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
end
if #ARGV > 1 then redis.call('EXPIREAT', KEYS[1], ARGV[1]) end
redis.call('SET', KEYS[2], '1')
redis.call('EXPIREAT', KEYS[2], ARGV[1])
return 1
