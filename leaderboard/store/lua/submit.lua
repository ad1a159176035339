--! ranking
-- A committed submit, mirrored into every warm bucket of a board atomically (buckets.apply_submit).
-- KEYS[1]: user hash, KEYS[2]: the user's live subscriptions, KEYS[3]: the member's moderation fence;
-- then per bucket: sorted set, ready key, live subscribers (and its metadata hash when kept)
-- ARGV: member, flag ('' | 'GT' | 'LT'), higher_is_better, user ttl, updated_at,
--       cached_at, event id, metadata kept ('1' | '0'), then per bucket: period, bucket id, score,
--       expire-at (and the entry's metadata, compact JSON, when kept)
local member, flag, hib = ARGV[1], ARGV[2], ARGV[3] == '1'
local ukey = KEYS[1]
local out = {}
local md = ARGV[8] == '1'
local kstride, astride = 3, 4
if md then kstride, astride = 4, 5 end
local n = (#KEYS - 3) / kstride
local fence = redis.call('GET', KEYS[3])
if fence and tonumber(ARGV[7]) <= tonumber(fence) then
  -- A moderation removed this player after this submit committed: what it wrote is gone.
  for i = 1, n do out[i] = {-1, -1, 0} end
  return {out, 0}
end
for i = 1, n do
  local k = 3 + (i - 1) * kstride
  local z, ready, subs = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  local base = 8 + (i - 1) * astride
  local period, bucket, score, expireat = ARGV[base + 1], ARGV[base + 2], ARGV[base + 3], ARGV[base + 4]
  if redis.call('EXISTS', ready) == 1 then
    if flag == '' then
      redis.call('ZADD', z, score, member)
    else
      redis.call('ZADD', z, flag, score, member)
    end
    redis.call('EXPIREAT', z, expireat)
    local now = redis.call('ZSCORE', z, member)
    if md and tonumber(now) == tonumber(score) then
      -- The metadata goes with the score it came with: a late write whose score lost keeps none.
      redis.call('HSET', KEYS[k + 4], member, ARGV[base + 5])
      redis.call('EXPIREAT', KEYS[k + 4], expireat)
    end
    local better = rank_better(z, now, hib)
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
