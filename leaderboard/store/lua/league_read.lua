--! ranking
-- A whole league in rank order (store.leagues.league_read).
-- KEYS: league sorted set, its ready key; ARGV: higher_is_better
-- Returns {0} when cold, else {1, flat member/score list}.
if redis.call('EXISTS', KEYS[2]) == 0 then return {0} end
return {1, rank_range(KEYS[1], 0, -1, ARGV[1] == '1')}
