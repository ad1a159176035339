"""Create any missing Celery beat schedule (migrate does it too); existing ones stay as operators set them."""

from django.core.management.base import BaseCommand

from leaderboard.schedules import SCHEDULES, schedules_ensure


class Command(BaseCommand):
    help = "Create the missing Celery beat schedules of the service."

    def handle(self, *args, **options) -> None:
        created = schedules_ensure()
        self.stdout.write(f"{created} created, {len(SCHEDULES) - created} already present")
