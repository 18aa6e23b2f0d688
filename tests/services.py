"""Helpers for tests that need a real service (PostgreSQL, Redis, Chromium): skip with a reason when absent."""

import os
import shutil
import socket
from urllib.parse import urlparse

import pytest
from django.db import connection

# Skips carrying this text are legitimate in CI's SQLite pass (the PostgreSQL pass runs them).
OTHER_BACKEND_SKIP = "runs in the PostgreSQL pass"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def redis_url() -> str:
    """The Redis URL to use (CELERY_BROKER_URL or the local default), skipping if Redis is unreachable."""
    url = os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/0"
    parsed = urlparse(url)
    if parsed.scheme not in ("redis", "rediss") or not _reachable(parsed.hostname or "127.0.0.1", parsed.port or 6379):
        pytest.skip(f"needs Redis at {url}: not reachable")
    return url


def require_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip(f"needs PostgreSQL: set DATABASE_URL=postgres://… to run it ({OTHER_BACKEND_SKIP})")


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("needs Chromium (Debian package 'chromium') for browser tests")
    return path
