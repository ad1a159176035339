"""The default boards: pomodoro counters, total game score and high score."""

from django.conf import settings
from django.db import migrations

PERIODS = ["daily", "weekly", "monthly", "yearly", "all_time"]

DEFAULT_BOARDS = [
    {
        "slug": "pomodoro",
        "name": "Pomodoros",
        "description": "Completed pomodoros per user (seed 000's counters).",
        "operator": "increment",
        "min_value": 1,
        "max_value": 1_000,
    },
    {
        "slug": "score",
        "name": "Total score",
        "description": "Total game score: each submission adds its points.",
        "operator": "increment",
        "min_value": 1,
        "max_value": 1_000_000,
    },
    {
        "slug": "high-score",
        "name": "High score",
        "description": "Highest single score per user.",
        "operator": "best",
        "min_value": 0,
        "max_value": 1_000_000_000_000,
    },
]


def create_default_boards(apps, schema_editor):
    Board = apps.get_model("leaderboard", "Board")
    for spec in DEFAULT_BOARDS:
        Board.objects.get_or_create(
            slug=spec["slug"],
            defaults={**spec, "periods": PERIODS, "sort_order": "desc", "time_zone": settings.LEADERBOARD_TIME_ZONE},
        )


class Migration(migrations.Migration):
    dependencies = [("leaderboard", "0001_initial")]

    operations = [migrations.RunPython(create_default_boards, migrations.RunPython.noop)]
