-- Mirror one player's committed score into their league (store.leagues.league_add).
-- KEYS: league sorted set, its ready key; ARGV: member, score, ZADD flag ('GT', 'LT' or ''), expire-at
-- A cold league (no ready key) is left alone: its next read fills it from PostgreSQL, which has the score.
-- Returns 1 when written, 0 when the league is cold.
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
if ARGV[3] == '' then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2], ARGV[1])
end
redis.call('EXPIREAT', KEYS[1], ARGV[4])
return 1
