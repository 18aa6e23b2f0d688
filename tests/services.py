"""Helpers for tests that need a real service (PostgreSQL, Redis, Chromium): skip with a reason when absent."""

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
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


# Decided at collection, before the database fixture: on SQLite the serialized-rollback
# set-up of a transactional test would fail before the test could skip itself.
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason=f"needs PostgreSQL: set DATABASE_URL=postgres://… to run it ({OTHER_BACKEND_SKIP})",
)

REPO = Path(__file__).resolve().parent.parent
WORKER_BOOT_SECONDS = 90  # a loaded 2-core CI machine can take a while to import Django and Celery


def _test_database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] or ""
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextmanager
def real_celery_worker(*, name: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """Run a real `celery worker` subprocess on Redis against this test's PostgreSQL database.

    Skips (with a reason) without PostgreSQL or Redis. The worker uses the production
    settings module (tasks not eager) and the broker this process's Celery app is
    configured with, so `app.control` and `.delay()` here reach it; the app is switched out
    of eager mode for the duration and restored afterwards. Yields once the worker answers
    a ping; the caller waits for the effect it expects with its own bounded loop.
    """
    require_postgres()
    broker = redis_url()  # the configured broker: switching an app to another one leaves its control channel behind
    from lifecycle_crm.celery import app

    saved = {key: app.conf[key] for key in ("broker_url", "result_backend", "task_always_eager")}
    app.conf.update(broker_url=broker, result_backend=broker, task_always_eager=False)
    app._pool = None  # the producer pool was built for the previous broker settings
    app.amqp._producer_pool = None
    worker_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "lifecycle_crm.settings",
        "DJANGO_SECRET_KEY": "test-worker-only",
        "DJANGO_HTTPS": "0",
        "DATABASE_URL": _test_database_url(),
        "CELERY_BROKER_URL": broker,
        "CELERY_RESULT_BACKEND": broker,
        **(env or {}),
    }
    celery = Path(sys.executable).with_name("celery")
    worker = subprocess.Popen(
        [
            *(str(celery), "-A", "lifecycle_crm", "worker", "--pool=solo", "--loglevel=WARNING"),
            *("-n", f"{name}-{os.getpid()}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"),
        ],
        cwd=REPO,
        env=worker_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        app.control.purge()
        deadline = time.monotonic() + WORKER_BOOT_SECONDS
        while not app.control.ping(timeout=0.5):
            if worker.poll() is not None or time.monotonic() > deadline:
                output = worker.stdout.read().decode(errors="replace")[-2000:] if worker.poll() is not None else ""
                pytest.fail(f"the Celery worker did not start within {WORKER_BOOT_SECONDS} s: {output}")
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        app.conf.update(**saved)
        app._pool = None
        app.amqp._producer_pool = None
        connection.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for a server a test starts itself)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def celery_broker(url: str) -> Iterator[None]:
    """Point this process's Celery app at `url` with tasks not eager (publishing for real), then restore it.

    For tests of the publishing path: an unreachable URL (`redis://127.0.0.1:1/0`) is a broker
    that is down; the producer pool is rebuilt for the new URL and again afterwards.
    """
    from lifecycle_crm.celery import app
    from outbox.services import outbox_kick_resume

    # broker_write_url: Celery prefers $CELERY_BROKER_URL over conf.broker_url, but not over this.
    saved = {key: app.conf.get(key) for key in ("broker_write_url", "result_backend", "task_always_eager")}
    app.conf.update(broker_write_url=url, result_backend=url, task_always_eager=False)
    app._pool = None
    app.amqp._producer_pool = None
    outbox_kick_resume()
    try:
        yield
    finally:
        app.conf.update(**saved)
        app._pool = None
        app.amqp._producer_pool = None
        outbox_kick_resume()
