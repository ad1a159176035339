local function entry_metadata(key, items, step)
  -- The metadata (a hash: member -> JSON) of every step-th member of items: false where none is kept.
  -- key is nil when the board's entries carry none: nothing is read.
  if not key or #items == 0 then return {} end
  local members = {}
  for i = 1, #items, step do members[#members + 1] = items[i] end
  return redis.call('HMGET', key, unpack(members))
end
