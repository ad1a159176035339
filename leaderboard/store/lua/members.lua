--! ranking
--! entry_metadata
-- Score and rank of each of several members (buckets.members_ranks).
-- KEYS: sorted set, ready key (, entries' metadata); ARGV: higher_is_better, members...
-- Returns {0} when cold, else {1, total, {{member, score, rank}, ...}} for the ranked ones,
-- and the metadata of each of those (empty without KEYS[3]).
if redis.call('EXISTS', KEYS[2]) == 0 then return {0} end
local z, hib = KEYS[1], ARGV[1] == '1'
local out = {}
for i = 2, #ARGV do
  local s = redis.call('ZSCORE', z, ARGV[i])
  if s then out[#out + 1] = {ARGV[i], s, rank_better(z, s, hib) + 1} end
end
local ranked = {}
for i = 1, #out do ranked[i] = out[i][1] end
return {1, redis.call('ZCARD', z), out, entry_metadata(KEYS[3], ranked, 1)}
