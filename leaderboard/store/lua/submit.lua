--! ranking
-- A committed submit, mirrored into every warm bucket of a board atomically (buckets.apply_submit).
-- KEYS[1]: user hash, KEYS[2]: the user's live subscriptions, KEYS[3]: the member's moderation fence;
-- KEYS[3i+1], KEYS[3i+2], KEYS[3i+3]: sorted set, ready key, live subscribers of bucket i
-- ARGV: member, flag ('' | 'GT' | 'LT'), higher_is_better, user ttl, updated_at,
--       cached_at, event id, then per bucket: period, bucket id, score, expire-at
local member, flag, hib = ARGV[1], ARGV[2], ARGV[3] == '1'
local ukey = KEYS[1]
local out = {}
local n = (#KEYS - 3) / 3
local fence = redis.call('GET', KEYS[3])
if fence and tonumber(ARGV[7]) <= tonumber(fence) then
  -- A moderation removed this player after this submit committed: what it wrote is gone.
  for i = 1, n do out[i] = {-1, -1, 0} end
  return {out, 0}
end
for i = 1, n do
  local z, ready, subs = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3]
  local base = 7 + (i - 1) * 4
  local period, bucket, score, expireat = ARGV[base + 1], ARGV[base + 2], ARGV[base + 3], ARGV[base + 4]
  if redis.call('EXISTS', ready) == 1 then
    if flag == '' then
      redis.call('ZADD', z, score, member)
    else
      redis.call('ZADD', z, flag, score, member)
    end
    redis.call('EXPIREAT', z, expireat)
    local better = rank_better(z, redis.call('ZSCORE', z, member), hib)
    out[i] = {better + 1, redis.call('ZCARD', z), tonumber(redis.call('GET', subs) or '0')}
  else
    out[i] = {-1, -1, tonumber(redis.call('GET', subs) or '0')}
  end
  -- The user's cached details: never let a late, older write win.
  local old_bucket = redis.call('HGET', ukey, period .. ':b')
  local old = tonumber(redis.call('HGET', ukey, period) or '')
  local new = tonumber(score)
  if flag == '' or old_bucket ~= bucket or old == nil
     or (flag == 'GT' and new > old) or (flag == 'LT' and new < old) then
    redis.call('HSET', ukey, period, score, period .. ':b', bucket)
  end
end
redis.call('HSET', ukey, 'updated_at', ARGV[5], 'cached_at', ARGV[6])
redis.call('EXPIRE', ukey, ARGV[4])
return {out, tonumber(redis.call('GET', KEYS[2]) or '0')}
