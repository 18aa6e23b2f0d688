"""Settings for Lifecycle CRM, read from the environment (see `.env.example`).

With nothing set the app runs on SQLite with Celery tasks executed eagerly in-process,
so `make run` works on a bare machine. `DATABASE_URL` and `CELERY_BROKER_URL` switch it
to PostgreSQL and Redis with real workers.
"""

import datetime as dt
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from lifecycle_crm.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = "insecure-development-key-only-for-debug"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "outbox",
    "stages",
    "contacts",
    "metrics",
    "campaigns",
    "loyalty",
    "analytics",
    "webhooks",
    "plays",
    "demo",
    "notifications",  # issue 21: the bell (above plays: it reads tasks, moves and imports)
    "axes",  # login throttling (issue 19): last, so its admin and lockout templates do not shadow ours
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The browser's language picks the number and date formats (lifecycle_crm.formats), among LANGUAGES.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # answers a locked-out login with the lockout page (429)
    # DJANGO_MAX_REQUEST_BYTES for the whole body, files included, checked before it is read (413).
    "lifecycle_crm.request_limits.RequestSizeLimitMiddleware",
    # Last, so it sees the views' exceptions first: a lost database connection answers 503 + Retry-After.
    "lifecycle_crm.db_unavailable.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "lifecycle_crm.urls"
WSGI_APPLICATION = "lifecycle_crm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.roles",
                "notifications.context_processors.bell",  # issue 21
            ],
        },
    },
]

# Database: SQLite file by default, PostgreSQL (or anything dj-database-url reads) from DATABASE_URL.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and not env_bool("DATABASE_JIT", False):
    # PostgreSQL's JIT compiles every statement whose estimated cost passes jit_above_cost.
    # Measured at 1M contacts (BENCHMARKS.md): up to 0.77 s of compilation in one report
    # statement (EXPLAIN ANALYZE), about 0.1 s more CPU per KPI statement end to end, and no
    # gain on the large reports. Off per connection; DATABASE_JIT=1 leaves the server's setting.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"]["options"] = (
        DATABASES["default"]["OPTIONS"].get("options", "") + " -c jit=off"
    ).strip()
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the dashboard read while an import or recompute writes; the busy timeout
    # makes a second writer wait instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # The covering indexes' INCLUDE columns are a PostgreSQL optimisation; SQLite ignores
    # them, which is fine, so its warning (printed by every migrate) is noise here.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache: per-process memory by default; Redis (shared by every worker, needed for
