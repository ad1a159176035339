"""The Celery beat schedules (see leaderboard/schedules.py for what and why)."""

from django.db import migrations


def create_schedules(apps, schema_editor):
    from leaderboard.schedules import schedules_ensure

    schedules_ensure(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("leaderboard", "0004_archives_runs_rate_limits"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, migrations.RunPython.noop)]
