"""Settings from the environment: strict about secrets and malformed values, clean under `check --deploy`.

Each case starts `manage.py` in a subprocess with a clean environment, because settings
are read once per process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_SECRET = "k3J9x!vQ2#mZ8wL5pR7tY1uN4bH6cF0dS-production-like-secret-key"


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DJANGO_SETTINGS_MODULE": "lifecycle_crm.settings"}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def test_settings_refuse_to_start_without_a_secret_key_when_debug_is_off():
    result = _manage("check", env={})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off" in result.stderr


def test_debug_mode_starts_without_a_secret_key():
    result = _manage("check", env={"DJANGO_DEBUG": "1"})
    assert result.returncode == 0, result.stderr


def test_a_malformed_boolean_stops_start_up_with_the_variable_named():
    result = _manage("check", env={"DJANGO_DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DJANGO_DEBUG must be a boolean" in result.stderr


def test_production_settings_pass_check_deploy_without_warnings(tmp_path):
    env = {
        "DJANGO_SECRET_KEY": PRODUCTION_SECRET,
        "DJANGO_ALLOWED_HOSTS": "crm.example.com",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://crm.example.com",
        "DJANGO_BEHIND_PROXY": "1",
        "DATABASE_URL": "postgres://crm:secret@db.internal:5432/crm",
        "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
    }
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize("value", ["", "short"])
def test_check_deploy_flags_a_weak_secret_key(value):
    env = {"DJANGO_SECRET_KEY": value or "x", "DJANGO_ALLOWED_HOSTS": "crm.example.com"}
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


@pytest.mark.django_db
def test_postgresql_connections_run_without_the_jit_compiler():
    """JIT compilation cost up to 0.77 s in a report statement at 1M contacts and made no query faster."""
    from django.db import connection

    from tests.services import require_postgres

    require_postgres()
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"


@pytest.mark.parametrize(("jit", "expected"), [("", "-c jit=off"), ("1", None)])
def test_database_jit_leaves_the_servers_setting_when_asked(jit, expected):
    env = {"DJANGO_DEBUG": "1", "DATABASE_URL": "postgres://crm@db.internal:5432/crm"}
    if jit:
        env["DATABASE_JIT"] = jit
    code = "from django.conf import settings; print(settings.DATABASES['default'].get('OPTIONS', {}).get('options'))"
    result = _manage("shell", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(expected)
