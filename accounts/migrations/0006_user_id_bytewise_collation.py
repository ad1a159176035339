"""User ids compare byte by byte (collation "C"), as Redis compares sorted-set members.

Equal scores are listed by user id, and the PostgreSQL fallback must list them as Redis
does whatever collation the database was created with (``en_US.UTF-8`` on most managed
servers and on docker-compose's ``postgres:17``). The foreign keys that point at the
username (``leaderboard_standing.user_id``, ``leaderboard_scoreevent.user_id``) take the
collation of the column they point at: Django drops them, alters the three columns and
adds them back, and PostgreSQL rebuilds every index on those columns (``standing_rank``
among them) in this migration's transaction. That takes a while on a large database
(about 12 s for 800,000 standings and 200,000 users on a busy 2-core machine), and
the tables are locked meanwhile: plan it for a quiet moment. On a database created with "C"
the order does not change, but the indexes are rebuilt all the same.

The dependency on the leaderboard's migrations puts those tables in this migration's
state, so the foreign key columns are altered with the username however the plan is
ordered: without it the state may lack them, and only the username would change
(``sqlmigrate`` showed exactly that). The re-added foreign keys get Django's shorter
names (``..._fk``); nothing refers to them by name.
"""

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_user_banned_index"),
        ("leaderboard", "0006_moderation"),
    ]

    operations = [
        migrations.AlterField(
            model_name="user",
            name="username",
            field=models.CharField(
                db_collation="C",
                error_messages={"unique": "A user with that user id already exists."},
                help_text="Public, stable id used by the API and the leaderboards.",
                max_length=64,
                unique=True,
                validators=[
                    django.core.validators.RegexValidator(
                        message="Use 1-64 letters, digits or the characters _ . @ + - (no spaces).",
                        regex="^[A-Za-z0-9_.@+-]{1,64}\\Z",
                    )
                ],
                verbose_name="username",
            ),
        ),
    ]
