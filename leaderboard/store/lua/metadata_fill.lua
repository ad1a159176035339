-- Entries' metadata read from PostgreSQL, kept where Redis has none yet (buckets.entry_metadata_fill).
-- KEYS: sorted set, entries' metadata; ARGV: expire-at, then per entry: member, score, metadata
-- Kept only if the member still holds that score and no submit wrote its metadata meanwhile
-- (HSETNX): a read that loaded an older row never overwrites a newer submit's metadata.
local filled = 0
for i = 2, #ARGV, 3 do
  local now = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if now and tonumber(now) == tonumber(ARGV[i + 1]) then
    filled = filled + redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 2])
  end
end
if filled > 0 then redis.call('EXPIREAT', KEYS[2], ARGV[1]) end
return filled
