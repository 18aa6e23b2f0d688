"""`/healthz`: JSON status of the database and the Celery broker, 200 when both answer and 503 when one does not."""

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
    assert body["checks"]["broker"]["ok"] is True
    assert "eager" in body["checks"]["broker"]["mode"]


def test_healthz_is_ok_with_a_reachable_redis_broker(client, settings):
    settings.CELERY_BROKER_URL = redis_url()
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"]["broker"]["ok"] is True


def test_healthz_answers_503_when_the_broker_is_unreachable(client, settings):
    settings.CELERY_BROKER_URL = UNREACHABLE_BROKER
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["broker"]["error"]
    assert body["checks"]["database"]["ok"] is True


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
