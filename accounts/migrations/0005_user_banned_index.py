"""Reports and rebuilds read the banned players' ids; a partial index keeps that off a table scan."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_username_label"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="user",
            index=models.Index(
                condition=models.Q(("banned_at__isnull", False)), fields=["username"], name="user_banned"
            ),
        ),
    ]
