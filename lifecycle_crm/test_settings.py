"""Settings for the test suite: the real settings with test-only defaults for what a developer would set.

Everything else (DATABASE_URL, CELERY_BROKER_URL…) still comes from the environment, so
the same suite runs on SQLite and on PostgreSQL with Redis.
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "insecure-test-only-key")
os.environ.setdefault("DJANGO_HTTPS", "0")
os.environ.setdefault("DJANGO_STATIC_MANIFEST", "0")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")

from lifecycle_crm.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# Tasks run in-process in tests even when CELERY_BROKER_URL points at Redis (CI), so a test
# sees the effect of what it enqueued; the real-worker tests switch this off for themselves.
CELERY_TASK_ALWAYS_EAGER = True
