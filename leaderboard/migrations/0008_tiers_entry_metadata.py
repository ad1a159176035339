# Tiers and the metadata entries carry (issue: beyond the anchors). Every new column has a
# default or is nullable: adding them rewrites no row.

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("leaderboard", "0007_submission_caps"),
    ]

    operations = [
        migrations.AddField(
            model_name="board",
            name="tier_basis",
            field=models.CharField(
                blank=True,
                choices=[("score", "Score cutoffs"), ("percentile", "Percentile cutoffs (the top N %)")],
                default="",
                help_text="How entries reach a tier (empty: the board has no tiers).",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="board",
            name="tiers",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text='Tiers, best first: [{"name": "Gold", "cutoff": 1000}, ...]; the last may have a null '
                "cutoff (everyone else). Score cutoffs are reached by scores at least as good; percentile cutoffs "
                "by entries whose 100 * rank / total is at most the cutoff.",
            ),
        ),
        migrations.AddField(
            model_name="board",
            name="entry_metadata_max_bytes",
            field=models.PositiveIntegerField(
                default=0,
                help_text="Entries carry the metadata of the submit that set their score (best, set) or of the "
                "latest submit (increment), up to this many bytes of JSON; a submit with more is refused. 0: "
                "entries carry none.",
                validators=[django.core.validators.MaxValueValidator(4096)],
            ),
        ),
        migrations.AddField(
            model_name="standing",
            name="metadata",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
