--! ranking
--! entry_metadata
-- A page of a bucket in rank order (buckets.top_range).
-- KEYS: sorted set, ready key (, entries' metadata); ARGV: offset, limit, higher_is_better
-- Returns {0} when cold, else {1, total, better than the first entry, flat member/score list,
-- metadata of each entry (empty without KEYS[3])}.
if redis.call('EXISTS', KEYS[2]) == 0 then return {0} end
local z, offset, limit, hib = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'
local total = redis.call('ZCARD', z)
local items = {}
if limit > 0 then items = rank_range(z, offset, offset + limit - 1, hib) end
local better = 0
if #items > 0 then better = rank_better(z, items[2], hib) end
return {1, total, better, items, entry_metadata(KEYS[3], items, 2)}
