"""Webhooks end to end against a real receiver on 127.0.0.1: signatures, retries, disabling, refusals, kill switch."""

import hashlib
import hmac
import time

import pytest
from django.test import override_settings

from contacts.touchpoint_services import touchpoint_bulk_create
from tests.api.conftest import client_for
from tests.factories import ContactFactory
from webhooks.delivery import webhook_backoff
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from webhooks.services import webhook_event_publish, webhook_subscription_create
from webhooks.targets import webhook_signature_verify

pytestmark = pytest.mark.django_db

LOCAL = override_settings(
    WEBHOOKS_ALLOW_PRIVATE_TARGETS=True,  # for these tests only: the receiver is on 127.0.0.1
    WEBHOOKS_DELIVERY_ENABLED=True,
    WEBHOOKS_MAX_ATTEMPTS=4,
    WEBHOOKS_DISABLE_AFTER_FAILURES=2,
    WEBHOOKS_TIMEOUT_SECONDS=5,
)


def verify_like_the_docs(secret: str, headers: dict, body: bytes) -> bool:
    """The verification snippet of docs/API.md, verbatim in spirit: HMAC-SHA256 over "<timestamp>.<body>"."""
    timestamp = headers["X-CRM-Timestamp"]
    expected = "v1=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["X-CRM-Signature"]) and abs(time.time() - int(timestamp)) < 300


@pytest.fixture
def admin_api(admin_user):
    return client_for(admin_user)


