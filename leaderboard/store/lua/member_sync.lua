-- One player's entries on one board, set to what PostgreSQL holds (moderation, erasure: buckets.member_sync).
-- KEYS[1]: user hash, KEYS[2]: the user's live-subscription counter, KEYS[3]: their fence,
-- KEYS[3i+1], KEYS[3i+2], KEYS[3i+3]: sorted set, ready key and entries' metadata of bucket i
-- ARGV: member, forget the live counter ('1'/'0'), ZADD flag ('' | 'GT' | 'LT'),
--       fence ('' or the last event id the moderation covers), fence ttl,
--       then per bucket: score ('' = remove the member), expire-at
local member, flag = ARGV[1], ARGV[3]
if ARGV[4] ~= '' and tonumber(ARGV[4]) > tonumber(redis.call('GET', KEYS[3]) or '0') then
  redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5])
end
redis.call('DEL', KEYS[1])
if ARGV[2] == '1' then redis.call('DEL', KEYS[2]) end
local removed = 0
for i = 1, (#KEYS - 3) / 3 do
  local z, ready = KEYS[3 * i + 1], KEYS[3 * i + 2]
  local score, expireat = ARGV[2 * i + 4], ARGV[2 * i + 5]
  -- What the entry carried may be gone with the events it came from: reads fill it from PostgreSQL.
  redis.call('HDEL', KEYS[3 * i + 3], member)
  if score == '' then
    removed = removed + redis.call('ZREM', z, member)
  elseif redis.call('EXISTS', ready) == 1 then
    if flag == '' then redis.call('ZADD', z, score, member) else redis.call('ZADD', z, flag, score, member) end
    redis.call('EXPIREAT', z, expireat)
  end
end
return removed