# throttling across gunicorn processes) when CACHE_URL is set.
CACHE_URL = env_str("CACHE_URL", "")
if CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Login throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one username from
# one address, that pair is locked out for the cool-off time (or until an admin deletes the
# attempts in admin → Axes, or runs `manage.py axes_reset_username NAME`). API keys are not
# passwords and do not go through here. The axes backend goes first so a locked-out login is
# refused before the password is even checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_ENABLED = env_bool("DJANGO_LOGIN_THROTTLE", True)
AXES_FAILURE_LIMIT = env_int("DJANGO_LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("DJANGO_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
# Locales whose number and date formats the product follows (Accept-Language); the default is LANGUAGE_CODE.
LANGUAGES = [("en-us", "English (US)"), ("en-gb", "English (UK)"), ("de", "Deutsch"), ("fr", "Français")]
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("DJANGO_STATIC_MANIFEST", not DEBUG)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
MEDIA_ROOT = BASE_DIR / "media"
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DJANGO_MAX_REQUEST_BYTES", 10 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# HTTPS hardening: on by default outside DEBUG so `check --deploy` is clean; a
# deployment behind a TLS-terminating proxy keeps it on and sets the proxy header.
_HTTPS = env_bool("DJANGO_HTTPS", not DEBUG)
SECURE_SSL_REDIRECT = _HTTPS
SESSION_COOKIE_SECURE = _HTTPS
CSRF_COOKIE_SECURE = _HTTPS
SECURE_HSTS_SECONDS = 31536000 if _HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = _HTTPS
SECURE_HSTS_PRELOAD = _HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("DJANGO_BEHIND_PROXY", False) else None
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^healthz/ready$"]
X_FRAME_OPTIONS = "DENY"

# Email: console in development; any SMTP server from the environment in production.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Lifecycle CRM <crm@localhost>")

# Celery: with no broker configured, tasks run eagerly in-process (the embedded default).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", CELERY_BROKER_URL or None)
CELERY_TASK_ACKS_LATE = True  # a killed worker's task is redelivered, never lost
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("CELERY_BROKER_CONNECTION_TIMEOUT", 2.0)
# A message a worker took but never acknowledged (the worker was killed) goes back to the queue
# after the visibility timeout. Redis' default is an hour, which held a killed nightly chunk back
# that long; it must stay above the longest time limit of an acks_late task
# (CRM_TASK_TIME_LIMIT_MAX, checked by a test) or a running task would be handed out twice.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 900)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # How often a worker looks for such messages (kombu's default sweep is every 100 s).
    "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL", 10),
    "unacked_restore_throttle": 1,
    # A dead or unreachable Redis answers with an error in seconds instead of a hang.
    "socket_connect_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
    "socket_timeout": 10,
}
# The result backend is only read by the nightly chord (worker side); nothing in a request
# waits for a result. Short timeouts and one retry keep a Redis outage from stalling anything
# that does touch it (each write used to retry the backend for ~20 s).
CELERY_TASK_IGNORE_RESULT = False  # the nightly chord needs its chunks' results
CELERY_RESULT_EXPIRES = env_int("CELERY_RESULT_EXPIRES", 6 * 3600)
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = CELERY_BROKER_CONNECTION_TIMEOUT
CELERY_REDIS_SOCKET_TIMEOUT = 10
CELERY_REDIS_RETRY_ON_TIMEOUT = False
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"retry_policy": {"timeout": 5.0, "max_retries": 1}}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True  # a worker started before Redis waits for it
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
# The longest time limit an acks_late task may declare (below the visibility timeout).
CRM_TASK_TIME_LIMIT_MAX = min(840, CELERY_VISIBILITY_TIMEOUT - 60)
# Outbox (outbox app): writes store their tasks as rows; a relay publishes them after commit and
# from beat. Retry backoff per row (capped, so delivery resumes within seconds of Redis' return),
# the relay's claim lease, how long a failed after-commit publish pauses further ones in a web
# process, and how long published rows are kept.
OUTBOX_RELAY_INTERVAL_SECONDS = env_float("OUTBOX_RELAY_INTERVAL_SECONDS", 2.0)
OUTBOX_RETRY_BASE_SECONDS = env_float("OUTBOX_RETRY_BASE_SECONDS", 1.0)
OUTBOX_RETRY_MAX_SECONDS = env_float("OUTBOX_RETRY_MAX_SECONDS", 10.0)
OUTBOX_CLAIM_LEASE_SECONDS = env_float("OUTBOX_CLAIM_LEASE_SECONDS", 60.0)
OUTBOX_KICK_PAUSE_SECONDS = env_float("OUTBOX_KICK_PAUSE_SECONDS", 5.0)
OUTBOX_KEEP_PUBLISHED_HOURS = env_float("OUTBOX_KEEP_PUBLISHED_HOURS", 24.0)
OUTBOX_READY_MAX_LAG_SECONDS = env_float("OUTBOX_READY_MAX_LAG_SECONDS", 60.0)
CRM_NIGHTLY_HOUR = env_int("CRM_NIGHTLY_HOUR", 2)
CRM_NIGHTLY_MINUTE = env_int("CRM_NIGHTLY_MINUTE", 15)
CELERY_BEAT_SCHEDULE = {
    "outbox-relay": {
        "task": "outbox.tasks.outbox_relay_task",
        "schedule": OUTBOX_RELAY_INTERVAL_SECONDS,
        # A relay that waited longer than this in the queue is superseded by a newer one.
        "options": {"expires": max(10.0, OUTBOX_RELAY_INTERVAL_SECONDS * 5)},
    },
    "outbox-prune": {"task": "outbox.tasks.outbox_prune_task", "schedule": 3600},
    # The whole nightly work, one Celery chain with one as-of day: chunks -> finish -> customer value -> results.
    "nightly-lifecycle-recompute": {
        "task": "stages.tasks.nightly_recompute_task",
        "schedule": crontab(hour=CRM_NIGHTLY_HOUR, minute=CRM_NIGHTLY_MINUTE),
    },
    # Loyalty before the lifecycle recompute, so stage rules read tonight's tiers and referrals.
    "loyalty-nightly": {
        "task": "loyalty.tasks.loyalty_nightly_task",
        "schedule": crontab(hour=env_int("LOYALTY_NIGHTLY_HOUR", 2), minute=env_int("LOYALTY_NIGHTLY_MINUTE", 0)),
    },
    "plays-scan": {
        "task": "plays.tasks.scan_plays_task",
        "schedule": env_int("PLAYS_SCAN_INTERVAL_SECONDS", 300),
    },
    "webhooks-requeue-stale": {
        "task": "webhooks.tasks.webhook_requeue_stale_task",
        "schedule": 600,
    },
    # Folds the deltas the write triggers append into the overview's rollups (readers sum both,
    # so this only keeps the deltas few).
    # issue 21: tell reps in the morning about the tasks due today (bell, and email if they opted in).
    "notifications-due-tasks": {
        "task": "notifications.tasks.notify_due_tasks_task",
        "schedule": crontab(hour=env_int("CRM_TASKS_DUE_HOUR", 7), minute=0),
    },
    "daily-facts-compact": {
        "task": "analytics.tasks.daily_facts_compact_task",
        "schedule": env_int("CRM_DAILY_FACTS_COMPACT_SECONDS", 120),
    },
}

