--! ranking
--! entry_metadata
-- The window around a member (buckets.around_range).
-- KEYS: sorted set, ready key (, entries' metadata); ARGV: member, entries above and below, higher_is_better
-- Returns {0} when cold, {1, total, -1, 0, {}} when the member is unranked,
-- else {1, total, window start, better than its first entry, flat member/score list, metadata}.
if redis.call('EXISTS', KEYS[2]) == 0 then return {0} end
local z, member, n, hib = KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'
local total = redis.call('ZCARD', z)
local pos = rank_position(z, member, hib)
if not pos then return {1, total, -1, 0, {}} end
local start, stop = rank_window(pos, n, total)
local items = rank_range(z, start, stop, hib)
local better = 0
if #items > 0 then better = rank_better(z, items[2], hib) end
return {1, total, start, better, items, entry_metadata(KEYS[3], items, 2)}