@LOCAL
def test_stage_change_is_delivered_signed_and_verifies(admin_api, receiver, django_capture_on_commit_callbacks):
    created = admin_api.post(
        "/api/v1/webhooks/",
        {"name": "shop", "url": receiver.url, "events": ["contact.stage_changed"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    secret = created.json()["secret"]
    assert "secret" not in admin_api.get(f"/api/v1/webhooks/{created.json()['id']}/").json()
    contact = ContactFactory(external_id="C-9")
    with django_capture_on_commit_callbacks(execute=True):
        moved = admin_api.post(
            f"/api/v1/contacts/{contact.pk}/move/", {"stage": "loyalty", "reason": "VIP deal"}, format="json"
        )
    assert moved.status_code == 201
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request.path == "/hooks/crm"
    assert request.headers["X-CRM-Event"] == "contact.stage_changed"
    assert verify_like_the_docs(secret, request.headers, request.body)
    assert webhook_signature_verify(
        secret=secret,
        timestamp=request.headers["X-CRM-Timestamp"],
        body=request.body,
        signature=request.headers["X-CRM-Signature"],
    )
    assert not verify_like_the_docs("whsec_wrong", request.headers, request.body)
    payload = request.json
    assert payload["type"] == "contact.stage_changed" and payload["id"] == request.headers["X-CRM-Delivery"]
    transition = payload["data"]["transitions"][0]
    assert transition["to_stage"] == "loyalty" and transition["from_stage"] == "awareness"
    assert transition["contact"]["external_id"] == "C-9" and transition["note"] == "VIP deal"
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.response_status == 200
    assert delivery.response_ms is not None and delivery.attempts == 1


@LOCAL
def test_failing_receiver_is_retried_until_it_answers(receiver, django_capture_on_commit_callbacks):
    receiver.statuses = [500, 503]
    subscription, secret = webhook_subscription_create(name="s", url=receiver.url, events=["contact.created"])
    contact = ContactFactory()
    with django_capture_on_commit_callbacks(execute=True):
        webhook_event_publish(event="contact.created", object_ids=[contact.pk])
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.attempts == 3
    assert [a["status"] for a in delivery.attempt_log] == [500, 503, 200]
    assert len(receiver.requests) == 3
    # The same event id every time, so the receiver can drop duplicates; each attempt signed afresh.
    assert len({r.headers["X-CRM-Delivery"] for r in receiver.requests}) == 1
    assert all(verify_like_the_docs(secret, r.headers, r.body) for r in receiver.requests)
    subscription.refresh_from_db()
    assert subscription.is_active and subscription.consecutive_failures == 0


def test_backoff_is_exponential():
    with override_settings(WEBHOOKS_RETRY_BASE_SECONDS=30):
        assert [webhook_backoff(attempt=n) for n in range(1, 6)] == [30, 60, 120, 240, 480]
        assert webhook_backoff(attempt=30) == 3600


@LOCAL
def test_subscription_is_disabled_after_repeated_failures_with_the_reason(
    admin_api, receiver, django_capture_on_commit_callbacks
):
    receiver.default_status = 500
    subscription, _ = webhook_subscription_create(name="s", url=receiver.url, events=["contact.created"])
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            admin_api.post(f"/api/v1/webhooks/{subscription.pk}/ping/")
    assert len(receiver.requests) == 2 * 4  # two deliveries, four attempts each
    subscription.refresh_from_db()
    assert not subscription.is_active
    shown = admin_api.get(f"/api/v1/webhooks/{subscription.pk}/").json()
    assert "2 failed deliveries in a row" in shown["disabled_reason"] and "HTTP 500" in shown["disabled_reason"]
    with django_capture_on_commit_callbacks(execute=True):
        admin_api.post(f"/api/v1/webhooks/{subscription.pk}/ping/")
    assert len(receiver.requests) == 8  # nothing sent to a disabled subscription
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.SKIPPED).count() == 1
    # Re-enabling clears the count and the reason.
    again = admin_api.patch(f"/api/v1/webhooks/{subscription.pk}/", {"is_active": True}, format="json").json()
    assert again["is_active"] and again["consecutive_failures"] == 0 and again["disabled_reason"] == ""
    log = admin_api.get(f"/api/v1/webhooks/{subscription.pk}/deliveries/").json()["results"]
    assert [d["status"] for d in log] == ["skipped", "failed", "failed"]


def test_private_and_loopback_targets_are_refused_by_default(admin_api, receiver):
    for url in (receiver.url, "http://10.1.2.3/hook", "http://[::1]:8120/x", "http://169.254.169.254/latest"):
        response = admin_api.post(
            "/api/v1/webhooks/", {"name": "x", "url": url, "events": ["contact.created"]}, format="json"
        )
        assert response.status_code == 400, url
        assert "url" in response.json()["errors"]
    for url in ("ftp://example.com/x", "http://user:pw@example.com/", "not a url"):
        response = admin_api.post(
            "/api/v1/webhooks/", {"name": "x", "url": url, "events": ["contact.created"]}, format="json"
        )
        assert response.status_code == 400, url
    assert receiver.requests == []


def test_a_target_that_became_private_is_refused_at_delivery(receiver, django_capture_on_commit_callbacks):
    with override_settings(WEBHOOKS_ALLOW_PRIVATE_TARGETS=True):
        subscription, _ = webhook_subscription_create(name="s", url=receiver.url, events=["contact.created"])
    off = override_settings(WEBHOOKS_ALLOW_PRIVATE_TARGETS=False, WEBHOOKS_DELIVERY_ENABLED=True)
    with off, django_capture_on_commit_callbacks(execute=True):
        webhook_event_publish(event="contact.created", object_ids=[ContactFactory().pk])
    delivery = WebhookDelivery.objects.get(subscription=subscription)
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 1  # not retried
    assert "Refused" in delivery.error
    assert receiver.requests == []


@LOCAL
def test_kill_switch_sends_nothing(admin_api, receiver, django_capture_on_commit_callbacks):
    subscription, _ = webhook_subscription_create(name="s", url=receiver.url, events=["touchpoint.created"])
    contact = ContactFactory()
    with override_settings(WEBHOOKS_DELIVERY_ENABLED=False), django_capture_on_commit_callbacks(execute=True):
        touchpoint_bulk_create(rows=[{"contact": contact.pk, "kind": "call"}])
        admin_api.post(f"/api/v1/webhooks/{subscription.pk}/ping/")
    assert receiver.requests == []
    assert list(WebhookDelivery.objects.values_list("status", flat=True)) == [DeliveryStatus.SKIPPED]


@LOCAL
def test_touchpoint_batches_go_in_deliveries_of_100(receiver, django_capture_on_commit_callbacks):
    webhook_subscription_create(name="s", url=receiver.url, events=["touchpoint.created"])
    contact = ContactFactory()
    with django_capture_on_commit_callbacks(execute=True):
        touchpoint_bulk_create(rows=[{"contact": contact.pk, "kind": "site_visit"} for _ in range(250)])
    assert sorted(len(r.json["data"]["touchpoints"]) for r in receiver.requests) == [50, 100, 100]


@LOCAL
def test_events_nobody_subscribed_to_create_no_deliveries(receiver, django_capture_on_commit_callbacks):
    # (Not contact.stage_changed: the call below may move the contact to engagement.)
    webhook_subscription_create(name="s", url=receiver.url, events=["contact.created"])
    contact = ContactFactory()
    with django_capture_on_commit_callbacks(execute=True):
        touchpoint_bulk_create(rows=[{"contact": contact.pk, "kind": "call"}])
    assert not WebhookDelivery.objects.exists() and receiver.requests == []


def test_unknown_events_and_empty_lists_are_400(admin_api):
    for events in ([], ["contact.exploded"], "contact.created"):
        response = admin_api.post(
            "/api/v1/webhooks/", {"name": "x", "url": "https://example.com/h", "events": events}, format="json"
        )
        assert response.status_code == 400
    assert not WebhookSubscription.objects.exists()


@LOCAL
def test_stale_pending_deliveries_are_requeued_and_delivered(receiver, django_capture_on_commit_callbacks):
    import datetime as dt

    from django.utils import timezone

    from webhooks.services import webhook_requeue_stale

    subscription, _ = webhook_subscription_create(name="s", url=receiver.url, events=["contact.created"])
    old = WebhookDelivery.objects.create(
        subscription=subscription,
        event="contact.created",
        payload={"id": "x", "type": "contact.created", "data": {"contacts": []}},
        created_at=timezone.now() - dt.timedelta(hours=1),
    )
    fresh = WebhookDelivery.objects.create(subscription=subscription, event="contact.created", payload={})
    with django_capture_on_commit_callbacks(execute=True):  # the requeued deliveries are outbox rows
        assert webhook_requeue_stale() == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.status == DeliveryStatus.SUCCEEDED and len(receiver.requests) == 1
    assert fresh.status == DeliveryStatus.PENDING
