from django.apps import AppConfig


class LeaguesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "leagues"
    verbose_name = "Leagues (cohorts of N per period)"

    def ready(self) -> None:
        # The leaderboard never imports leagues: it sends signals, which leagues listens to.
        from django.db.models.signals import post_delete, post_save

        from leaderboard.signals import player_erased, standings_changed, submit_committed

        from . import receivers
        from .models import LeagueSettings

        submit_committed.connect(receivers.submit_committed, dispatch_uid="leagues_submit_committed")
        standings_changed.connect(receivers.standings_changed, dispatch_uid="leagues_standings_changed")
        player_erased.connect(receivers.player_erased, dispatch_uid="leagues_player_erased")
        post_save.connect(receivers.settings_changed, sender=LeagueSettings, dispatch_uid="leagues_settings_saved")
        post_delete.connect(receivers.settings_changed, sender=LeagueSettings, dispatch_uid="leagues_settings_deleted")
