"""When each pending delivery is due, and the beat schedule that queues again those whose task was lost."""

import django.utils.timezone
from django.db import migrations, models

SWEEP = "rewards: queue webhook deliveries whose task was lost"


def create_schedule(apps, schema_editor):
    # Like leaderboard/schedules.py: created once, an operator's later changes are kept.
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    interval = apps.get_model("django_celery_beat", "IntervalSchedule")
    if periodic_task.objects.filter(name=SWEEP).exists():
        return
    every_minute, _ = interval.objects.get_or_create(every=60, period="seconds")
    periodic_task.objects.create(
        name=SWEEP,
        task="rewards.tasks.sweep_deliveries",
        interval=every_minute,
        description="Pending webhook deliveries long past their next attempt lost their task (a broker outage, "
        "a lost retry message): queue them again. A delivery is never sent after it succeeded.",
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=SWEEP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("rewards", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookdelivery",
            name="next_attempt_at",
            field=models.DateTimeField(blank=True, default=django.utils.timezone.now, null=True),
        ),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(
                condition=models.Q(("status", "pending")), fields=["next_attempt_at"], name="webhookdelivery_due"
            ),
        ),
        migrations.RunPython(create_schedule, delete_schedule),
    ]
