from django.apps import AppConfig


class LeaderboardConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "leaderboard"
    verbose_name = "Leaderboards"

    def ready(self) -> None:
        # Wiring that needs every app loaded (Django's idiom: imports in ready()).
        from django.db.models.signals import post_delete, post_save

        # The live updates receive the engine's signals (their receivers connect on import),
        # and the tasks register with Celery so ``jobs`` can queue them by name.
        from . import broadcasts, invalidation, rendered, tasks  # noqa: F401
        from .models import Board
        from .services import board_cache_clear
        from .signals import standings_changed, submit_committed

        # A write in this process drops the board's rendered pages here at once (others: within the interval).
        submit_committed.connect(rendered.board_changed, dispatch_uid="rendered_submit")
        standings_changed.connect(rendered.board_changed, dispatch_uid="rendered_standings")
        post_save.connect(rendered.board_changed, sender=Board, dispatch_uid="rendered_board_saved")
        post_save.connect(board_cache_clear, sender=Board, dispatch_uid="board_cache_clear_save")
        post_delete.connect(board_cache_clear, sender=Board, dispatch_uid="board_cache_clear_delete")
        invalidation.connect()
