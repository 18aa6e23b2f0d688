"""Fault: Redis dies while integrations write (finding 2 and 3), over a real gunicorn and a real worker.

Writes must answer as they do with Redis up (no 20 s stalls), every event must wait in the
outbox, and once Redis is back the worker (its beat runs the relay) must catch up: stages
evaluated and one webhook delivery per new touchpoint and contact.
"""

from __future__ import annotations

import pytest

from tests.factories import ContactFactory
from tests.faults.procs import PrivateRedis, Receiver, app_env, request, start_web, start_worker, wait_for
from tests.services import _test_database_url, postgres_only

pytestmark = [pytest.mark.faults, postgres_only, pytest.mark.django_db(transaction=True)]

CATCH_UP_SECONDS = 240  # generous: a busy machine, a worker reconnecting with backoff
WRITE_SECONDS = 5.0  # loose: with the old code each write took 19-21 s


def _purchase(contact_id: int, n: int) -> dict:
    return {"contact": contact_id, "kind": "purchase", "amount": "20.00", "external_id": f"fault-a-{n}"}


def test_writes_stay_fast_and_lose_nothing_while_the_broker_is_down():
    from accounts.services import api_key_create
    from contacts.models import Contact, Touchpoint
    from outbox.models import OutboxEvent
    from webhooks.models import WebhookDelivery, WebhookSubscription

    _, key = api_key_create(name="fault-a", role="integration")
    contacts = [ContactFactory() for _ in range(23)]
    receiver = Receiver()
    WebhookSubscription.objects.create(
        name="fault-a", url=receiver.url, events=["touchpoint.created", "contact.created"], secret="fault-a-secret"
    )
    redis = PrivateRedis()
    redis.start()
    env = app_env(database_url=_test_database_url(), broker_url=redis.url, OUTBOX_RELAY_INTERVAL_SECONDS="1")
    worker = start_worker(env, name="faults-a")
    web, base = start_web(env)
    try:
        # Broker up: three writes, and the worker (with its beat) handles them.
        up_times = []
        for n, contact in enumerate(contacts[:3]):
            status, body, seconds = request(
                f"{base}/api/v1/touchpoints/", method="POST", body=_purchase(contact.pk, n), key=key
            )
            assert status == 201, body
            up_times.append(seconds)
        wait_for(
            lambda: Contact.objects.filter(pk__in=[c.pk for c in contacts[:3]], stage__slug="purchase").count() == 3,
            timeout=CATCH_UP_SECONDS,
            what=f"the worker to evaluate the broker-up writes\n{worker.output()}",
        )

        redis.stop()
        down_times = []
        for n, contact in enumerate(contacts[3:], start=3):
            status, body, seconds = request(
                f"{base}/api/v1/touchpoints/", method="POST", body=_purchase(contact.pk, n), key=key
            )
            assert status == 201, body
            down_times.append(seconds)
        status, body, seconds = request(
            f"{base}/api/v1/contacts/", method="POST", body={"email": "fault-a-new@example.com"}, key=key
        )
        assert status == 201, body
        down_times.append(seconds)
        new_contact_id = body["id"]
        assert max(down_times) < WRITE_SECONDS, (up_times, down_times)
        assert request(f"{base}/healthz")[0] == 200  # liveness: the web tier keeps serving
        assert request(f"{base}/healthz/ready")[0] == 503  # readiness reports the broker

        # Nothing was lost: every write's follow-up waits in the outbox.
        pending = OutboxEvent.objects.filter(published_at__isnull=True)
        assert pending.filter(task="contacts.tasks.touchpoints_created_task").count() == 20
        assert pending.filter(task="webhooks.tasks.webhook_publish_task").count() >= 1  # contact.created

        redis.start()
        ids = [c.pk for c in contacts]
        wait_for(
            lambda: Contact.objects.filter(pk__in=ids, stage__slug="purchase").count() == len(ids),
            timeout=CATCH_UP_SECONDS,
            what=f"the worker to catch up the stages after Redis returned\n{worker.output()}",
        )

        def delivered_everything() -> bool:
            seen: set[int] = set()
            for payload in WebhookDelivery.objects.filter(event="touchpoint.created").values_list("payload", flat=True):
                seen.update(item["id"] for item in payload["data"]["touchpoints"])
            created = WebhookDelivery.objects.filter(event="contact.created").values_list("payload", flat=True)
            contact_ids = {item["id"] for payload in created for item in payload["data"]["contacts"]}
            return seen == set(Touchpoint.objects.values_list("pk", flat=True)) and new_contact_id in contact_ids

        try:
            wait_for(delivered_everything, timeout=CATCH_UP_SECONDS, what="a delivery for every event")
        except BaseException:
            subscriptions = list(WebhookSubscription.objects.values("is_active", "disabled_reason", "events"))
            deliveries = list(WebhookDelivery.objects.values("event", "status", "error", "attempts"))
            pytest.fail(f"{subscriptions}\n{deliveries}\n{worker.output()}")
        # Each event once: one delivery per touchpoint (each write stored one), none doubled.
        assert WebhookDelivery.objects.filter(event="touchpoint.created").count() == Touchpoint.objects.count() == 23
        wait_for(
            lambda: (
                not OutboxEvent.objects.filter(published_at__isnull=True)
                .exclude(task="webhooks.tasks.webhook_deliver_task")
                .exists()
            ),
            timeout=CATCH_UP_SECONDS,
            what="the outbox backlog to drain",
        )
    finally:
        web.stop()
        worker.stop()
        redis.stop()
        receiver.close()
