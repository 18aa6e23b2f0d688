"""Retries with exponential backoff by a real Celery worker over Redis (PostgreSQL pass)."""

import time

import pytest
from django.test import override_settings

from outbox.services import outbox_relay
from tests.factories import ContactFactory
from tests.services import postgres_only, real_celery_worker
from webhooks.models import DeliveryStatus, WebhookDelivery
from webhooks.services import webhook_event_publish, webhook_subscription_create


@pytest.mark.celery_worker
@postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_real_worker_retries_with_backoff_until_the_receiver_answers(receiver):
    worker_env = {
        "WEBHOOKS_ALLOW_PRIVATE_TARGETS": "1",  # the receiver is this test's, on 127.0.0.1
        "WEBHOOKS_RETRY_BASE_SECONDS": "1",
        "WEBHOOKS_MAX_ATTEMPTS": "4",
    }
    with real_celery_worker(name="webhooks-test", env=worker_env) as worker:
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
            outbox_relay()  # this test plays beat: the retries wait in the outbox until they are due
            time.sleep(0.2)
        assert worker.poll() is None, worker.stdout.read().decode(errors="replace")[-2000:]
        assert delivery.status == DeliveryStatus.SUCCEEDED, delivery.attempt_log
        assert [a["status"] for a in delivery.attempt_log] == [500, 502, 200]
        arrivals = [float(r.headers["X-CRM-Timestamp"]) for r in receiver.requests]
        # Backoff 1 s then 2 s (timestamps are whole seconds, hence the slack).
        assert arrivals[1] - arrivals[0] >= 1 and arrivals[2] - arrivals[1] >= 1
        assert arrivals[2] - arrivals[0] >= 2
