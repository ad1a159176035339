"""TEMPORARY shim while callers move to ``leaderboard.store`` (removed before this change lands)."""

# ruff: noqa: F401
from .store import coordination as _coordination
from .store import keys as _keys
from .store import limits as _limits
from .store import live as _live
from .store.buckets import (
    BucketWrite,
    MemberScore,
    MembersResult,
    RangeResult,
    SubmitMirror,
    apply_submit,
    around_range,
    bucket_card,
    bucket_invalidate,
    bucket_is_ready,
    bucket_members,
    lock_acquire,
    lock_release,
    member_sync,
    members_ranks,
    members_remove,
    members_scores,
    scores_apply,
    top_range,
    warm_add,
    warm_begin,
    warm_finish,
)
from .store.connection import (
    RedisUnavailable,
    client,
    keys_count,
    keys_delete,
    memory_used,
    ping,
    reset_clients,
    server_info,
)

bucket_key = _keys.bucket
ready_key = _keys.ready
user_key = _keys.user
board_pattern = _keys.board_pattern
user_keys_pattern = _keys.board_users_pattern
all_keys_pattern = _keys.all_pattern
group_name = _keys.group
user_group_name = _keys.user_group
user_rate_pattern = _keys.user_rates_pattern
live_key = _keys.live
fence_key = _keys.fence
heartbeat_set = _coordination.heartbeat_set
heartbeat_age = _coordination.heartbeat_age
global_lock_acquire = _coordination.lock_acquire
global_lock_release = _coordination.lock_release
global_lock_held = _coordination.lock_held
repair_pending_add = _coordination.repair_pending_add
repair_pending_take = _coordination.repair_pending_take
repair_pending_done = _coordination.repair_pending_done
rate_hit = _limits.hit
rate_count = _limits.count
live_gate = _live.gate
live_release = _live.release
live_digest_swap = _live.digest_swap
live_watch = _live.watch
live_watch_user = _live.watch_user
