"""`/healthz` (liveness: the database) and `/healthz/ready` (database, broker and outbox backlog)."""

from __future__ import annotations

import pytest
from django.db import OperationalError

import lifecycle_crm.health as health
from tests.services import redis_url

pytestmark = pytest.mark.django_db

UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"


def test_healthz_is_ok_in_the_embedded_mode_without_a_broker(client, settings):
    settings.CELERY_BROKER_URL = ""
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    ready = client.get("/healthz/ready")
    assert ready.status_code == 200, ready.content
    assert "eager" in ready.json()["checks"]["broker"]["mode"]
    assert ready.json()["checks"]["outbox"]["pending"] == 0


def test_readiness_is_ok_with_a_reachable_redis_broker(client, settings):
    settings.CELERY_BROKER_URL = redis_url()
    response = client.get("/healthz/ready")
    assert response.status_code == 200, response.content
    assert response.json()["checks"]["broker"]["ok"] is True


def test_liveness_stays_200_when_the_broker_is_unreachable(client, settings):
    """Finding 2: with Redis down /healthz answered 503, which would take every web node out."""
    settings.CELERY_BROKER_URL = UNREACHABLE_BROKER
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["database"]["ok"] is True


def test_readiness_reports_an_unreachable_broker(client, settings):
    settings.CELERY_BROKER_URL = UNREACHABLE_BROKER
    response = client.get("/healthz/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["broker"]["error"]
    assert body["checks"]["database"]["ok"] is True


def test_readiness_reports_outbox_lag(client, settings):
    import datetime as dt

    from django.utils import timezone

    from outbox.models import OutboxEvent

    settings.CELERY_BROKER_URL = ""
    settings.OUTBOX_READY_MAX_LAG_SECONDS = 60
    old = timezone.now() - dt.timedelta(minutes=5)
    OutboxEvent.objects.create(task="stages.tasks.evaluate_contacts_task", payload={}, created_at=old)
    response = client.get("/healthz/ready")
    assert response.status_code == 503
    outbox = response.json()["checks"]["outbox"]
    assert outbox["ok"] is False
    assert outbox["pending"] == 1
    assert outbox["lag_seconds"] >= 300
    assert outbox["oldest_pending_at"]


def test_healthz_answers_503_when_the_database_is_down(client, settings, monkeypatch):
    settings.CELERY_BROKER_URL = ""

    class DownConnection:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr(health, "connection", DownConnection())
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == {"ok": False, "error": "connection refused"}


def test_healthz_needs_no_login_and_is_never_cached(client, settings):
    settings.CELERY_BROKER_URL = ""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]
    assert client.post("/healthz").status_code == 405
