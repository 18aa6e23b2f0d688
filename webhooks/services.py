"""Webhook writes: subscriptions, and the fan-out of an event into deliveries.

Signing and target checks live in webhooks.targets, the signed HTTP POST in webhooks.delivery.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import uuid
from collections.abc import Sequence
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from contacts.models import Contact, Touchpoint
from stages.models import StageTransition
from webhooks.delivery import ACTIVE_EVENTS_CACHE_KEY, _iso
from webhooks.loyalty_events import redemptions_data, referrals_data, tier_changes_data
from webhooks.models import (
    SUBSCRIBABLE_EVENTS,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from webhooks.signals import deliveries_due
from webhooks.targets import webhook_url_clean

logger = logging.getLogger(__name__)

OBJECTS_PER_DELIVERY = 100


def _events_clean(events: Any) -> list[str]:
    if not isinstance(events, list) or not events:
        raise ValidationError({"events": f"A non-empty list of events from: {', '.join(SUBSCRIBABLE_EVENTS)}."})
    unknown = [e for e in events if e not in SUBSCRIBABLE_EVENTS]
    if unknown:
        raise ValidationError({"events": f"Unknown event(s): {', '.join(map(str, unknown))}."})
    return sorted(set(events))


# --- subscriptions ---------------------------------------------------------------------------


def _active_events_forget() -> None:
    # Now, and again after commit: another process may re-cache the old set in between.
    cache.delete(ACTIVE_EVENTS_CACHE_KEY)
    transaction.on_commit(lambda: cache.delete(ACTIVE_EVENTS_CACHE_KEY))


def webhook_active_events() -> set[str]:
    """Events some active subscription listens to (cached for a minute, dropped on every subscription change).

    Signal receivers ask this before enqueueing anything, so ingestion pays nothing for
    events nobody subscribed to.
    """
    events = cache.get(ACTIVE_EVENTS_CACHE_KEY)
    if events is None:
        events = set()
        for subscribed in WebhookSubscription.objects.filter(is_active=True).values_list("events", flat=True):
            events.update(subscribed or [])
        cache.set(ACTIVE_EVENTS_CACHE_KEY, events, 60)
    return set(events)


@transaction.atomic
def webhook_subscription_create(
    *, name: str, url: str, events: list[str], created_by: Any = None
) -> tuple[WebhookSubscription, str]:
    """Create a subscription with a new random secret; returns it with the secret (show it once)."""
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name or len(name) > 100:
        raise ValidationError({"name": "A name of 1 to 100 characters."})
    secret = f"whsec_{secrets.token_urlsafe(32)}"
    subscription = WebhookSubscription.objects.create(
        name=name,
        url=webhook_url_clean(url),
        events=_events_clean(events),
        secret=secret,
        created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
    )
    _active_events_forget()
    return subscription, secret


@transaction.atomic
def webhook_subscription_update(*, subscription: WebhookSubscription, data: dict[str, Any]) -> WebhookSubscription:
    """Change name, URL, events or is_active. Re-enabling clears the failure count and the disable reason."""
    if "name" in data:
        name = (data["name"] or "").strip() if isinstance(data["name"], str) else ""
        if not name or len(name) > 100:
            raise ValidationError({"name": "A name of 1 to 100 characters."})
        subscription.name = name
    if "url" in data:
        subscription.url = webhook_url_clean(data["url"])
    if "events" in data:
        subscription.events = _events_clean(data["events"])
    if "is_active" in data:
        active = bool(data["is_active"])
        if active and not subscription.is_active:
            subscription.consecutive_failures = 0
            subscription.disabled_at = None
            subscription.disabled_reason = ""
        elif not active and subscription.is_active:
            subscription.disabled_at = timezone.now()
            subscription.disabled_reason = "Disabled by hand."
        subscription.is_active = active
    subscription.save()
    _active_events_forget()
    return subscription


def webhook_subscription_delete(*, subscription: WebhookSubscription) -> None:
    subscription.delete()
    _active_events_forget()


# --- events ----------------------------------------------------------------------------------


def _contacts_data(contact_ids: Sequence[int]) -> list[dict[str, Any]]:
    rows = Contact.objects.filter(pk__in=contact_ids).select_related("stage").order_by("id")
    return [
        {
            "id": c.pk,
            "email": c.email,
            "external_id": c.external_id,
            "first_name": c.first_name,
            "last_name": c.last_name,
            "owner": c.owner_id,
            "stage": c.stage.slug,
            "stage_entered_at": _iso(c.stage_entered_at),
            "created_at": _iso(c.created_at),
        }
        for c in rows
    ]


def _touchpoints_data(touchpoint_ids: Sequence[int]) -> list[dict[str, Any]]:
    rows = Touchpoint.objects.filter(pk__in=touchpoint_ids).select_related("contact").order_by("id")
    return [
        {
            "id": t.pk,
            "contact": t.contact_id,
            "contact_external_id": t.contact.external_id,
            "contact_email": t.contact.email,
            "kind": t.kind,
            "channel": t.channel,
            "occurred_at": _iso(t.occurred_at),
            "amount": None if t.amount is None else str(t.amount),
            "score": t.score,
            "campaign": t.campaign_id,
            "source": t.source,
            "external_id": t.external_id,
        }
        for t in rows
    ]


def _transitions_data(transition_ids: Sequence[int]) -> list[dict[str, Any]]:
    rows = (
        StageTransition.objects.filter(pk__in=transition_ids)
        .select_related("contact", "from_stage", "to_stage")
        .order_by("id")
    )
    return [
        {
            "id": t.pk,
            "contact": {"id": t.contact_id, "email": t.contact.email, "external_id": t.contact.external_id},
            "from_stage": t.from_stage.slug if t.from_stage else None,
            "to_stage": t.to_stage.slug,
            "effective_at": _iso(t.effective_at),
            "source": t.source,
            "is_win_back": t.is_win_back,
            "note": t.note,
        }
        for t in rows
    ]


BUILDERS = {
    WebhookEvent.CONTACT_CREATED: ("contacts", _contacts_data),
    WebhookEvent.TOUCHPOINT_CREATED: ("touchpoints", _touchpoints_data),
    WebhookEvent.CONTACT_STAGE_CHANGED: ("transitions", _transitions_data),
    WebhookEvent.LOYALTY_TIER_CHANGED: ("tier_changes", tier_changes_data),
    WebhookEvent.LOYALTY_REWARD_REDEEMED: ("redemptions", redemptions_data),
    WebhookEvent.LOYALTY_REFERRAL_CONVERTED: ("referrals", referrals_data),
}


def webhook_event_publish(*, event: str, object_ids: Sequence[int]) -> list[int]:
    """Turn an event about some objects into deliveries for every active subscription to it; returns their ids.

    Objects go in chunks of 100 per delivery (`data.<objects>` is a list), so a batch of
    1,000 touchpoints is ten POSTs per subscriber, not a thousand. Each delivery is
    enqueued after commit (outbox). A delivery's event id derives from (event, subscription,
    its objects), so the same event announced twice (a task handed out again after a crash, a
    republished outbox row) makes no second delivery, and receivers see one stable id.
    """
    if event not in BUILDERS:
        raise ValidationError({"event": f"Unknown event {event!r}."})
    subscriptions = [s for s in WebhookSubscription.objects.filter(is_active=True) if event in (s.events or [])]
    if not subscriptions or not object_ids:
        return []
    key, build = BUILDERS[event]
    ids = sorted(set(object_ids))
    deliveries: list[WebhookDelivery] = []
    now = timezone.now()
    for start in range(0, len(ids), OBJECTS_PER_DELIVERY):
        objects = build(ids[start : start + OBJECTS_PER_DELIVERY])
        if not objects:
            continue
        for subscription in subscriptions:
            chunk = ",".join(str(pk) for pk in ids[start : start + OBJECTS_PER_DELIVERY])
            delivery = WebhookDelivery(
                subscription=subscription,
                event=event,
                created_at=now,
                payload={},
                event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"crm-webhook:{event}/{subscription.pk}/{chunk}"),
            )
            delivery.payload = {
                "id": str(delivery.event_id),
                "type": event,
                "created_at": _iso(now),
                "data": {key: objects},
            }
            deliveries.append(delivery)
    made = set(
        WebhookDelivery.objects.filter(event_id__in=[d.event_id for d in deliveries]).values_list("event_id", flat=True)
    )
    deliveries = [d for d in deliveries if d.event_id not in made]
    with transaction.atomic():
        WebhookDelivery.objects.bulk_create(deliveries, batch_size=500)
        delivery_ids = [d.pk for d in deliveries]
        _enqueue(delivery_ids)
    return delivery_ids


@transaction.atomic
def webhook_ping(*, subscription: WebhookSubscription) -> WebhookDelivery:
    """Queue a `ping` delivery to check an endpoint and its signature verification."""
    delivery = WebhookDelivery(subscription=subscription, event=WebhookEvent.PING, payload={})
    delivery.payload = {
        "id": str(delivery.event_id),
        "type": WebhookEvent.PING,
        "created_at": _iso(timezone.now()),
        "data": {"subscription": subscription.pk},
    }
    delivery.save()
    _enqueue([delivery.pk])
    return delivery


def _enqueue(delivery_ids: list[int]) -> None:
    """Announce deliveries due now, in the caller's transaction: one outbox event each (webhooks.receivers)."""
    # webhooks.receivers enqueues the delivery tasks (this module never imports webhooks.tasks,
    # whose tasks import it).
    deliveries_due.send(sender=WebhookDelivery, delivery_ids=list(delivery_ids))


def webhook_requeue_stale(*, older_than: dt.timedelta = dt.timedelta(minutes=10), limit: int = 1000) -> int:
    """Enqueue again deliveries that should have been attempted long ago; returns how many.

    A delivery stays `pending` when the broker was down as it was queued, and a `retrying`
    one is lost if its scheduled retry message is. Run by beat every 10 minutes. Delivery is
    at least once: a receiver drops repeats by `X-CRM-Delivery`.
    """
    cutoff = timezone.now() - older_than
    stale = list(
        WebhookDelivery.objects.filter(
            Q(status=DeliveryStatus.PENDING, created_at__lt=cutoff)
            | Q(status=DeliveryStatus.RETRYING, next_attempt_at__lt=cutoff)
        )
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    _enqueue(stale)
    return len(stale)
