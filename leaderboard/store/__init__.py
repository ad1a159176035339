"""The Redis store: the only package that talks to Redis.

Modules, bottom up: ``keys`` (every key name), ``connection`` (the one client,
errors, the breaker, the one way scripts run), ``scripts`` (the Lua beside
them in ``lua/``), then what the service keeps there: ``buckets`` (sorted
sets, cached user details, board locks), ``live`` (the live updates'
throttle and watcher counts), ``limits`` (rate-limit windows) and
``coordination`` (service-wide locks, heartbeats, repair marks awaiting
PostgreSQL), and ``leagues`` (the leagues app's sorted sets, one per league).

Key layout (``P`` is ``settings.LEADERBOARD_REDIS_PREFIX``; the ``{b:<slug>}``
hash tag keeps every key of a board in one Redis Cluster slot, so one script
may touch them together)::

    P:{b:<slug>}:z:<period>:<bucket>        sorted set: member = user id, score = standing
    P:{b:<slug>}:ready:<period>:<bucket>    "the sorted set is complete" (set by warming)
    P:{b:<slug>}:md:<period>:<bucket>       hash: member -> the entry's metadata (compact JSON), on
                                            boards whose entries carry it; written by submits, filled
                                            from PostgreSQL by reads, dropped when the bucket warms
    P:{b:<slug>}:tmp:<period>:<bucket>:<t>  a sorted set being warmed (an hour at most)
    P:{b:<slug>}:u:<user id>                hash: the user's cached details on this board
                                            (<period> = score, <period>:b = its bucket,
                                            updated_at, cached_at; 7 days)
    P:{b:<slug>}:lock:<name>                single-flight locks of the board (warming, resets)
    P:{b:<slug>}:fence:<sha256(user id)>    last event id a moderation removed (an hour)
    P:{b:<slug>}:live:<period>:subscribers  WebSocket subscriptions to a period (a day)
    P:{b:<slug>}:live:user:<user id>        authenticated subscriptions of one user (a day)
    P:{b:<slug>}:live:<period>:last|pending|sending|digest   the live throttle of a period
    P:{b:<slug>}:lg:z:<period>:<bucket>:<level>:<number>      a league's sorted set (leagues app; as the bucket)
    P:{b:<slug>}:lg:ready:<period>:<bucket>:<level>:<number>  "the league's sorted set is complete"
    P:rate:<scope>:<ident>                  hash: a rate limit's window start (Redis' clock) and hits
    P:lock:<name>                           service-wide locks (reconciliation)
    P:heartbeat:<name>                      unix time a background component last reported
    P:repair-pending                        hash: buckets to mark for repair once PostgreSQL answers
    P:invalidate                            pub/sub channel: "board" / "user", drop the per-process caches

A sorted set without its ``ready`` key is cold: submits leave it alone (the
warm that follows reads PostgreSQL, which already has them) and reads fall
back to PostgreSQL. Bucket keys expire some days after their period ends.
Ranks follow ``leaderboard.ranking``. Errors are raised as
``connection.RedisUnavailable``, never swallowed.
"""
