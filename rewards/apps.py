from django.apps import AppConfig


class RewardsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "rewards"
    verbose_name = "Rewards (webhooks at period end)"

    def ready(self) -> None:
        # The leaderboard never imports rewards: it sends a signal, which rewards listens to.
        from leaderboard.signals import bucket_finalised

        from .receivers import deliveries_create

        bucket_finalised.connect(deliveries_create, dispatch_uid="rewards_deliveries_create")
