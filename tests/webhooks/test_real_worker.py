"""Retries with exponential backoff by a real Celery worker over Redis (PostgreSQL pass)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.test import override_settings

from tests.factories import ContactFactory
from tests.services import redis_url, require_postgres
from webhooks.models import DeliveryStatus, WebhookDelivery
from webhooks.services import webhook_event_publish, webhook_subscription_create

REPO = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] or ""
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_real_worker_retries_with_backoff_until_the_receiver_answers(receiver):
    require_postgres()
    redis_url()  # skips when Redis is unreachable
    broker = os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/2"
    from lifecycle_crm.celery import app

    saved = {key: app.conf[key] for key in ("broker_url", "result_backend", "task_always_eager")}
    app.conf.update(broker_url=broker, result_backend=broker, task_always_eager=False)
    app._pool = None
    app.amqp._producer_pool = None
    env = {
        **os.environ,
        # The production settings module: tasks are not eager there, so retries really wait.
        "DJANGO_SETTINGS_MODULE": "lifecycle_crm.settings",
        "DJANGO_SECRET_KEY": "test-worker-only",
        "DJANGO_HTTPS": "0",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": broker,
        "CELERY_RESULT_BACKEND": broker,
        "WEBHOOKS_ALLOW_PRIVATE_TARGETS": "1",  # the receiver is this test's, on 127.0.0.1
        "WEBHOOKS_RETRY_BASE_SECONDS": "1",
        "WEBHOOKS_MAX_ATTEMPTS": "4",
    }
    celery = Path(sys.executable).with_name("celery")
    worker = subprocess.Popen(
        [
            *(str(celery), "-A", "lifecycle_crm", "worker", "--pool=solo", "--loglevel=WARNING"),
            *("-n", "webhooks-test@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        app.control.purge()
        receiver.statuses = [500, 502]
        with override_settings(WEBHOOKS_ALLOW_PRIVATE_TARGETS=True, WEBHOOKS_DELIVERY_ENABLED=True):
            webhook_subscription_create(name="s", url=receiver.url, events=["contact.created"])
            webhook_event_publish(event="contact.created", object_ids=[ContactFactory().pk])  # autocommit
        delivery = WebhookDelivery.objects.get()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and worker.poll() is None:
            delivery.refresh_from_db()
            if delivery.status == DeliveryStatus.SUCCEEDED:
                break
            time.sleep(0.2)
        assert worker.poll() is None, worker.stdout.read().decode(errors="replace")[-2000:]
        assert delivery.status == DeliveryStatus.SUCCEEDED, delivery.attempt_log
        assert [a["status"] for a in delivery.attempt_log] == [500, 502, 200]
        arrivals = [float(r.headers["X-CRM-Timestamp"]) for r in receiver.requests]
        # Backoff 1 s then 2 s (timestamps are whole seconds, hence the slack).
        assert arrivals[1] - arrivals[0] >= 1 and arrivals[2] - arrivals[1] >= 1
        assert arrivals[2] - arrivals[0] >= 2
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        app.conf.update(**saved)
        app._pool = None
        app.amqp._producer_pool = None
