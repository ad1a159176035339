--! ranking
-- A committed submit, mirrored into every warm bucket of a board atomically (buckets.apply_submit).
-- KEYS[1]: user hash, KEYS[2]: the user's live subscriptions, KEYS[3]: the member's moderation fence;
-- then per bucket: sorted set, ready key, live subscribers (and its metadata hash when kept)
-- ARGV: member, flag ('' | 'GT' | 'LT'), higher_is_better, user ttl, updated_at,
--       cached_at, event id, metadata kept ('1' | '0'), then per bucket: period, bucket id, score,
--       expire-at, expiry ('roll': set on every write | 'fixed': set when warmed, so only a write
--       that may create a key sets it), rank wanted ('1' | '0') (and the entry's metadata,
--       compact JSON, when kept)
-- Returns {per bucket {rank, total, live subscribers}, user watching}: rank -1 for a cold bucket,
-- 0 where nobody asked for it (not wanted, the period unwatched, the user not watching);
-- total -1 unless the user watches (their rank_update's percentile tiers need it).
-- Every redis.call costs about as much again in Lua as the command itself, so this script
-- makes as few as it can: one MGET, one HMGET and one HSET cover what used to be a GET, two
-- HGETs and an HSET per bucket.
local member, flag, hib = ARGV[1], ARGV[2], ARGV[3] == '1'
local ukey = KEYS[1]
local out = {}
local md = ARGV[8] == '1'
local kstride, astride = 3, 6
if md then kstride, astride = 4, 7 end
local n = (#KEYS - 3) / kstride
-- Strings in one read: live subscriptions, fence, then per bucket its ready key and subscribers.
local strings = {KEYS[2], KEYS[3]}
local fields = {}
for i = 1, n do
  local k = 3 + (i - 1) * kstride
  strings[2 * i + 1], strings[2 * i + 2] = KEYS[k + 2], KEYS[k + 3]
  local period = ARGV[8 + (i - 1) * astride + 1]
  fields[2 * i - 1], fields[2 * i] = period, period .. ':b'
end
local got = redis.call('MGET', unpack(strings))
local fence = got[2]
if fence and tonumber(ARGV[7]) <= tonumber(fence) then
  -- A moderation removed this player after this submit committed: what it wrote is gone.
  for i = 1, n do out[i] = {-1, -1, 0} end
  return {out, 0}
end
local watching = tonumber(got[1] or '0')
local cached = redis.call('HMGET', ukey, unpack(fields))
local user_set = {'updated_at', ARGV[5], 'cached_at', ARGV[6]}
for i = 1, n do
  local k = 3 + (i - 1) * kstride
  local z = KEYS[k + 1]
  local base = 8 + (i - 1) * astride
  local period, bucket, score = ARGV[base + 1], ARGV[base + 2], ARGV[base + 3]
  local subs = tonumber(got[2 * i + 2] or '0')
  if got[2 * i + 1] then
    local added
    if flag == '' then
      added = redis.call('ZADD', z, score, member)
    else
      added = redis.call('ZADD', z, flag, score, member)
    end
    -- A fixed expiry was set when the bucket warmed: only a new member may have created the key.
    if added == 1 or ARGV[base + 5] == 'roll' then redis.call('EXPIREAT', z, ARGV[base + 4]) end
    local wanted = ARGV[base + 6] == '1' or subs > 0 or watching > 0
    local now = score
    if flag ~= '' and added == 0 and (wanted or md) then
      -- The guard may have kept a better score than this write's.
      now = redis.call('ZSCORE', z, member)
    end
    if md and tonumber(now) == tonumber(score) then
      -- The metadata goes with the score it came with: a late write whose score lost keeps none.
      local mkey = KEYS[k + 4]
      if redis.call('HSET', mkey, member, ARGV[base + 7]) == 1 or ARGV[base + 5] == 'roll' then
        redis.call('EXPIREAT', mkey, ARGV[base + 4])
      end
    end
    local rank, total = 0, -1
    if wanted then rank = rank_better(z, now, hib) + 1 end
    if watching > 0 then total = redis.call('ZCARD', z) end
    out[i] = {rank, total, subs}
  else
    out[i] = {-1, -1, subs}
  end
  -- The user's cached details: never let a late, older write win.
  local old_bucket = cached[2 * i]
  local old = tonumber(cached[2 * i - 1] or '')
  local new = tonumber(score)
  if flag == '' or old_bucket ~= bucket or old == nil
     or (flag == 'GT' and new > old) or (flag == 'LT' and new < old) then
    user_set[#user_set + 1], user_set[#user_set + 2] = period, score
    user_set[#user_set + 1], user_set[#user_set + 2] = period .. ':b', bucket
  end
end
redis.call('HSET', ukey, unpack(user_set))
redis.call('EXPIRE', ukey, ARGV[4])
return {out, watching}
