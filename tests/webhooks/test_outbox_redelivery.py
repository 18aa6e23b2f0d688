"""Webhooks through the outbox: an event handed out twice delivers once; a retry waits in the outbox."""

from __future__ import annotations

import pytest
from django.test import override_settings

from contacts.touchpoint_services import touchpoint_create
from outbox.models import OutboxEvent
from outbox.services import outbox_relay
from tests.factories import ContactFactory
from webhooks.models import DeliveryStatus, WebhookDelivery
from webhooks.services import webhook_subscription_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_private_targets")]


@pytest.fixture
def _private_targets():
    with override_settings(WEBHOOKS_ALLOW_PRIVATE_TARGETS=True):
        yield


def test_every_event_published_twice_delivers_once(receiver, django_capture_on_commit_callbacks):
    webhook_subscription_create(name="shop", url=receiver.url, events=["touchpoint.created"])
    contact = ContactFactory()
    with django_capture_on_commit_callbacks(execute=True):
        touchpoint_create(data={"contact": contact.pk, "kind": "site_visit", "external_id": "v-1"}, source="api")
    assert WebhookDelivery.objects.count() == 1 and len(receiver.requests) == 1
    # Every event handed out again (a relay that died after publishing, a redelivered message).
    OutboxEvent.objects.update(published_at=None, claimed_until=None)
    with django_capture_on_commit_callbacks(execute=True):
        again = outbox_relay()
    assert again.published >= 3 and again.failed == 0  # fan-out, publish and deliver events, among others
    assert WebhookDelivery.objects.count() == 1
    assert len(receiver.requests) == 1


def test_a_failed_attempt_schedules_its_retry_in_the_outbox(receiver, settings):
    """With a worker (not eager) the next attempt is a delayed outbox row, not a countdown message."""
    from webhooks.tasks import webhook_deliver_task

    settings.WEBHOOKS_RETRY_BASE_SECONDS = 30
    subscription, _ = webhook_subscription_create(name="shop", url=receiver.url, events=["contact.created"])
    delivery = WebhookDelivery.objects.create(
        subscription=subscription, event="contact.created", payload={"type": "contact.created", "data": {}}
    )
    receiver.statuses.append(503)
    assert webhook_deliver_task(delivery.pk) == DeliveryStatus.RETRYING  # called as a worker would, not eagerly
    retry = OutboxEvent.objects.get(task="webhooks.tasks.webhook_deliver_task")
    assert retry.payload["args"] == [delivery.pk]
    assert (retry.available_at - retry.created_at).total_seconds() == pytest.approx(30, abs=1)
    assert retry.published_at is None
