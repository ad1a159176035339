"""Test settings: the real PostgreSQL and Redis of the environment, faster hashing."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789")
os.environ.setdefault("SECURE_HTTPS", "false")
# Test threads open their own connections; a pool per process adds nothing here.
os.environ.setdefault("DATABASE_POOL", "false")
# Tasks run where they are queued: no broker is needed (a Redis Cluster store has none by default).
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")

from .settings import *  # noqa: F403
from .settings import DATABASES, INSTALLED_APPS

# The dev-only app's tests run too; the URLconf stays production's (devtools' tests name theirs).
INSTALLED_APPS = [*INSTALLED_APPS, "devtools"]

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DATABASES["default"]["CONN_MAX_AGE"] = 0
# The "replica" alias reads the test database itself, through connections of its own (a mirror:
# no second test database), so leaderboard/tests/test_replica.py can count each alias' queries.
# Reads use it only where a test configures a replica (DATABASE_REPLICA_URL): every other test
# reads as a deployment without one.
DATABASES.setdefault("replica", {**DATABASES["default"], "TEST": {"MIRROR": "default"}})
DATABASE_REPLICA_URL = ""
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
# Webhook tests deliver to a receiver on 127.0.0.1.
REWARDS_ALLOW_PRIVATE_WEBHOOKS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve static files straight from the apps, as in development.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
