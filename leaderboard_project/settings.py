"""Settings, read from the environment (twelve-factor).

Production-safe by default: DEBUG is off, HTTPS hardening is on, a missing
SECRET_KEY is an error. Every variable is listed in the README's configuration
table. Secrets may also come from files: ``SECRET_KEY_FILE``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import environ
from django.core.exceptions import ImproperlyConfigured

from leaderboard_project.redis_urls import cluster_node

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def env_secret(name: str, default: str | None = None) -> str | None:
    """Read NAME, or the file named by NAME_FILE (Docker and Kubernetes secrets)."""
    file_path = env.str(f"{name}_FILE", default="")
    if file_path:
        try:
            return Path(file_path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_path!r} cannot be read: {exc}") from exc
    return env.str(name, default=default)


DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env_secret("SECRET_KEY") or ""
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set; the run command sets one for local use")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --------------------------------------------------------------------------- apps

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    # Swagger UI and ReDoc served as static files of the project: the docs work offline.
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_prometheus",
    "channels",
    # Hashing of service API keys (accounts.ServiceKey); its own APIKey model stays unused.
    "rest_framework_api_key",
    "accounts",
    "leaderboard",
    # The seeds' surfaces, adapters over the leaderboard core.
    "seeds",
    "reports",
    "rewards",
    "leagues",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "leaderboard_project.observability.RequestIdMiddleware",
    "leaderboard_project.errors.JsonErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "leaderboard_project.middleware.LazyMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "leaderboard_project.observability.MetricsAfterMiddleware",
]

ROOT_URLCONF = "leaderboard_project.urls"
WSGI_APPLICATION = "leaderboard_project.wsgi.application"
ASGI_APPLICATION = "leaderboard_project.asgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --------------------------------------------------------------------------- data stores

DATABASES = {"default": env.db_url("DATABASE_URL")}
DATABASES["default"].setdefault("OPTIONS", {})
# psycopg 3's pool, one per process; CONN_MAX_AGE must stay 0 with it. Every request then
# checks a connection out and back in (about a twentieth of a submit's CPU). The WSGI servers
# use it with DATABASE_POOL=true; the ASGI server always does (asgi.py says why).
DATABASE_POOL_OPTIONS = {
    "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
    "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=20),
    "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
}
if env.bool("DATABASE_POOL", default=False):
    DATABASES["default"]["OPTIONS"]["pool"] = dict(DATABASE_POOL_OPTIONS)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    # One persistent connection per server thread, renewed after CONN_MAX_AGE seconds and
    # closed after a request whose database errors left it unusable. Health checks cost a
    # round trip per request; like the pool (which checks nothing when it lends a
    # connection), the default relies on that renewal instead.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=False)
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5))
# The submit statement is prepared once per connection (it saves PostgreSQL its planning on
# every submit); nothing else is. "auto": on a connection to PostgreSQL itself, not through a
# pooler (each connection's first submit, run unprepared, tells them apart: no round trip);
# "true": on every connection (PgBouncer 1.21+ with max_prepared_statements keeps them per
# client); "false": never. Whatever the setting, a connection on which the server refuses a
# prepared statement (a transaction pooler: "does not exist", "already exists") stops preparing
# and the refused submit runs once more.
DATABASE_PREPARED_STATEMENTS = env.str("DATABASE_PREPARED_STATEMENTS", default="auto").strip().lower()
if DATABASE_PREPARED_STATEMENTS != "auto":  # a boolean otherwise, read as every other one: "true" or "false"
    DATABASE_PREPARED_STATEMENTS = str(env.bool("DATABASE_PREPARED_STATEMENTS")).lower()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# An optional read replica (the "replica" alias), with the primary's connection settings. Only
# reads that may lag use it, each chosen at its read site (leaderboard/replica.py: the fallback
# reads of a GET request and the reports); warming, repairs and writes always use the primary.
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="")
if DATABASE_REPLICA_URL:
    _replica = env.db_url_config(DATABASE_REPLICA_URL)
    DATABASES["replica"] = {
        **DATABASES["default"],
        **_replica,
        "OPTIONS": {**DATABASES["default"]["OPTIONS"], **_replica.get("OPTIONS", {})},
        # Tests read the test database through it: no second one is created.
        "TEST": {"MIRROR": "default"},
    }
    DATABASE_ROUTERS = ["leaderboard.replica.PrimaryRouter"]

# The leaderboard store: one server (redis://, rediss://, unix://) or a Redis Cluster
# (redis+cluster://host:port, any node; or REDIS_CLUSTER=true with a redis:// URL).
REDIS_URL = env.str("REDIS_URL")
REDIS_CLUSTER = env.bool("REDIS_CLUSTER", default=False)
# Seconds before a Redis call gives up; reads then fall back to PostgreSQL.
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=1.0)


def _cluster_node(url: str) -> str | None:
    return cluster_node(url, cluster=REDIS_CLUSTER)


_STORE_CLUSTER_NODE = _cluster_node(REDIS_URL)

# Django's cache alias (nothing in the service uses it; third-party apps may). On a cluster
# it needs a server of its own (CACHE_URL); without one it is per-process memory.
CACHE_URL = env.str("CACHE_URL", default="" if _STORE_CLUSTER_NODE else REDIS_URL)
if _cluster_node(CACHE_URL):
    raise ImproperlyConfigured("CACHE_URL cannot be a Redis Cluster (django-redis needs one server).")
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": CACHE_URL,
        "KEY_PREFIX": "cache",
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": REDIS_SOCKET_TIMEOUT,
            "SOCKET_TIMEOUT": REDIS_SOCKET_TIMEOUT,
            # The cache alias may lose data; the leaderboard store never hides errors.
            "IGNORE_EXCEPTIONS": True,
        },
    }
    if CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

# Live updates' channel layer: pub/sub. A cluster delivers a message published on any node
# to subscribers on every node, so on a cluster any one node serves (the store URL's, by
# default); CHANNELS_REDIS_URL names another server.
CHANNELS_REDIS_URL = env.str("CHANNELS_REDIS_URL", default=_STORE_CLUSTER_NODE or REDIS_URL)
if _cluster_node(CHANNELS_REDIS_URL) and CHANNELS_REDIS_URL != _STORE_CLUSTER_NODE:
    raise ImproperlyConfigured("CHANNELS_REDIS_URL must name one server (any node of a cluster, as redis://).")
CHANNEL_LAYERS = {
    "default": {
        # Pub/sub: one published message per group fans out inside each ASGI process,
        # instead of one queued copy per subscriber (thousands of clients per board).
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [
                {"address": CHANNELS_REDIS_URL, "max_connections": env.int("CHANNELS_MAX_CONNECTIONS", default=1000)}
            ],
            "prefix": env.str("CHANNELS_PREFIX", default="asgi"),
        },
    }
}

# --------------------------------------------------------------------------- Celery

# Kombu has no Redis Cluster transport: with a cluster store, the broker is another server.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="" if _STORE_CLUSTER_NODE else REDIS_URL)
if _cluster_node(CELERY_BROKER_URL) or (not CELERY_BROKER_URL and not CELERY_TASK_ALWAYS_EAGER):
    raise ImproperlyConfigured(
        "The Celery broker cannot be a Redis Cluster (kombu has no cluster transport): with REDIS_URL on a "
        "cluster, set CELERY_BROKER_URL to one Redis server (redis://...) or another broker (amqp://...)."
    )
# Results are read by nobody in production (tasks record what they did in PostgreSQL); a Redis
# broker keeps them too, anything else in process memory.
CELERY_RESULT_BACKEND = env.str(
    "CELERY_RESULT_BACKEND",
    default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else "cache+memory://",
)
if _cluster_node(CELERY_RESULT_BACKEND):
    raise ImproperlyConfigured("CELERY_RESULT_BACKEND cannot be a Redis Cluster; name one server.")
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# One beat sends per deployment, however many run (leaderboard/beat.py).
CELERY_BEAT_SCHEDULER = "leaderboard.beat:SingleBeatScheduler"
CELERY_TIMEZONE = "UTC"

# --------------------------------------------------------------------------- auth

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.CachedJWTAuthentication",
        # "Authorization: Api-Key <key>" from game servers; verified on every request, never cached.
        "accounts.service_keys.ServiceKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_PARSER_CLASSES": ["leaderboard_project.negotiation.FastJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "leaderboard_project.negotiation.FastContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "leaderboard_project.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Client IPs for rate limits: how many proxies in front append to X-Forwarded-For. 0 (the
    # default) trusts no header and uses the socket's address; DRF's own default (None) would take
    # the whole header, a client's free claim, as its identity.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "SIGNING_KEY": env_secret("JWT_SIGNING_KEY") or SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Leaderboard service API",
    "DESCRIPTION": (
        "Real-time leaderboards: PostgreSQL is the source of truth, Redis sorted sets the "
        "fast read path. Authenticate with `Authorization: Bearer <access token>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    # The viewers' assets come from drf-spectacular-sidecar (static files), never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    # validatorUrl None: no badge image from validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name for the periods wherever a field takes one (a board's periods, the submission cap's period).
    "ENUM_NAME_OVERRIDES": {"PeriodEnum": "leaderboard.periods.Period"},
}

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/(api|v1)/.*$"

# --------------------------------------------------------------------------- leaderboards

LEADERBOARD_TIME_ZONE = env.str("LEADERBOARD_TIME_ZONE", default="UTC")
try:
    ZoneInfo(LEADERBOARD_TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError) as exc:
    raise ImproperlyConfigured(f"LEADERBOARD_TIME_ZONE={LEADERBOARD_TIME_ZONE!r} is not a time zone") from exc
# Every leaderboard key in Redis starts with this; tests give each test its own.
LEADERBOARD_REDIS_PREFIX = env.str("LEADERBOARD_REDIS_PREFIX", default="lb")
# Where the live page opens its WebSocket: a full base URL (wss://example.com),
# or only a port on the page's own host; empty means the page's own origin.
LIVE_WEBSOCKET_URL = env.str("LIVE_WEBSOCKET_URL", default="")
LIVE_WEBSOCKET_PORT = env.str("LIVE_WEBSOCKET_PORT", default="")

# --------------------------------------------------------------------------- i18n, static

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / ".data" / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=256 * 1024)

# --------------------------------------------------------------------------- security

SECURE_HTTPS = env.bool("SECURE_HTTPS", default=True)
SECURE_SSL_REDIRECT = SECURE_HTTPS
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if SECURE_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HTTPS
SECURE_HSTS_PRELOAD = SECURE_HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    # Only behind a proxy that sets X-Forwarded-Proto itself.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --------------------------------------------------------------------------- logging

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_JSON = env.bool("LOG_JSON", default=False)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "leaderboard_project.observability.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "leaderboard_project.observability.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_JSON else "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
    },
}

# /metrics (Prometheus). With METRICS_TOKEN set, scrapers must send "Authorization: Bearer <token>".
METRICS_TOKEN = env_secret("METRICS_TOKEN") or ""
# /readyz answers 503 when the Celery worker or beat heartbeat is stale, not only PostgreSQL/Redis.
READYZ_REQUIRE_WORKERS = env.bool("READYZ_REQUIRE_WORKERS", default=False)

# Days a finished bucket's Redis keys are kept after its period ends.
LEADERBOARD_BUCKET_GRACE_DAYS = env.int("LEADERBOARD_BUCKET_GRACE_DAYS", default=3)
# Buckets up to this many rows are warmed inside the request that found them cold.
LEADERBOARD_INLINE_WARM_MAX = env.int("LEADERBOARD_INLINE_WARM_MAX", default=50_000)
# Warming re-applies rows changed this many seconds before it started.
LEADERBOARD_WARM_CATCHUP_SECONDS = env.int("LEADERBOARD_WARM_CATCHUP_SECONDS", default=30)
# Finalised buckets keep this many top entries in their archive.
LEADERBOARD_ARCHIVE_TOP_N = env.int("LEADERBOARD_ARCHIVE_TOP_N", default=100)
# Rows per batch when the reconciliation compares Redis with PostgreSQL.
LEADERBOARD_RECONCILE_BATCH = env.int("LEADERBOARD_RECONCILE_BATCH", default=5_000)
# Live updates: how many entries subscribers see, and the shortest gap between broadcasts to one group
# (at most 10 a second). Under a write storm a change waits up to this long for the next broadcast, so
# it is most of the delivery delay: benchmark_ws --interval-ms shows the trade-off (1,000 sockets on
# 2 cores, 200 submits/s: 100 ms gave p50 85-86 ms and p99 223-244 ms, 200 ms p50 139-141 ms and p99
# 265-273 ms; 75 ms saturated the fan-out, p99 512 ms).
LEADERBOARD_LIVE_TOP_N = env.int("LEADERBOARD_LIVE_TOP_N", default=10)
LEADERBOARD_LIVE_MIN_INTERVAL_MS = env.int("LEADERBOARD_LIVE_MIN_INTERVAL_MS", default=100)

# Rewards: webhooks when a bucket is finalised (rewards app). Private and loopback targets are
# refused (SSRF) unless allowed; a delivery is tried this many times per run, waiting 30 s, 1 min,
# 2 min... (at most 1 h) between attempts, each with this timeout; payloads carry this many top entries.
REWARDS_ALLOW_PRIVATE_WEBHOOKS = env.bool("REWARDS_ALLOW_PRIVATE_WEBHOOKS", default=False)
REWARDS_WEBHOOK_MAX_ATTEMPTS = env.int("REWARDS_WEBHOOK_MAX_ATTEMPTS", default=8)
REWARDS_WEBHOOK_BACKOFF_SECONDS = env.int("REWARDS_WEBHOOK_BACKOFF_SECONDS", default=30)
REWARDS_WEBHOOK_TIMEOUT_SECONDS = env.float("REWARDS_WEBHOOK_TIMEOUT_SECONDS", default=5.0)
REWARDS_WEBHOOK_TOP_N = env.int("REWARDS_WEBHOOK_TOP_N", default=100)

# Reports: the longest date range one report may cover.
REPORTS_MAX_RANGE_DAYS = env.int("REPORTS_MAX_RANGE_DAYS", default=366)

# Seconds a process trusts its copy of the buckets marked for repair (never served from Redis meanwhile).
LEADERBOARD_REPAIR_MARKS_SECONDS = env.float("LEADERBOARD_REPAIR_MARKS_SECONDS", default=1.0)
# Seconds a process reuses a board it loaded (saving a board clears it in that process).
# Rate-limit scopes that refuse (503) rather than allow when Redis cannot count them:
# "register", "login", "user" and "ip" (submits). See leaderboard/api/throttles.py.
LEADERBOARD_RATE_LIMITS_FAIL_CLOSED = env.list("LEADERBOARD_RATE_LIMITS_FAIL_CLOSED", default=["register"])
LEADERBOARD_BOARD_CACHE_SECONDS = env.float("LEADERBOARD_BOARD_CACHE_SECONDS", default=5.0)
# Top pages are rendered once and served as those bytes for this long in each process, and
# proxies may keep them as long (Cache-Control max-age, whole seconds; below 1, they revalidate
# with If-None-Match). A write in a process drops its pages at once. 0: render every request.
LEADERBOARD_READ_CACHE_SECONDS = env.float("LEADERBOARD_READ_CACHE_SECONDS", default=1.0)
# Seconds a process reuses the user behind a JWT (saving a user clears it in that process).
ACCOUNTS_USER_CACHE_SECONDS = env.float("ACCOUNTS_USER_CACHE_SECONDS", default=5.0)
# Default submit rate limits ("N/s", "N/min", "N/hour", "N/day"; empty: none); boards may override them.
LEADERBOARD_SUBMIT_RATE_USER = env.str("LEADERBOARD_SUBMIT_RATE_USER", default="120/min")
# Account endpoints: registrations per client IP, and failed logins per username and per client IP
# ("N/15min" style windows are allowed); past them 429 with Retry-After. Empty disables one.
ACCOUNTS_REGISTER_RATE_IP = env.str("ACCOUNTS_REGISTER_RATE_IP", default="30/hour")
ACCOUNTS_LOGIN_FAILURES_USER = env.str("ACCOUNTS_LOGIN_FAILURES_USER", default="10/15min")  # per username and IP
ACCOUNTS_LOGIN_FAILURES_IP = env.str("ACCOUNTS_LOGIN_FAILURES_IP", default="50/15min")
ACCOUNTS_LOGIN_FAILURES_USER_ANY_IP = env.str("ACCOUNTS_LOGIN_FAILURES_USER_ANY_IP", default="200/hour")
LEADERBOARD_SUBMIT_RATE_IP = env.str("LEADERBOARD_SUBMIT_RATE_IP", default="600/min")