# Domain settings.
CRM_CURRENCY = env_str("CRM_CURRENCY", "USD")
CRM_MARGIN = env_float("CRM_MARGIN", 1.0)  # share of revenue that is margin, for historic CLV
# Dashboard preset periods whose charts the nightly report snapshots store (analytics.services).
CRM_REPORT_SNAPSHOT_PERIODS = env_list("CRM_REPORT_SNAPSHOT_PERIODS", ["7d", "30d", "90d", "365d"])
CRM_LIFECYCLE_CHUNK_SIZE = env_int("CRM_LIFECYCLE_CHUNK_SIZE", 20000)  # contacts per engine chunk (transaction/task)
# Customer value: prediction horizon, discounting, the smallest sample a CLV fit is trusted on,
# the probability-alive threshold that counts as "at risk" in filters, and the silence that
# counts as churn in the churn report.
CRM_CLV_HORIZON_MONTHS = env_int("CRM_CLV_HORIZON_MONTHS", 12)
CRM_CLV_ANNUAL_DISCOUNT_RATE = env_float("CRM_CLV_ANNUAL_DISCOUNT_RATE", 0.10)
CRM_CLV_MIN_CUSTOMERS = env_int("CRM_CLV_MIN_CUSTOMERS", 100)
CRM_CLV_MIN_REPEAT_CUSTOMERS = env_int("CRM_CLV_MIN_REPEAT_CUSTOMERS", 30)
# The purchase model behind the scores: "auto" (best holdout error in the nightly backtest) or
# pinned to "bgnbd", "mbgnbd" or "pareto_nbd" (issue 18).
CRM_CLV_MODEL = env_str("CRM_CLV_MODEL", "auto")
CRM_AT_RISK_P_ALIVE = env_float("CRM_AT_RISK_P_ALIVE", 0.5)
CRM_CHURN_INACTIVE_DAYS = env_int("CRM_CHURN_INACTIVE_DAYS", 180)
# How long the overview dashboard keeps its computed figures (set CACHE_URL to share them across processes).
CRM_DASHBOARD_CACHE_SECONDS = env_int("CRM_DASHBOARD_CACHE_SECONDS", 300)
# How long each web process trusts an API key it has verified (accounts.selectors); 0 = every request.
API_KEY_CACHE_SECONDS = env_int("API_KEY_CACHE_SECONDS", 5)
# Plays: absolute base URL for links in emails (unsubscribe), the per-contact weekly email cap,
# and how old an event may be when it arrives and still trigger a play (older = an import of history).
CRM_BASE_URL = env_str("CRM_BASE_URL", "http://127.0.0.1:8000")
PLAYS_EMAIL_CAP_PER_WEEK = env_int("PLAYS_EMAIL_CAP_PER_WEEK", 3)
PLAYS_EVENT_MAX_AGE_HOURS = env_int("PLAYS_EVENT_MAX_AGE_HOURS", 48)
PLAYS_INITIAL_LOOKBACK_HOURS = env_int("PLAYS_INITIAL_LOOKBACK_HOURS", 24)

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.api.permissions.RolePermission",
    ],
    "DEFAULT_PARSER_CLASSES": ["lifecycle_crm.api.parsers.CappedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "EXCEPTION_HANDLER": "lifecycle_crm.api.exceptions.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["accounts.api.throttling.PrincipalRateThrottle"],
    # Requests per API key / per logged-in user, counted in the cache (set CACHE_URL to Redis
    # so every gunicorn worker shares the counters). An empty value switches a limit off.
    "DEFAULT_THROTTLE_RATES": {
        "key_read": env_str("API_THROTTLE_KEY_READ", "6000/min") or None,
        "key_write": env_str("API_THROTTLE_KEY_WRITE", "12000/min") or None,
        "user_read": env_str("API_THROTTLE_USER_READ", "1200/min") or None,
        "user_write": env_str("API_THROTTLE_USER_WRITE", "600/min") or None,
    },
}
API_MAX_REQUEST_BYTES = env_int("API_MAX_REQUEST_BYTES", 2 * 1024 * 1024)  # JSON body cap (413 above it)
# Webhooks: a kill switch for every delivery, whether loopback/private targets are allowed
# (never in production: it would let users make the server call its own network), retries.
WEBHOOKS_DELIVERY_ENABLED = env_bool("WEBHOOKS_DELIVERY_ENABLED", True)
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", False)
WEBHOOKS_MAX_ATTEMPTS = env_int("WEBHOOKS_MAX_ATTEMPTS", 6)
WEBHOOKS_RETRY_BASE_SECONDS = env_int("WEBHOOKS_RETRY_BASE_SECONDS", 30)
WEBHOOKS_DISABLE_AFTER_FAILURES = env_int("WEBHOOKS_DISABLE_AFTER_FAILURES", 5)
WEBHOOKS_TIMEOUT_SECONDS = env_float("WEBHOOKS_TIMEOUT_SECONDS", 10.0)
SPECTACULAR_SETTINGS = {
    "TITLE": "Lifecycle CRM API",
    "DESCRIPTION": "Contacts, touchpoints, lifecycle stages, campaigns, segments and analytics.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,  # separate request/response shapes, so generated clients are exact
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "ChannelEnum": "contacts.models.Channel",
        "TouchpointSourceEnum": "contacts.models.TouchpointSource",
        "TransitionSourceEnum": "stages.models.TransitionSource",
        "KindEnum": "contacts.models.TouchpointKind",  # kept its name when loyalty added a second "kind"
        "PointsEntryKindEnum": "loyalty.models.EntryKind",
    },
    # Webhook bodies as components and `x-webhooks` (OpenAPI 3.0 has no `webhooks` section).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "webhooks.api.payloads.webhook_payload_components",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # In-process (eager) mode every task would log "succeeded" into the runserver output.
        "celery.app.trace": {"level": "INFO" if CELERY_BROKER_URL else "WARNING"},
    },
}
